#!/usr/bin/env python3
"""Regenerates the k-quant encoder vectors that `crates/quant/tests/k_quantize/mod.rs` checks
byte for byte against llama.cpp's reference quantizers.

    pip install numpy
    python crates/quant/tests/data/make_k_vectors.py /path/to/llama.cpp

The `gguf` package has no k-quant encoders, so this script compiles GGML's own C: it writes a
small harness (below) that calls `quantize_row_q4_K_ref`, `quantize_row_q5_K_ref` and
`quantize_row_q6_K_ref` from the checkout's `ggml/src/ggml-quants.c`, builds it with gcc in a
temporary directory (nothing of llama.cpp is copied here) and writes, next to itself:

    quant_k_blocks.f32   the input: 256-value blocks, little-endian f32 (zeros, constants,
                         tiny, huge, ties, mixed sub-block magnitudes, then Gaussian blocks)
    quant_Q4_K.bin       quantize_row_q4_K_ref of it
    quant_Q5_K.bin       quantize_row_q5_K_ref of it
    quant_Q6_K.bin       quantize_row_q6_K_ref of it
    k_quantize.json      seed, numpy version, llama.cpp commit, ggml-quants.c's sha256, the
                         compiler, and what each input block is

The vectors in the repository were made from the llama.cpp that llama-cpp-python 0.3.36 vendors
(`pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36`, `vendor/llama.cpp`, commit
0c1e57098bba43ac29e6e3b677cdceebdd22334f, ggml 0.25) with gcc on x86-64. The build flags match a
default llama.cpp build of `ggml-base` on x86-64: optimized, `NDEBUG`, no `-march`, so no fused
multiply-add; `-ffp-contract=off` makes sure of it (an FMA build, such as the default on
aarch64, rounds differently and would not match). The input is drawn from one fixed seed, so a
rerun with the same numpy and llama.cpp rewrites identical files.
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

SEED = 0x4B5F_0A11
HERE = os.path.dirname(os.path.abspath(__file__))
QK_K = 256
N_GAUSSIAN = 40

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include "ggml.h"
#include "ggml-quants.h"

/* in.f32 out_q4_K out_q5_K out_q6_K: quantizes the whole input as one row per format. */
int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: in.f32 q4_K q5_K q6_K\n"); return 2; }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    int64_t n = size / 4;
    float *x = malloc(size);
    if (n % 256 != 0 || fread(x, 4, n, f) != (size_t)n) { fprintf(stderr, "bad input\n"); return 1; }
    fclose(f);
    void *out = malloc(n); /* at most 210 bytes per 256 values */
    const size_t block_bytes[3] = {144, 176, 210};
    for (int t = 0; t < 3; t++) {
        if (t == 0) quantize_row_q4_K_ref(x, out, n);
        if (t == 1) quantize_row_q5_K_ref(x, out, n);
        if (t == 2) quantize_row_q6_K_ref(x, out, n);
        FILE *g = fopen(argv[2 + t], "wb");
        if (!g || fwrite(out, 1, n / 256 * block_bytes[t], g) != n / 256 * block_bytes[t]) return 1;
        fclose(g);
    }
    return 0;
}

/* Other functions in ggml-quants.c (row validation, the importance-matrix quantizers) call
   these from ggml.c; the reference quantizers never do, so aborting stubs stand in. */
void ggml_abort(const char *file, int line, const char *fmt, ...) {
    (void)fmt; fprintf(stderr, "ggml_abort %s:%d\n", file, line); abort();
}
size_t ggml_row_size(enum ggml_type type, int64_t ne) { (void)type; (void)ne; abort(); }
const char *ggml_type_name(enum ggml_type type) { (void)type; abort(); }
size_t ggml_type_size(enum ggml_type type) { (void)type; abort(); }
"""

CFLAGS = ["-O2", "-std=gnu11", "-DNDEBUG", "-ffp-contract=off"]


