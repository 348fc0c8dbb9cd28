#!/usr/bin/env python3
"""Float64 reference of what llama2.c's `run.c` computes for a llama2.c fp32 checkpoint, written
independently of the Rust code, for the Rust tests to compare against.

Checkpoint: stories260K from the shared data (`$CLAUDE_RUST_DATA/models/stories260K/
stories260K.bin`, else the nearest `shared/data` above this file). Output:
`stories260k_reference.json` beside this script.

    pip install numpy
    python3 crates/core/tests/data/reference/llama2c_reference.py [--out PATH]

The file format and the forward pass follow karpathy/llama2.c `run.c` (commit 350e04f, see
README.md beside this file for line numbers), element for element:

* header: 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len); a
  negative vocab_size means an unshared classifier `wcls` follows; |vocab_size| is the vocab.
* then float32: token_embedding_table [vocab, dim], rms_att_weight [L, dim], wq [L, dim, dim],
  wk [L, kv_dim, dim], wv [L, kv_dim, dim], wo [L, dim, dim], rms_ffn_weight [L, dim],
  w1 [L, hidden, dim], w2 [L, dim, hidden], w3 [L, hidden, dim], rms_final_weight [dim], two
  skipped arrays of seq_len * head_size/2 floats (old freq_cis_real/imag), then wcls [vocab, dim]
  if unshared, else wcls = token_embedding_table.
* matmul(xout, x, w, n, d): xout[i] = sum_j w[i*n + j] * x[j], i.e. W is row-major [d, n] and
  xout = W @ x.
* rmsnorm: o = w * (x / sqrt(mean(x^2) + 1e-5)).
* RoPE: for i = 0, 2, ..., dim-2: hd = i % head_size, freq = 1 / 10000^(hd / head_size),
  angle = pos * freq; rotate (q[i], q[i+1]) and, when i < kv_dim, (k[i], k[i+1]).
* attention: head h reads kv head h / kv_mul (kv_mul = n_heads / n_kv_heads), score
  q.k / sqrt(head_size) over t = 0..pos, softmax, weighted sum of v; wo; residual.
* FFN: w2(silu(w1 x) * w3 x) after rms_ffn; residual. Final rmsnorm; logits = wcls @ x.
* greedy: sample_argmax, first maximum (ties to the lower id). run.c stops generating when the
  sampled token is BOS (1); this script always generates 48 and records where run.c would stop.
"""

import argparse
import json
import os
import pathlib
import sys
import time

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
MODEL_REL = "models/stories260K/stories260K.bin"
N_GENERATE = 48
TIE_GAP = 1e-3
BOS = 1
RMS_EPS = 1e-5
ROPE_BASE = 10000.0


def find_data_dir() -> pathlib.Path:
    env = os.environ.get("CLAUDE_RUST_DATA")
    if env:
        return pathlib.Path(env)
    for parent in [HERE, *HERE.parents]:
        cand = parent / "shared" / "data"
        if cand.is_dir():
            return cand
    return pathlib.Path("../shared/data")


