#!/usr/bin/env python3
"""Regenerates the GGML reference vectors that `crates/quant/tests/main.rs` checks bit for bit.

    pip install gguf numpy
    python crates/quant/tests/data/make_vectors.py

GGML's reference (de)quantizers are reproduced in numpy by the `gguf` package (`gguf.quants`).
For every format this script writes, next to itself:

    dequant_<TYPE>.bin   raw blocks (random bytes; f16 scale fields set to finite values)
    dequant_<TYPE>.f32   gguf.quants.dequantize of them, little-endian f32
    quant_<TYPE>.bin     gguf.quants.quantize of quant_blocks.f32 (Q8_0, Q4_0, Q4_1), of
                         quant_blocks_q5.f32 (Q5_0, Q5_1) or of quant_floats.f32 (F16, BF16)
    quant_blocks.f32     the f32 rows quantized to Q8_0 / Q4_0 / Q4_1, little-endian
    quant_blocks_q5.f32  quant_blocks.f32 plus blocks near Q5_0's and Q5_1's rounding boundaries
    quant_floats.f32     the f32 values quantized to F16 / BF16 (holds NaNs, infinities, ties)
    manifest.json        seed, package versions, element and block counts

Everything is drawn from one fixed seed, so a rerun with the same gguf and numpy versions
rewrites identical files. Formats added later draw after everything else (NEW_F16_FIELDS), so
adding one leaves the files of the others as they were.
"""

import json
import os
from importlib.metadata import version

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize, quantize

SEED = 0x5EED_6B1F
HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(SEED)

# Elements per vector: 4096 (128 blocks of 32), and 64 blocks of 256 for the k-quants.
N_ELEMENTS = 4096
N_K_BLOCKS = 64

# Byte offsets of the f16 scale fields inside one block, per format.
F16_FIELDS = {
    T.Q8_0: [0],  # d, qs[32]
    T.Q4_0: [0],  # d, qs[16]
    T.Q4_1: [0, 2],  # d, m, qs[16]
    T.Q4_K: [0, 2],  # d, dmin, scales[12], qs[128]
    T.Q5_K: [0, 2],  # d, dmin, scales[12], qh[32], qs[128]
    T.Q6_K: [208],  # ql[128], qh[64], scales[16], d
}

# The same for the formats added later, whose blocks are drawn last.
NEW_F16_FIELDS = {
    T.Q5_0: [0],  # d, qh[4], qs[16]
    T.Q5_1: [0, 2],  # d, m, qh[4], qs[16]
    T.Q2_K: [80, 82],  # scales[16], qs[64], d, dmin (the f16 fields come last)
    T.Q3_K: [108],  # hmask[32], qs[64], scales[12], d
    T.IQ4_NL: [0],  # d, qs[16]
    T.IQ4_XS: [0],  # d, scales_h (u16), scales_l[4], qs[128]
}

# Scale values every vector starts with: zeros of both signs, the smallest and largest f16
# subnormals, the smallest normal, one, and the largest finite f16 (all outputs stay finite).
SPECIAL_SCALES = np.array(
    [0.0, -0.0, 2.0**-24, -(2.0**-24), 2.0**-14 - 2.0**-24, 2.0**-14, 1.0, -1.0, 65504.0, -65504.0],
    dtype=np.float16,
)


def write(name: str, array: np.ndarray) -> None:
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(array.tobytes())


def random_scales(n: int) -> np.ndarray:
    """n finite f16 values of both signs over a wide range of magnitudes, specials first."""
    values = rng.uniform(-1.0, 1.0, n) * 2.0 ** rng.integers(-16, 8, n)
    scales = values.astype(np.float16)
    k = min(n, len(SPECIAL_SCALES))
    scales[:k] = SPECIAL_SCALES[:k]
    return scales


def quant_blocks(qtype: T) -> np.ndarray:
    """Random blocks of a block format whose f16 fields hold finite values."""
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    n_blocks = N_K_BLOCKS if block_size == 256 else N_ELEMENTS // block_size
    blocks = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for i, offset in enumerate({**F16_FIELDS, **NEW_F16_FIELDS}[qtype]):
        scales = random_scales(n_blocks)
        if i > 0:
            # the second field (m or dmin) walks the specials in another order
            scales = np.roll(scales, 3)
        blocks[:, offset : offset + 2] = scales.view(np.uint8).reshape(n_blocks, 2)
    return blocks


