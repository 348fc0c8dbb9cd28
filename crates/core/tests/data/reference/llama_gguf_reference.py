#!/usr/bin/env python3
"""Float64 reference forward pass of a Llama-architecture GGUF model (what llama.cpp computes for
`general.architecture = llama`), written independently of the Rust code, for the Rust tests to
compare against.

Model: SmolLM2-135M-Instruct Q4_1 from the shared data
(`$CLAUDE_RUST_DATA/models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf`, else the
nearest `shared/data` above this file). Output: `smollm2_reference.json` beside this script.

    pip install gguf==0.19.0 numpy regex
    python3 crates/core/tests/data/reference/llama_gguf_reference.py [--out PATH]

Conventions (see README.md beside this file for the source lines they were checked against):

* Weights: the GGUF's quantized blocks are dequantized here, in float64, to the exact values the
  blocks encode (Q4_1: d*q + m, Q8_0: d*q, d and m f16), and cross-checked against
  `gguf.quants.dequantize` (float32). A GGUF tensor with dims [ne0, ne1] (innermost first) is a
  row-major numpy array [ne1, ne0] = [out_features, in_features]; y = x @ W.T.
* RMSNorm: y = x / sqrt(mean(x^2) + eps) * w, eps = `llama.attention.layer_norm_rms_epsilon` as
  stored (an f32: 9.999999747378752e-06).
* RoPE, llama.cpp NORM mode (LLAMA_ROPE_TYPE_NORM for LLM_ARCH_LLAMA): within each head, the
  ADJACENT pairs (x[2i], x[2i+1]), i < n_rot/2, are rotated by angle pos * base^(-2i/n_rot);
  dims >= n_rot (none here) pass through. base = `llama.rope.freq_base`, n_rot =
  `llama.rope.dimension_count`. Angles here are exact float64 (llama.cpp builds them in f32 as a
  running product of theta_scale = powf(base, -2/n_rot)).
* GQA: query head h reads KV head h // (n_head / n_head_kv) (consecutive query heads share).
* Attention: causal softmax of q.k / sqrt(head_dim); output projection `attn_output`; residual.
* FFN: ffn_down(silu(ffn_gate(x)) * ffn_up(x)) after `ffn_norm`; residual.
* Final `output_norm`, logits = x @ output.weight.T, or tied `token_embd.weight` when the file has
  no `output.weight` (this one has none).
"""

import argparse
import json
import math
import os
import pathlib
import sys
import time

# Single-threaded BLAS: deterministic sums and modest CPU use. Must precede the numpy import.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

import gguf  # noqa: E402
from gguf import GGMLQuantizationType as QT  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
MODEL_REL = "models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf"

N_GENERATE = 48
TOP_K = 20
N_PROBE_IDS = 64
TIE_GAP = 1e-3  # a greedy step whose top-2 logits are closer than this is flagged


def find_data_dir() -> pathlib.Path:
    env = os.environ.get("CLAUDE_RUST_DATA")
    if env:
        return pathlib.Path(env)
    for parent in [HERE, *HERE.parents]:
        cand = parent / "shared" / "data"
        if cand.is_dir():
            return cand
    return pathlib.Path("../shared/data")


# --------------------------------------------------------------------------------------------
# GGUF loading and float64 dequantization
# --------------------------------------------------------------------------------------------


def f16_to_f64(raw_u8: np.ndarray) -> np.ndarray:
    """[..., 2] little-endian uint8 -> float64 (exact)."""
    return np.ascontiguousarray(raw_u8).view("<f2").astype(np.float64)[..., 0]


def dequant_q4_1(raw: np.ndarray, n_cols: int) -> np.ndarray:
    """ggml block_q4_1: f16 d, f16 m, 16 bytes qs; element j (<16) = d*(qs[j]&15)+m,
    element j+16 = d*(qs[j]>>4)+m (ggml-quants.c dequantize_row_q4_1)."""
    rows = raw.shape[0]
    blocks = raw.reshape(rows, n_cols // 32, 20)
    d = f16_to_f64(blocks[:, :, 0:2])[..., None]
    m = f16_to_f64(blocks[:, :, 2:4])[..., None]
    qs = blocks[:, :, 4:20]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.float64)  # [rows, nb, 32]
    return (d * q + m).reshape(rows, n_cols)