class Checkpoint:
    def __init__(self, path: pathlib.Path):
        raw = path.read_bytes()
        hdr = np.frombuffer(raw[:28], dtype="<i4")
        (self.dim, self.hidden_dim, self.n_layers, self.n_heads, self.n_kv_heads, vocab,
         self.seq_len) = (int(v) for v in hdr)
        self.raw_vocab_size = vocab
        self.shared = vocab > 0
        self.vocab_size = abs(vocab)
        self.head_size = self.dim // self.n_heads
        self.kv_dim = self.dim * self.n_kv_heads // self.n_heads
        self.kv_mul = self.n_heads // self.n_kv_heads
        f = np.frombuffer(raw[28:], dtype="<f4")
        off = 0

        def take(*shape):
            nonlocal off
            n = int(np.prod(shape))
            a = f[off:off + n].astype(np.float64).reshape(shape)
            off += n
            return a

        def mat(L, d, n):
            # run.c's matmul reads w[i*n + j]: row-major [d, n] (out, in).
            return take(L, d, n)

        D, Hd, L, KV, V = self.dim, self.hidden_dim, self.n_layers, self.kv_dim, self.vocab_size
        self.tok_emb = take(V, D)
        self.rms_att = take(L, D)
        self.wq = mat(L, D, D)
        self.wk = mat(L, KV, D)
        self.wv = mat(L, KV, D)
        self.wo = mat(L, D, D)
        self.rms_ffn = take(L, D)
        self.w1 = mat(L, Hd, D)
        self.w2 = mat(L, D, Hd)
        self.w3 = mat(L, Hd, D)
        self.rms_final = take(D)
        off += self.seq_len * self.head_size // 2  # freq_cis_real (unused)
        off += self.seq_len * self.head_size // 2  # freq_cis_imag (unused)
        self.wcls = self.tok_emb if self.shared else take(V, D)
        self.n_floats_read = off
        self.n_floats_file = f.size
        assert off == f.size, f"format mismatch: read {off} floats, file has {f.size}"


def rmsnorm(x, w):
    return w * (x / np.sqrt(np.mean(x * x) + RMS_EPS))


class RunC:
    """Token-at-a-time forward with a KV cache, as run.c's forward(transformer, token, pos)."""

    def __init__(self, ck: Checkpoint):
        self.c = ck
        self.key_cache = np.zeros((ck.n_layers, ck.seq_len, ck.kv_dim))
        self.value_cache = np.zeros((ck.n_layers, ck.seq_len, ck.kv_dim))
        i = np.arange(0, ck.dim, 2)
        self.freq = 1.0 / ROPE_BASE ** ((i % ck.head_size) / ck.head_size)  # per pair (i, i+1)
        self.pair = i

    def forward(self, token, pos):
        c = self.c
        hs = c.head_size
        x = c.tok_emb[token].copy()
        ang = pos * self.freq
        fcr, fci = np.cos(ang), np.sin(ang)
        for l in range(c.n_layers):
            xb = rmsnorm(x, c.rms_att[l])
            q = c.wq[l] @ xb
            k = c.wk[l] @ xb
            v = c.wv[l] @ xb
            # RoPE on adjacent pairs; k only where i < kv_dim.
            q0, q1 = q[0::2].copy(), q[1::2].copy()
            q[0::2] = q0 * fcr - q1 * fci
            q[1::2] = q0 * fci + q1 * fcr
            nk = c.kv_dim // 2
            k0, k1 = k[0::2].copy(), k[1::2].copy()
            k[0::2] = k0 * fcr[:nk] - k1 * fci[:nk]
            k[1::2] = k0 * fci[:nk] + k1 * fcr[:nk]
            self.key_cache[l, pos] = k
            self.value_cache[l, pos] = v
            K = self.key_cache[l, :pos + 1].reshape(pos + 1, c.n_kv_heads, hs)
            V = self.value_cache[l, :pos + 1].reshape(pos + 1, c.n_kv_heads, hs)
            qh = q.reshape(c.n_heads, hs)
            kvh = np.arange(c.n_heads) // c.kv_mul  # h / kv_mul
            att = np.einsum("hd,thd->ht", qh, K[:, kvh]) / np.sqrt(hs)  # [H, pos+1]
            att = np.exp(att - att.max(axis=1, keepdims=True))
            att /= att.sum(axis=1, keepdims=True)
            xb = np.einsum("ht,thd->hd", att, V[:, kvh]).reshape(c.dim)
            x = x + c.wo[l] @ xb
            xb = rmsnorm(x, c.rms_ffn[l])
            h1 = c.w1[l] @ xb
            h3 = c.w3[l] @ xb
            hb = h1 * (1.0 / (1.0 + np.exp(-h1))) * h3
            x = x + c.w2[l] @ hb
        x = rmsnorm(x, c.rms_final)
        return c.wcls @ x


def logsumexp(row):
    m = np.max(row)
    return float(m + np.log(np.sum(np.exp(row - m))))