def special_blocks(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """Blocks that reach the encoders' corners, each with a name for the manifest."""
    normal = lambda scale=1.0: rng.standard_normal(QK_K) * scale  # noqa: E731
    blocks = [
        ("zeros", np.zeros(QK_K)),
        ("negative zeros", np.full(QK_K, -0.0)),
        ("constant 3", np.full(QK_K, 3.0)),
        ("constant -0.7", np.full(QK_K, -0.7)),
    ]
    one = np.zeros(QK_K)
    one[77] = 2.5
    blocks.append(("one non-zero value", one))
    blocks += [
        ("tiny 1e-20 (f16 scales underflow to 0)", normal(1e-20)),
        ("below Q6_K's 1e-15 threshold", normal(1e-16)),
        ("f16-subnormal scales 1e-6", normal(1e-6)),
        ("large 3e4", normal(3e4)),
        ("beyond f16 1e6 (scales overflow to inf)", normal(1e6)),
        ("all positive, uniform 1..2", rng.uniform(1.0, 2.0, QK_K)),
        ("all negative, uniform -2..-1", rng.uniform(-2.0, -1.0, QK_K)),
        ("Gaussian + 10", normal() + 10.0),
        ("uniform -1..1", rng.uniform(-1.0, 1.0, QK_K)),
        ("Laplace", rng.laplace(0.0, 1.0, QK_K)),
        ("integer grid -8..7 (rounding ties)", np.tile(np.arange(-8, 8), QK_K // 16)),
        ("half-integers 0.5..15.5 (rounding ties)", np.arange(QK_K) % 16 + 0.5),
        ("integers 0..31", np.arange(QK_K) % 32),
    ]
    # one sub-block of 32 (two of 16) all zero inside a Gaussian block
    hole = normal()
    hole[96:128] = 0.0
    blocks.append(("Gaussian with a zero sub-block", hole))
    sparse = np.zeros(QK_K)
    sparse[rng.choice(QK_K, 8, replace=False)] = rng.standard_normal(8) * 4.0
    blocks.append(("sparse: 8 non-zeros", sparse))
    outlier = normal()
    outlier[200] = 100.0
    blocks.append(("Gaussian with one outlier 100", outlier))
    # every 16-value sub-block a different magnitude, 1e-3 .. 1e3 (small scales round to 0)
    mags = np.repeat(10.0 ** np.linspace(-3.0, 3.0, QK_K // 16), 16)
    blocks.append(("sub-block magnitudes 1e-3..1e3", normal() * mags))
    blocks.append(("sub-block magnitudes 1e3..1e-3", normal() * mags[::-1]))
    mags = np.repeat(10.0 ** rng.uniform(-1.0, 1.0, QK_K // 32), 32)
    blocks.append(("sub-block magnitudes 0.1..10, random", normal() * mags))
    return blocks


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} /path/to/llama.cpp")
    ggml = os.path.join(os.path.abspath(sys.argv[1]), "ggml")
    quants_c = os.path.join(ggml, "src", "ggml-quants.c")
    rng = np.random.default_rng(SEED)

    blocks = special_blocks(rng)
    for i in range(N_GAUSSIAN):
        scale = 10.0 ** rng.uniform(-3.0, 3.0)
        blocks.append((f"Gaussian, sigma {scale:.3g}", rng.standard_normal(QK_K) * scale))
    x = np.concatenate([b for _, b in blocks]).astype("<f4")

    with tempfile.TemporaryDirectory() as tmp:
        harness = os.path.join(tmp, "harness.c")
        with open(harness, "w") as f:
            f.write(HARNESS)
        exe = os.path.join(tmp, "harness")
        includes = ["-I", os.path.join(ggml, "include"), "-I", os.path.join(ggml, "src")]
        subprocess.run(["gcc", *CFLAGS, *includes, harness, quants_c, "-lm", "-o", exe], check=True)
        x.tofile(os.path.join(HERE, "quant_k_blocks.f32"))
        outs = [os.path.join(HERE, f"quant_{t}.bin") for t in ("Q4_K", "Q5_K", "Q6_K")]
        subprocess.run([exe, os.path.join(HERE, "quant_k_blocks.f32"), *outs], check=True)

    def git(*args: str) -> str:
        r = subprocess.run(["git", "-C", sys.argv[1], *args], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else "unknown"

    with open(quants_c, "rb") as f:
        quants_sha = hashlib.sha256(f.read()).hexdigest()
    cc = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    manifest = {
        "seed": SEED,
        "numpy": np.__version__,
        "llama.cpp": {"commit": git("rev-parse", "HEAD"), "ggml-quants.c sha256": quants_sha},
        "compiler": cc,
        "cflags": " ".join(CFLAGS),
        "input": "quant_k_blocks.f32",
        "blocks": [name for name, _ in blocks],
    }
    with open(os.path.join(HERE, "k_quantize.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