def dequant_q8_0(raw: np.ndarray, n_cols: int) -> np.ndarray:
    """ggml block_q8_0: f16 d, 32 int8 qs; element j = d*qs[j]."""
    rows = raw.shape[0]
    blocks = raw.reshape(rows, n_cols // 32, 34)
    d = f16_to_f64(blocks[:, :, 0:2])[..., None]
    q = blocks[:, :, 2:34].view(np.int8).astype(np.float64)
    return (d * q).reshape(rows, n_cols)


class GGUFModel:
    def __init__(self, path: pathlib.Path):
        self.reader = gguf.GGUFReader(str(path))
        self.fields = self.reader.fields
        self.tensors = {t.name: t for t in self.reader.tensors}
        self.dequant_check = {}

    def meta(self, key, default=None):
        f = self.fields.get(key)
        return default if f is None else f.contents()

    def weight(self, name: str) -> np.ndarray:
        """Float64 array; 2-D tensors as [ne1, ne0] = [out_features, in_features]."""
        t = self.tensors[name]
        dims = [int(x) for x in t.shape]  # innermost first
        if t.tensor_type == QT.F32:
            arr = np.asarray(t.data, dtype=np.float32).astype(np.float64)
            return arr.reshape(tuple(reversed(dims)))
        assert len(dims) == 2, (name, dims)
        n_cols, n_rows = dims
        raw = np.asarray(t.data, dtype=np.uint8).reshape(n_rows, -1)
        if t.tensor_type == QT.Q4_1:
            w = dequant_q4_1(raw, n_cols)
        elif t.tensor_type == QT.Q8_0:
            w = dequant_q8_0(raw, n_cols)
        else:
            raise NotImplementedError(f"{name}: {t.tensor_type.name}")
        # Cross-check against the gguf package's own (float32) dequantizer.
        ref = gguf.quants.dequantize(raw, t.tensor_type).astype(np.float64)
        assert ref.shape == w.shape, (name, ref.shape, w.shape)
        diff = float(np.max(np.abs(ref - w)))
        scale = float(np.max(np.abs(w)))
        assert diff <= 1e-6 * max(scale, 1e-30), (name, diff, scale)
        self.dequant_check[name] = diff
        return w


# --------------------------------------------------------------------------------------------
# Tokenizer (only to choose the fixed prompts; the ids are what the JSON records)
# --------------------------------------------------------------------------------------------


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1)
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class ByteLevelBPE:
    """GPT-2 byte-level BPE over the GGUF's tokens and merges, with llama.cpp's `smollm`
    pre-tokenizer (split each digit, then the GPT-2 regex) and the special tokens (type 3)
    matched literally."""

    def __init__(self, model: GGUFModel):
        import regex

        self.tokens = model.meta("tokenizer.ggml.tokens")
        types = model.meta("tokenizer.ggml.token_type")
        merges = model.meta("tokenizer.ggml.merges")
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        self.ranks = {tuple(m.split(" ")): i for i, m in enumerate(merges)}
        self.specials = sorted((self.tokens[i] for i, t in enumerate(types) if t == 3), key=len,
                               reverse=True)
        self.byte_enc = bytes_to_unicode()
        self.byte_dec = {v: k for k, v in self.byte_enc.items()}
        self.re_digit = regex.compile(r"\p{N}")
        self.re_gpt2 = regex.compile(
            r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
        )

    def _bpe(self, word: str):
        parts = list(word)
        while len(parts) > 1:
            best = None
            for i in range(len(parts) - 1):
                r = self.ranks.get((parts[i], parts[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            parts = parts[:i] + [parts[i] + parts[i + 1]] + parts[i + 2:]
        return [self.ids[p] for p in parts]

    def _split(self, text: str):
        pieces = []
        pos = 0
        for m in self.re_digit.finditer(text):
            if m.start() > pos:
                pieces.append(text[pos:m.start()])
            pieces.append(m.group())
            pos = m.end()
        if pos < len(text):
            pieces.append(text[pos:])
        out = []
        for p in pieces:
            out.extend(self.re_gpt2.findall(p) if not self.re_digit.fullmatch(p) else [p])
        return out

    def encode(self, text: str):
        ids = []
        i = 0
        plain_start = 0
        while i <= len(text):
            sp = next((s for s in self.specials if text.startswith(s, i)), None) if i < len(
                text) else None
            if sp is not None or i == len(text):
                for w in self._split(text[plain_start:i]):
                    ids.extend(self._bpe("".join(self.byte_enc[b] for b in w.encode("utf-8"))))
                if sp is None:
                    break
                ids.append(self.ids[sp])
                i += len(sp)
                plain_start = i
            else:
                i += 1
        return ids

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            t = self.tokens[i]
            if t in self.specials:
                out += t.encode("utf-8")
            else:
                out += bytes(self.byte_dec[c] for c in t)
        return out.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------------
# Forward pass
# --------------------------------------------------------------------------------------------


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


class Llama:
    def __init__(self, model: GGUFModel):
        # Conventions; only the negative controls change these from the right ones.
        self.rope_mode = "norm"  # "neox": pairs (i, i + n_rot/2)
        self.gqa_mode = "consecutive"  # "modulo": query head h uses kv head h % n_head_kv
        g = model.meta
        assert g("general.architecture") == "llama"
        self.n_layer = int(g("llama.block_count"))
        self.d = int(g("llama.embedding_length"))
        self.n_head = int(g("llama.attention.head_count"))
        self.n_head_kv = int(g("llama.attention.head_count_kv"))
        self.head_dim = self.d // self.n_head
        self.n_rot = int(g("llama.rope.dimension_count", self.head_dim))
        self.rope_base = float(g("llama.rope.freq_base", 10000.0))
        self.eps = float(g("llama.attention.layer_norm_rms_epsilon"))
        self.n_ff = int(g("llama.feed_forward_length"))
        self.tok_embd = model.weight("token_embd.weight")  # [vocab, d]
        self.n_vocab = self.tok_embd.shape[0]
        self.layers = []
        for i in range(self.n_layer):
            p = f"blk.{i}."
            self.layers.append({k: model.weight(p + k + ".weight") for k in (
                "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")})
        self.output_norm = model.weight("output_norm.weight")
        self.tied = "output.weight" not in model.tensors
        self.output = self.tok_embd if self.tied else model.weight("output.weight")
        # RoPE inverse frequencies for pair i: base^(-2i/n_rot).
        self.inv_freq = self.rope_base ** (-np.arange(0, self.n_rot, 2, dtype=np.float64)
                                           / self.n_rot)

    def rope(self, x, positions):
        """x: [T, heads, head_dim]; NORM mode: rotate (x[2i], x[2i+1])."""
        ang = positions[:, None].astype(np.float64) * self.inv_freq[None, :]  # [T, n_rot/2]
        cos = np.cos(ang)[:, None, :]
        sin = np.sin(ang)[:, None, :]
        out = x.copy()
        if self.rope_mode == "norm":
            i0, i1 = slice(0, self.n_rot, 2), slice(1, self.n_rot, 2)
        else:  # negative control only
            i0, i1 = slice(0, self.n_rot // 2), slice(self.n_rot // 2, self.n_rot)
        x0, x1 = x[:, :, i0], x[:, :, i1]
        out[:, :, i0] = x0 * cos - x1 * sin
        out[:, :, i1] = x0 * sin + x1 * cos
        return out

    def new_cache(self):
        hd, kvh = self.head_dim, self.n_head_kv
        return [{"k": np.zeros((0, kvh, hd)), "v": np.zeros((0, kvh, hd))}
                for _ in range(self.n_layer)]

    def forward(self, tokens, cache, probes=None):
        """Run `tokens` after the cache's positions; returns logits [T, vocab]."""
        T = len(tokens)
        pos0 = cache[0]["k"].shape[0]
        positions = np.arange(pos0, pos0 + T)
        H, KVH, hd = self.n_head, self.n_head_kv, self.head_dim
        group = H // KVH
        if self.gqa_mode == "consecutive":
            kv_of_head = np.arange(H) // group
        else:  # negative control only
            kv_of_head = np.arange(H) % KVH
        x = self.tok_embd[np.asarray(tokens)]  # [T, d]
        if probes is not None:
            probes["embedding"] = x.copy()
        scale = 1.0 / math.sqrt(hd)
        for li, L in enumerate(self.layers):
            h = rms_norm(x, L["attn_norm"], self.eps)
            q = (h @ L["attn_q"].T).reshape(T, H, hd)
            k = (h @ L["attn_k"].T).reshape(T, KVH, hd)
            v = (h @ L["attn_v"].T).reshape(T, KVH, hd)
            q = self.rope(q, positions)
            k = self.rope(k, positions)
            c = cache[li]
            c["k"] = np.concatenate([c["k"], k], axis=0)
            c["v"] = np.concatenate([c["v"], v], axis=0)
            S = c["k"].shape[0]
            K = c["k"][:, kv_of_head]  # [S, H, hd]: query head h reads kv head kv_of_head[h]
            V = c["v"][:, kv_of_head]
            scores = np.einsum("thd,shd->hts", q, K) * scale  # [H, T, S]
            mask = np.arange(S)[None, :] > positions[:, None]  # key after query
            scores = np.where(mask[None], -np.inf, scores)
            scores = scores - scores.max(axis=-1, keepdims=True)
            p = np.exp(scores)
            p /= p.sum(axis=-1, keepdims=True)
            att = np.einsum("hts,shd->thd", p, V).reshape(T, H * hd)
            x = x + att @ L["attn_output"].T
            h = rms_norm(x, L["ffn_norm"], self.eps)
            ff = silu(h @ L["ffn_gate"].T) * (h @ L["ffn_up"].T)
            x = x + ff @ L["ffn_down"].T
            if probes is not None and li == 0:
                probes["after_block0"] = x.copy()
        x = rms_norm(x, self.output_norm, self.eps)
        if probes is not None:
            probes["final_norm"] = x.copy()
        return x @ self.output.T


def logsumexp(row):
    m = np.max(row)
    return float(m + np.log(np.sum(np.exp(row - m))))


def f32_check(net, sequences):
    """The same conventions in float32 (weights cast to f32), teacher-forced over prompt + greedy
    continuation; compares logits at the reference positions and the greedy choices."""
    import copy

    n32 = copy.copy(net)
    n32.tok_embd = net.tok_embd.astype(np.float32)
    n32.output = n32.tok_embd if net.tied else net.output.astype(np.float32)
    n32.output_norm = net.output_norm.astype(np.float32)
    n32.inv_freq = net.inv_freq.astype(np.float32)
    n32.layers = [{k: w.astype(np.float32) for k, w in L.items()} for L in net.layers]
    n32.eps = np.float32(net.eps)
    rep = {}
    for q in sequences:
        ids = q["tokens"] + q["greedy"]["tokens"]
        cache = [{"k": np.zeros((0, net.n_head_kv, net.head_dim), np.float32),
                  "v": np.zeros((0, net.n_head_kv, net.head_dim), np.float32)}
                 for _ in range(net.n_layer)]
        lg = n32.forward(ids, cache)
        assert lg.dtype == np.float32
        d = 0.0
        for r in q["logit_rows"]:
            ref = dict((i, v) for i, v in r["top20"])
            d = max(d, max(abs(float(lg[r["position"], i]) - v) for i, v in ref.items()))
        n = q["n_tokens"]
        g = [int(np.argmax(lg[n - 1 + j])) for j in range(q["greedy"]["n"])]
        rep[q["name"]] = {"max_abs_top20_logit_diff": d,
                          "greedy_identical": g == q["greedy"]["tokens"]}
        print(f"f32 check [{q['name']}]: max |f32 - f64| over stored top-20 logits {d:.3g}; "
              f"greedy identical: {g == q['greedy']['tokens']}", file=sys.stderr)
    return rep


def full_sequence_nll(net, ids):
    lg = net.forward(ids, net.new_cache())
    return [logsumexp(lg[t - 1]) - float(lg[t - 1, ids[t]]) for t in range(1, len(ids))]


def top_k(row, k):
    # Descending logit, ties to the lower id (stable sort on -logit).
    order = np.argsort(-row, kind="stable")[:k]
    return [[int(i), float(row[i])] for i in order]


def greedy(row):
    i = int(np.argmax(row))  # first maximum = lower id on ties
    order = np.argsort(-row, kind="stable")[:2]
    return i, float(row[order[0]] - row[order[1]])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(HERE / "smollm2_reference.json"))
    ap.add_argument("--f32-check", action="store_true",
                    help="also run the same forward pass in float32 (weights dequantized then cast "
                         "to f32) and record how far its logits land from the f64 reference: a "
                         "guide to the tolerance an f32 implementation needs")
    args = ap.parse_args()
    t_start = time.time()

    path = find_data_dir() / MODEL_REL
    model = GGUFModel(path)
    tok = ByteLevelBPE(model)
    net = Llama(model)
    t_load = time.time() - t_start
    print(f"loaded {path.name} in {t_load:.1f}s: {net.n_layer} layers, d {net.d}, "
          f"{net.n_head}/{net.n_head_kv} heads, head_dim {net.head_dim}, n_rot {net.n_rot}, "
          f"base {net.rope_base}, eps {net.eps!r}, vocab {net.n_vocab}, tied {net.tied}",
          file=sys.stderr)

    bos = int(model.meta("tokenizer.ggml.bos_token_id"))
    eos = int(model.meta("tokenizer.ggml.eos_token_id"))
    system = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    prompts = [
        ("plain_short", "Once upon a time, there was a little"),
        ("chat_bos", "<|im_start|>user\nWhat is the capital of France? Please answer briefly."
                     "<|im_end|>\n<|im_start|>assistant\n"),
        ("chat_system_bos", f"<|im_start|>system\n{system}<|im_end|>\n"
                            "<|im_start|>user\nGive me three tips for staying healthy."
                            "<|im_end|>\n<|im_start|>assistant\n"),
    ]
    probe_ids = [int(round(i * (net.n_vocab - 1) / (N_PROBE_IDS - 1))) for i in
                 range(N_PROBE_IDS)]

    sequences = []
    for name, text in prompts:
        t0 = time.time()
        ids = tok.encode(text)
        assert tok.decode(ids) == text, (name, tok.decode(ids))
        n = len(ids)
        cache = net.new_cache()
        probes = {}
        logits = net.forward(ids, cache, probes)  # [n, vocab]
        lse = np.array([logsumexp(r) for r in logits])
        nll = [float(lse[t - 1] - logits[t - 1, ids[t]]) for t in range(1, n)]  # positions 1..n-1
        positions = sorted({0, n // 3, (2 * n) // 3, n - 1})
        rows = []
        for p in positions:
            r = logits[p]
            rows.append({
                "position": p,
                "top20": top_k(r, TOP_K),
                "probe_logits": [float(r[i]) for i in probe_ids],
                "logsumexp": float(lse[p]),
            })
        # Greedy continuation (KV cache; the prompt's last row gives the first token).
        gen, gaps, gen_nll, last = [], [], [], logits[-1]
        for step in range(N_GENERATE):
            nxt, gap = greedy(last)
            gen.append(nxt)
            gaps.append(gap)
            gen_nll.append(logsumexp(last) - float(last[nxt]))
            if step + 1 < N_GENERATE:
                last = net.forward([nxt], cache)[-1]
        full_nll = nll + gen_nll  # positions 1 .. n+47 of prompt + continuation
        # The incremental (KV-cache) pass must equal one batched pass over the whole sequence.
        full_batch = full_sequence_nll(net, ids + gen)
        assert np.max(np.abs(np.array(full_batch) - np.array(full_nll))) < 1e-9
        close = [{"step": s, "top2_gap": g} for s, g in enumerate(gaps) if g < TIE_GAP]
        dt = time.time() - t0
        cont = tok.decode(gen)
        print(f"[{name}] {n} tokens, mean NLL {np.mean(nll):.4f}, {dt:.1f}s\n  prompt: {text!r}\n"
              f"  greedy: {cont!r}\n  close steps: {close}", file=sys.stderr)
        sequences.append({
            "name": name,
            "text": text,
            "starts_with_bos": ids[0] == bos,
            "tokens": ids,
            "n_tokens": n,
            "logit_rows": rows,
            "mean_nll": float(np.mean(nll)),
            "nll_per_position": nll,
            "mean_nll_prompt_plus_greedy": float(np.mean(full_nll)),
            "greedy": {
                "n": N_GENERATE,
                "tokens": gen,
                "text": cont,
                "top2_gaps": gaps,
                "min_top2_gap": float(min(gaps)),
                "close_steps": close,
                "first_eos_step": gen.index(eos) if eos in gen else None,
            },
            "hidden_probes_first16": {
                k: {"first_position": [float(v) for v in a[0, :16]],
                    "last_position": [float(v) for v in a[-1, :16]]}
                for k, a in probes.items()
            },
        })

    # Negative controls: prompt + greedy continuation scored under plausible wrong conventions.
    # Each must score clearly worse (higher mean NLL) than the right one; with the reading of
    # llama.cpp's source, this is how the conventions were confirmed on this real model. (The
    # prompts alone do not discriminate the RoPE layout: short chat prompts score about the same
    # under half-split RoPE.)
    controls = {}
    for label, attr, wrong in (("rope_neox_half_split", "rope_mode", "neox"),
                               ("gqa_modulo_kv_head", "gqa_mode", "modulo")):
        right = getattr(net, attr)
        setattr(net, attr, wrong)
        res = {q["name"]: float(np.mean(full_sequence_nll(net, q["tokens"]
                                                          + q["greedy"]["tokens"])))
               for q in sequences}
        setattr(net, attr, right)
        controls[label] = {"mean_nll_prompt_plus_greedy": res}
        ok = {q["name"]: round(q["mean_nll_prompt_plus_greedy"], 4) for q in sequences}
        print(f"negative control {label}: {res} (right: {ok})", file=sys.stderr)
        for q in sequences:
            assert res[q["name"]] > q["mean_nll_prompt_plus_greedy"] + 0.1, (label, q["name"])

    def wprobe(name, rows=(0, 1), n=8):
        w = model.weight(name) if name != "token_embd.weight" else net.tok_embd
        return {"shape_rows_cols": list(w.shape), "type": model.tensors[name].tensor_type.name,
                "rows": {str(r): [float(v) for v in w[r, :n]] for r in rows},
                "sum": float(np.sum(w)), "sum_abs": float(np.sum(np.abs(w)))}

    out = {
        "generator": "crates/core/tests/data/reference/llama_gguf_reference.py",
        "model_file": MODEL_REL,
        "model_bytes": path.stat().st_size,
        "config": {
            "n_layer": net.n_layer, "d_model": net.d, "n_head": net.n_head,
            "n_head_kv": net.n_head_kv, "head_dim": net.head_dim, "n_rot": net.n_rot,
            "rope_freq_base": net.rope_base, "rms_eps": net.eps, "n_ff": net.n_ff,
            "n_vocab": net.n_vocab, "tied_output": net.tied, "bos_token_id": bos,
            "eos_token_id": eos,
        },
        "conventions": {
            "weights": "dequantized exactly (float64) from Q4_1/Q8_0; W is [out, in]; y = x W^T",
            "rope": "NORM: adjacent pairs (2i, 2i+1) per head, angle pos*base^(-2i/n_rot)",
            "gqa": "query head h uses kv head h // (n_head/n_head_kv)",
            "attn_scale": "1/sqrt(head_dim)",
            "rmsnorm": "x / sqrt(mean(x^2) + eps) * w",
            "ffn": "down(silu(gate(x)) * up(x))",
            "top20_order": "descending logit, ties to lower id",
            "greedy": "argmax, ties to lower id; first token from the prompt's last position",
            "nll": "mean over t=1..n-1 of logsumexp(logits[t-1]) - logits[t-1][tokens[t]]",
            "positions": "first, n//3, 2n//3, last (0-based)",
        },
        "probe_ids": probe_ids,
        "sequences": sequences,
        "weight_probes": {n: wprobe(n) for n in (
            "token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
            "blk.0.ffn_down.weight", "blk.29.ffn_up.weight")},
        "norm_weight_probes_first8": {
            "blk.0.attn_norm.weight": [float(v) for v in net.layers[0]["attn_norm"][:8]],
            "output_norm.weight": [float(v) for v in net.output_norm[:8]]},
        "negative_controls": controls,
        "max_abs_diff_vs_gguf_dequantize_f32": float(max(model.dequant_check.values())),
    }
    if args.f32_check:
        out["f32_check"] = f32_check(net, sequences)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out} in {time.time() - t_start:.1f}s "
          f"(max |f64 - gguf f32 dequant| = {out['max_abs_diff_vs_gguf_dequantize_f32']:.3g})",
          file=sys.stderr)


if __name__ == "__main__":
    main()