def float_bits(qtype: T) -> np.ndarray:
    """Random raw elements of F32 / F16 / BF16 as bytes."""
    if qtype == T.F32:
        bits = rng.integers(0, 2**32, size=N_ELEMENTS, dtype=np.uint32)
        # include NaNs with payloads, infinities, zeros and subnormals
        bits[:8] = [0x7FC00000, 0xFFC00001, 0x7F800001, 0x7F800000, 0xFF800000, 0x00000000, 0x80000000, 0x00000001]
        return bits.view(np.uint8)
    bits = rng.integers(0, 2**16, size=N_ELEMENTS, dtype=np.uint16)
    if qtype == T.F16:
        # no NaNs: how a NaN's payload survives the f16 -> f32 widening is not specified
        # (GGML's F16C path and its scalar path differ); infinities and subnormals stay
        nan = ((bits & 0x7C00) == 0x7C00) & ((bits & 0x03FF) != 0)
        bits[nan] &= 0x83FF
        bits[:6] = [0x7C00, 0xFC00, 0x0000, 0x8000, 0x0001, 0x83FF]
    else:
        bits[:6] = [0x7F80, 0xFF80, 0x7FC0, 0xFF81, 0x0001, 0x8000]
    return bits.view(np.uint8)


def quantize_input() -> np.ndarray:
    """f32 rows for Q8_0 / Q4_0 / Q4_1: random blocks at many scales, edge-case blocks, and
    blocks near each quantizer's rounding boundaries."""
    n_blocks = N_ELEMENTS // 32
    x = rng.standard_normal((n_blocks, 32)).astype(np.float32)
    x *= (10.0 ** rng.uniform(-4.0, 4.0, (n_blocks, 1))).astype(np.float32)
    ties = np.array([127.0, -127.0] + [s * (k + 0.5) for k in range(15) for s in (1, -1)], dtype=np.float32)
    specials = [
        np.zeros(32, np.float32),  # all zero: d = 0, id = 0
        np.full(32, 1.5, np.float32),  # constant: Q4_1's d = 0
        np.full(32, -2.25, np.float32),
        ties,  # Q8_0 with d = 1: exact .5 ties round away from zero
        ties[::-1].copy(),
        np.array([-3.0, 3.0] * 16, np.float32),  # |max| tie: the first one wins
        np.array([3.0, -3.0] * 16, np.float32),
        (rng.standard_normal(32) * 1e-7).astype(np.float32),  # d underflows f16
        (rng.standard_normal(32) * 1e7).astype(np.float32),  # d overflows f16 to inf
        np.linspace(-1.0, 1.0, 32, dtype=np.float32),
        np.linspace(0.0, 15.0, 32, dtype=np.float32),  # Q4_1: values on the grid
    ]
    for i, block in enumerate(specials):
        x[i] = block
    return np.concatenate([x, near_ties(64, "q8_0"), near_ties(64, "q4_0"), near_ties(64, "q4_1")]).reshape(-1)


def near_ties(n: int, kind: str) -> np.ndarray:
    """Blocks whose scaled values sit within a few ulps of a rounding boundary of `kind`'s
    quantizer, where computing `x * (1 / d)` (GGML) instead of `x / d` changes codes."""
    blocks = np.empty((n, 32), np.float32)
    for b in range(n):
        a = np.float32(10.0 ** rng.uniform(-3.0, 3.0)) * np.float32(rng.choice([-1.0, 1.0]))
        if kind == "q5_0":  # x * id + 16.5 near an integer, with d = a / -16
            d = a / np.float32(-16)
            t = (rng.integers(1, 32, 31) - np.float32(16.5)).astype(np.float32) * d
            block = np.concatenate([[a], t])
        elif kind == "q5_1":  # (x - min) * id + 0.5 near an integer, with d = (max - min) / 31
            lo, hi = np.float32(-abs(a) * rng.uniform(0.0, 1.0)), np.float32(abs(a))
            d = (hi - lo) / np.float32(31)
            t = lo + (rng.integers(0, 31, 30) + np.float32(0.5)).astype(np.float32) * d
            block = np.concatenate([[lo, hi], np.clip(t, lo, hi)])
        elif kind == "q8_0":  # x * id near k + 0.5, with d = |a| / 127
            d = np.float32(abs(a)) / np.float32(127)
            t = (rng.integers(-127, 127, 31) + np.float32(0.5)).astype(np.float32) * d
            block = np.concatenate([[a], t])
        elif kind == "q4_0":  # x * id + 8.5 near an integer, with d = a / -8
            d = a / np.float32(-8)
            t = (rng.integers(1, 16, 31) - np.float32(8.5)).astype(np.float32) * d
            block = np.concatenate([[a], t])
        else:  # (x - min) * id + 0.5 near an integer, with d = (max - min) / 15
            lo, hi = np.float32(-abs(a) * rng.uniform(0.0, 1.0)), np.float32(abs(a))
            d = (hi - lo) / np.float32(15)
            t = lo + (rng.integers(0, 15, 30) + np.float32(0.5)).astype(np.float32) * d
            block = np.concatenate([[lo, hi], np.clip(t, lo, hi)])
        block = block.astype(np.float32)
        # nudge all but the values that fix the scale by up to 3 ulps either way
        fixed = 2 if kind in ("q4_1", "q5_1") else 1
        bits = block.view(np.int32)
        bits[fixed:] += rng.integers(-3, 4, 32 - fixed).astype(np.int32)
        blocks[b] = bits.view(np.float32)
    return blocks