def run_sequence(ck, ids, n_generate):
    rc = RunC(ck)
    rows = [rc.forward(t, p) for p, t in enumerate(ids)]
    lse = [logsumexp(r) for r in rows]
    nll = [lse[t - 1] - float(rows[t - 1][ids[t]]) for t in range(1, len(ids))]
    gen, gaps, last = [], [], rows[-1]
    pos = len(ids)
    for step in range(n_generate):
        nxt = int(np.argmax(last))  # sample_argmax: first maximum
        srt = np.sort(last)
        gen.append(nxt)
        gaps.append(float(srt[-1] - srt[-2]))
        if step + 1 < n_generate:
            last = rc.forward(nxt, pos)
            pos += 1
    return rows, lse, nll, gen, gaps


HARNESS_C = r"""
#define TESTING
#include "run.c"
/* harness CKPT ID...: run.c's forward() on each id at positions 0, 1, ...; one logits row a line */
int main(int argc, char** argv) {
    Transformer t;
    build_transformer(&t, argv[1]);
    int V = t.config.vocab_size;
    for (int p = 2; p < argc; p++) {
        float* lg = forward(&t, atoi(argv[p]), p - 2);
        for (int i = 0; i < V; i++) printf("%.9g%c", lg[i], i + 1 < V ? ' ' : '\n');
    }
    free_transformer(&t);
    return 0;
}
"""


def check_against_run_c(run_c: pathlib.Path, ckpt: pathlib.Path, seqs):
    """Teacher-force prompt + greedy tokens through the real run.c (f32) and compare."""
    import shutil
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(run_c, pathlib.Path(tmp) / "run.c")
        (pathlib.Path(tmp) / "harness.c").write_text(HARNESS_C)
        exe = pathlib.Path(tmp) / "harness"
        subprocess.run(["gcc", "-O2", "-o", str(exe), str(pathlib.Path(tmp) / "harness.c"),
                        "-lm"], check=True)
        report = {}
        for s in seqs:
            ids = s["tokens"] + s["greedy"]["tokens"][:-1]
            txt = subprocess.run([str(exe), str(ckpt)] + [str(i) for i in ids], check=True,
                                 capture_output=True, text=True).stdout
            c = np.array([[float(v) for v in line.split()] for line in txt.strip().split("\n")])
            n = s["n_tokens"]
            diff = float(np.max(np.abs(c[:n] - np.array(s["logits"]))))
            greedy_c = [int(np.argmax(c[n - 1 + j])) for j in range(s["greedy"]["n"])]
            same = greedy_c == s["greedy"]["tokens"]
            report[s["name"]] = {"max_abs_logit_diff_prompt": diff, "greedy_identical": same}
            print(f"run.c check [{s['name']}]: max |f32 run.c - f64 ref| = {diff:.3g} over the "
                  f"prompt; greedy identical: {same}", file=sys.stderr)
            assert diff < 1e-3 and same, s["name"]
        return report


def fixed_ids(seed, length, vocab):
    """Deterministic ids in [3, vocab) from the C-library LCG x <- (1103515245 x + 12345) mod 2^31,
    x0 = seed, id = 3 + (x >> 16) % (vocab - 3). Ids 0-2 are llama2.c's <unk>, <s>, </s>. The
    tokenizer file (tok512.bin) is not in the shared data, so ids are chosen, not encoded."""
    x, out = seed, []
    for _ in range(length):
        x = (1103515245 * x + 12345) % (1 << 31)
        out.append(3 + (x >> 16) % (vocab - 3))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(HERE / "stories260k_reference.json"))
    ap.add_argument("--check-runc", metavar="RUN_C",
                    help="path to a copy of llama2.c's run.c: compile a small harness around it "
                         "(in a temporary folder, with gcc) and compare its f32 logits and greedy "
                         "tokens with this reference")
    args = ap.parse_args()
    t_start = time.time()
    path = find_data_dir() / MODEL_REL
    ck = Checkpoint(path)
    V = ck.vocab_size

    # Seeds picked so that no greedy step has a top-2 gap under 1e-3 (where an f32
    # implementation may legitimately pick the other token); seed 2's continuation also samples
    # BOS, where run.c would stop.
    seqs = [
        ("bos_8", [BOS] + fixed_ids(3, 7, V)),
        ("plain_20", fixed_ids(5, 20, V)),
        ("plain_40", fixed_ids(2, 40, V)),
    ]
    out_seqs = []
    for name, ids in seqs:
        assert all(0 <= t < V for t in ids)
        rows, lse, nll, gen, gaps = run_sequence(ck, ids, N_GENERATE)
        close = [{"step": s, "top2_gap": g} for s, g in enumerate(gaps) if g < TIE_GAP]
        print(f"[{name}] n={len(ids)} mean NLL {np.mean(nll):.4f}; greedy {gen}; "
              f"min top2 gap {min(gaps):.3g}; close {close}", file=sys.stderr)
        out_seqs.append({
            "name": name,
            "starts_with_bos": ids[0] == BOS,
            "tokens": ids,
            "n_tokens": len(ids),
            "logits": [[float(v) for v in r] for r in rows],  # [n_tokens][vocab]
            "logsumexp": lse,
            "mean_nll": float(np.mean(nll)),
            "nll_per_position": nll,
            "greedy": {
                "n": N_GENERATE,
                "tokens": gen,
                "top2_gaps": gaps,
                "min_top2_gap": float(min(gaps)),
                "close_steps": close,
                "run_c_would_stop_at_step": gen.index(BOS) if BOS in gen else None,
            },
        })

    out = {
        "generator": "crates/core/tests/data/reference/llama2c_reference.py",
        "model_file": MODEL_REL,
        "model_bytes": path.stat().st_size,
        "header": {
            "dim": ck.dim, "hidden_dim": ck.hidden_dim, "n_layers": ck.n_layers,
            "n_heads": ck.n_heads, "n_kv_heads": ck.n_kv_heads,
            "vocab_size_raw": ck.raw_vocab_size, "vocab_size": ck.vocab_size,
            "seq_len": ck.seq_len,
        },
        "derived": {
            "shared_classifier": ck.shared, "head_size": ck.head_size, "kv_dim": ck.kv_dim,
            "kv_mul": ck.kv_mul, "floats_after_header": ck.n_floats_file,
        },
        "weight_probes": {
            "token_embedding_table[1][:8]": [float(v) for v in ck.tok_emb[1, :8]],
            "wq[0] row0[:8]": [float(v) for v in ck.wq[0, 0, :8]],
            "wk[0] row0[:8]": [float(v) for v in ck.wk[0, 0, :8]],
            "w1[0] row0[:8]": [float(v) for v in ck.w1[0, 0, :8]],
            "w2[0] row0[:8]": [float(v) for v in ck.w2[0, 0, :8]],
            "rms_final_weight[:8]": [float(v) for v in ck.rms_final[:8]],
        },
        "conventions": {
            "matmul": "xout[i] = sum_j w[i*n + j] x[j] (W row-major [out, in])",
            "rope": "adjacent pairs (i, i+1), freq = 10000^-((i % head_size)/head_size), "
                    "k rotated only for i < kv_dim",
            "gqa": "head h uses kv head h / kv_mul",
            "rms_eps": RMS_EPS,
            "greedy": "argmax, first maximum; always 48 tokens (run.c would stop at BOS)",
            "nll": "mean over t=1..n-1 of logsumexp(logits[t-1]) - logits[t-1][tokens[t]]",
            "fixed_ids": "x <- (1103515245 x + 12345) mod 2^31 from x0 = seed, id = 3 + (x >> 16) "
                         "% (vocab - 3); seeds 3, 5, 2; sequence 0 is BOS + 7 such ids",
        },
        "sequences": out_seqs,
    }
    if args.check_runc:
        out["checked_against_run_c"] = check_against_run_c(pathlib.Path(args.check_runc), path,
                                                           out_seqs)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {args.out} in {time.time() - t_start:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