def float_input() -> np.ndarray:
    """f32 values for F16 / BF16: random magnitudes plus rounding ties, overflow, NaNs."""
    x = rng.standard_normal(N_ELEMENTS).astype(np.float32)
    x *= (10.0 ** rng.uniform(-9.0, 9.0, N_ELEMENTS)).astype(np.float32)
    bits = x.view(np.uint32)
    specials = np.array(
        [
            0x00000000, 0x80000000, 0x7F800000, 0xFF800000,  # zeros, infinities
            0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FA00001, 0xFF812345,  # NaNs (quiet, signalling)
            0x3F801000, 0x3F803000, 0x3F800800, 0x3F801800,  # f16 ties: 1 + 2^-11, 1 + 3*2^-11, ...
            0x3F808000, 0x3F818000, 0x3F80C000,  # bf16 ties: 1 + 2^-8, 1 + 3*2^-8, above a tie
            0x477FE000, 0x477FEFFF, 0x477FF000,  # 65504, just below 65520, 65520 (-> inf in f16)
            0x7F7FFFFF, 0xFF7FFFFF,  # largest f32: inf in f16 and bf16
            0x33800000, 0x33000000, 0x33000001, 0x387FC000,  # f16 subnormal range and its ties
            0x00000001, 0x807FFFFF,  # f32 subnormals
        ],
        dtype=np.uint32,
    )
    bits[: len(specials)] = specials
    return bits.view(np.float32)


def main() -> None:
    manifest = {
        "seed": SEED,
        "gguf": version("gguf"),
        "numpy": np.__version__,
        "dequantize": {},
        "quantize": {},
    }
    with np.errstate(all="ignore"):
        for qtype in [T.F32, T.F16, T.BF16]:
            raw = float_bits(qtype)
            out = np.asarray(dequantize(raw, qtype), dtype="<f4")
            write(f"dequant_{qtype.name}.bin", raw)
            write(f"dequant_{qtype.name}.f32", out)
            manifest["dequantize"][qtype.name] = {"elements": int(out.size), "bytes": int(raw.size)}
        for qtype in F16_FIELDS:
            raw = quant_blocks(qtype)
            out = np.asarray(dequantize(raw, qtype), dtype="<f4").reshape(-1)
            assert np.isfinite(out).all(), qtype.name
            write(f"dequant_{qtype.name}.bin", raw)
            write(f"dequant_{qtype.name}.f32", out)
            manifest["dequantize"][qtype.name] = {"elements": int(out.size), "blocks": int(raw.shape[0])}

        rows = quantize_input()
        write("quant_blocks.f32", rows.astype("<f4"))
        for qtype in [T.Q8_0, T.Q4_0, T.Q4_1]:
            q = quantize(rows.reshape(1, -1), qtype)
            write(f"quant_{qtype.name}.bin", q.view(np.uint8).reshape(-1))
            manifest["quantize"][qtype.name] = {"input": "quant_blocks.f32", "elements": int(rows.size)}

        floats = float_input()
        write("quant_floats.f32", floats.astype("<f4"))
        for qtype in [T.F16, T.BF16]:
            q = quantize(floats, qtype)
            write(f"quant_{qtype.name}.bin", np.ascontiguousarray(q).view(np.uint8).reshape(-1))
            manifest["quantize"][qtype.name] = {"input": "quant_floats.f32", "elements": int(floats.size)}

        # formats added later: drawn last, so the files above stay as they were
        for qtype in NEW_F16_FIELDS:
            raw = quant_blocks(qtype)
            out = np.asarray(dequantize(raw, qtype), dtype="<f4").reshape(-1)
            assert np.isfinite(out).all(), qtype.name
            write(f"dequant_{qtype.name}.bin", raw)
            write(f"dequant_{qtype.name}.f32", out)
            manifest["dequantize"][qtype.name] = {"elements": int(out.size), "blocks": int(raw.shape[0])}

        rows5 = np.concatenate([rows, near_ties(64, "q5_0").reshape(-1), near_ties(64, "q5_1").reshape(-1)])
        write("quant_blocks_q5.f32", rows5.astype("<f4"))
        for qtype in [T.Q5_0, T.Q5_1]:
            q = quantize(rows5.reshape(1, -1), qtype)
            write(f"quant_{qtype.name}.bin", q.view(np.uint8).reshape(-1))
            manifest["quantize"][qtype.name] = {"input": "quant_blocks_q5.f32", "elements": int(rows5.size)}

    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
