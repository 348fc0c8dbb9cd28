#!/usr/bin/env python3
"""Float64 reference of llama.cpp's `llama-perplexity` (function `perplexity()` in
tools/perplexity/perplexity.cpp) on two real checkpoints, for the Rust tests to compare against.

The forward passes are imported from the two reference scripts beside this file
(`llama_gguf_reference.py` for SmolLM2-135M-Instruct Q4_1, `llama2c_reference.py` for
stories260K); this script adds only the chunking and scoring. Output: `perplexity_reference.json`
beside this script.

    pip install gguf==0.19.0 numpy regex tokenizers
    python3 crates/core/tests/data/reference/perplexity_reference.py [--f32-check] [--out PATH]

What llama.cpp does, and this script repeats in float64:

* tokens = tokenize(text, add_special = true); n_chunk = min(chunks, len(tokens) // ctx)
  (whole chunks only); chunk c covers tokens[c*ctx : (c+1)*ctx].
* if the vocab adds BOS (`tokenizer.ggml.add_bos_token`; llama.cpp's SPM/llama vocab, as for a
  llama2.c model, adds BOS id 1), the first token of every chunk is replaced by BOS for the
  evaluation only (the original is restored for scoring).
* each chunk is evaluated alone from position 0 (KV cache cleared), causal.
* first = ctx // 2; positions j = first .. ctx-2 are scored: nll = -log_softmax(logits[j])
  [tokens[c*ctx + j + 1]] (the ORIGINAL ids), ctx - 1 - first per chunk.
* ppl = exp(sum nll / n); with mean = sum nll / n, mean2 = sum nll^2 / n:
  err = ppl * sqrt((mean2 - mean^2) / (n - 1)) ("Final estimate: PPL = ppl +/- err").
  The running value llama.cpp prints after chunk c ("[c]ppl,") is exp(sum nll so far / count so
  far).
"""

import argparse
import json
import math
import os
import pathlib
import sys
import time

# Single-threaded BLAS (the imported scripts do the same); must precede the numpy import.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import llama2c_reference as l2c  # noqa: E402
import llama_gguf_reference as lg  # noqa: E402

TEXT_REL = "eval/wikitext-2-raw-test.txt"
TEXT_CHARS = 4000  # prefix of the file to tokenize (the first 385 ids need ~1,300 characters)


def log_softmax_row(row):
    row = np.asarray(row, dtype=np.float64)
    m = np.max(row)
    return row - (m + np.log(np.sum(np.exp(row - m))))


def perplexity(ids, ctx, chunks, add_bos, bos_id, chunk_logits, replace_bos=True):
    """llama.cpp's perplexity(): `chunk_logits(chunk_ids) -> [ctx, vocab]` evaluates one chunk from
    position 0 with a fresh cache."""
    n_chunk = min(chunks, len(ids) // ctx)
    assert n_chunk >= 1 and len(ids) >= 2 * ctx  # llama.cpp refuses fewer than 2*ctx tokens
    first = ctx // 2
    out_chunks, all_nll = [], []
    total, total2, count = 0.0, 0.0, 0
    for c in range(n_chunk):
        start = c * ctx
        chunk = list(ids[start:start + ctx])
        if add_bos and replace_bos:
            chunk[0] = bos_id
        logits = chunk_logits(chunk)
        assert logits.shape[0] == ctx and logits.dtype == np.float64
        nll = []
        for j in range(first, ctx - 1):
            target = ids[start + j + 1]  # the original id, even where chunk[0] became BOS
            nll.append(float(-log_softmax_row(logits[j])[target]))
        s = math.fsum(nll)
        total += s
        total2 += math.fsum(v * v for v in nll)
        count += len(nll)
        all_nll.extend(nll)
        out_chunks.append({
            "chunk": c,
            "start": start,
            "first_id_evaluated": chunk[0],
            "nll_sum": s,
            "count": len(nll),
            "running_ppl": math.exp(total / count),
            "nll": nll,
        })
    mean = total / count
    mean2 = total2 / count
    ppl = math.exp(mean)
    var = mean2 - mean * mean
    err = ppl * math.sqrt(var / (count - 1)) if var > 0 else 0.0
    return {
        "n_chunk": n_chunk,
        "first": first,
        "count": count,
        "nll_sum": total,
        "mean_nll": mean,
        "mean_nll2": mean2,
        "ppl": ppl,
        "err": err,
        "chunks": out_chunks,
    }, all_nll


# --------------------------------------------------------------------------------------------
# SmolLM2 (GGUF)
# --------------------------------------------------------------------------------------------


def hf_tokenizer(model):
    """HF `tokenizers` BPE from the GGUF's vocab and merges with SmolLM2's pre-tokenization
    (Digits(individual_digits) then ByteLevel without prefix space, GPT-2 regex), as in SmolLM2's
    own tokenizer.json. Special tokens are not added: llama.cpp's perplexity tokenizes with
    parse_special = false."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tokens = model.meta("tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ")) for m in model.meta("tokenizer.ggml.merges")]
    vocab = {t: i for i, t in enumerate(tokens)}
    tk = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tk.decoder = decoders.ByteLevel()
    return tk


def f32_copy(net):
    """The same Llama with weights cast to float32 and numpy f32 arithmetic (as in
    llama_gguf_reference.f32_check): a guide to the tolerance an f32 implementation needs."""
    import copy

    n32 = copy.copy(net)
    n32.tok_embd = net.tok_embd.astype(np.float32)
    n32.output = n32.tok_embd if net.tied else net.output.astype(np.float32)
    n32.output_norm = net.output_norm.astype(np.float32)
    n32.inv_freq = net.inv_freq.astype(np.float32)
    n32.layers = [{k: w.astype(np.float32) for k, w in L.items()} for L in net.layers]
    n32.eps = np.float32(net.eps)

    def chunk_logits(chunk):
        cache = [{"k": np.zeros((0, net.n_head_kv, net.head_dim), np.float32),
                  "v": np.zeros((0, net.n_head_kv, net.head_dim), np.float32)}
                 for _ in range(net.n_layer)]
        lg32 = n32.forward(chunk, cache)
        assert lg32.dtype == np.float32
        return lg32.astype(np.float64)  # scored in f64, like llama.cpp's double accumulators

    return chunk_logits


def smollm2_case(data, ctx, chunks, with_f32):
    import tokenizers

    t0 = time.time()
    path = data / lg.MODEL_REL
    model = lg.GGUFModel(path)
    add_bos = bool(model.meta("tokenizer.ggml.add_bos_token", False))
    add_eos = bool(model.meta("tokenizer.ggml.add_eos_token", False))
    assert not add_eos  # llama.cpp asserts this
    bos = int(model.meta("tokenizer.ggml.bos_token_id"))

    # Raw bytes: the file has CRLF line ends and llama.cpp reads it as is, so keep the '\r's.
    text_all = (data / TEXT_REL).read_bytes().decode("utf-8")
    text = text_all[:TEXT_CHARS]
    longer = text_all[:2 * TEXT_CHARS]
    n_ids = chunks * ctx + 1

    own = lg.ByteLevelBPE(model)
    assert not any(s in longer for s in own.specials)
    ids_own = own.encode(text)
    try:
        tk = hf_tokenizer(model)
        ids_hf = tk.encode(text, add_special_tokens=False).ids
        ids_hf_longer = tk.encode(longer, add_special_tokens=False).ids
        # Cutting the text can only change the last pre-token(s): the ids used are a stable prefix.
        assert ids_hf_longer[:n_ids] == ids_hf[:n_ids]
        tokenizer_used = f"HF tokenizers {tokenizers.__version__} (GGUF vocab/merges; " \
                         "Digits(individual) + ByteLevel(no prefix space, GPT-2 regex))"
        ids_all = ids_hf
    except Exception as e:  # noqa: BLE001 - fall back to the script's own encoder
        print(f"HF tokenizers unavailable ({e!r}); using the script's encoder", file=sys.stderr)
        ids_hf = None
        tokenizer_used = "llama_gguf_reference.ByteLevelBPE (smollm pre-tokenizer)"
        ids_all = ids_own
    agree = ids_hf is not None and ids_hf[:n_ids] == ids_own[:n_ids]
    assert len(ids_all) > n_ids
    body = ids_all[:n_ids]
    # llama.cpp's tokenize(add_special = true) puts BOS in front when the vocab adds it.
    ids = ([bos] + body[:-1]) if add_bos else body
    covered = own.decode(body)
    assert text.startswith(covered)

    net = lg.Llama(model)
    t_load = time.time() - t0
    print(f"[smollm2] loaded in {t_load:.1f}s; add_bos {add_bos}; own encoder agrees with HF on "
          f"the first {n_ids} ids: {agree}", file=sys.stderr)

    res, _ = perplexity(ids, ctx, chunks, add_bos, bos,
                        lambda chunk: net.forward(chunk, net.new_cache()))
    print(f"[smollm2] ctx {ctx}, {res['n_chunk']} chunks: ppl {res['ppl']:.6f} +/- "
          f"{res['err']:.6f}; running {[round(c['running_ppl'], 4) for c in res['chunks']]}; "
          f"{time.time() - t0:.1f}s", file=sys.stderr)
    extra = {}
    if with_f32:
        r32, nll32 = perplexity(ids, ctx, chunks, add_bos, bos, f32_copy(net))
        d = max(abs(a - b) for a, b in zip(nll32, (v for c in res["chunks"] for v in c["nll"])))
        extra["f32_check"] = {"ppl": r32["ppl"], "err": r32["err"],
                              "rel_ppl_diff": r32["ppl"] / res["ppl"] - 1.0,
                              "max_abs_nll_diff": d}
        print(f"[smollm2] f32 check: ppl {r32['ppl']:.6f} (rel diff "
              f"{extra['f32_check']['rel_ppl_diff']:.3g}), max |nll f32 - f64| {d:.3g}",
              file=sys.stderr)
    return {
        "name": "smollm2_wikitext2",
        "model": "SmolLM2-135M-Instruct Q4_1",
        "model_file": lg.MODEL_REL,
        "ctx": ctx,
        "chunks_requested": chunks,
        "add_bos": add_bos,
        "bos_token_id": bos,
        "text_file": TEXT_REL,
        "text_note": f"the first {TEXT_CHARS} characters of the file, read as raw UTF-8 (CRLF kept, "
                     "as llama.cpp reads it); `ids` decode to `text_covered`",
        "tokenizer": tokenizer_used,
        "own_encoder_agrees_with_hf": agree,
        "n_ids": len(ids),
        "ids": ids,
        "text_covered": covered,
        **res,
        **extra,
    }


# --------------------------------------------------------------------------------------------
# stories260K (llama2.c)
# --------------------------------------------------------------------------------------------


def stories_case(data, ctx, chunks):
    t0 = time.time()
    path = data / l2c.MODEL_REL
    ck = l2c.Checkpoint(path)
    ref = json.loads((HERE / "stories260k_reference.json").read_text())
    base = []
    for s in ref["sequences"]:
        seq = s["tokens"] + s["greedy"]["tokens"]
        # The stored ids are what llama2c_reference.py computes (checked here, ~0.5 s).
        _, _, _, gen, _ = l2c.run_sequence(ck, s["tokens"], s["greedy"]["n"])
        assert gen == s["greedy"]["tokens"], s["name"]
        base.extend(seq)
    n_ids = chunks * ctx + 1
    ids = (base * (n_ids // len(base) + 1))[:n_ids]
    assert ids[0] == l2c.BOS and all(0 <= t < ck.vocab_size for t in ids)

    def chunk_logits(chunk):
        rc = l2c.RunC(ck)  # fresh KV cache, positions from 0
        return np.array([rc.forward(t, p) for p, t in enumerate(chunk)])

    res, _ = perplexity(ids, ctx, chunks, True, l2c.BOS, chunk_logits)
    ctl, _ = perplexity(ids, ctx, chunks, True, l2c.BOS, chunk_logits, replace_bos=False)
    print(f"[stories260k] ctx {ctx}, {res['n_chunk']} chunks: ppl {res['ppl']:.6f} +/- "
          f"{res['err']:.6f} (without BOS replacement {ctl['ppl']:.6f}); "
          f"{time.time() - t0:.1f}s", file=sys.stderr)
    return {
        "name": "stories260k_fixed_ids",
        "model": "stories260K (llama2.c fp32)",
        "model_file": l2c.MODEL_REL,
        "ctx": ctx,
        "chunks_requested": chunks,
        "add_bos": True,
        "bos_token_id": l2c.BOS,
        "ids_note": "stories260k_reference.json: for each of its 3 sequences, tokens + greedy "
                    "tokens, concatenated (212 ids, starting with BOS as tokenize(add_special) "
                    "would), repeated as needed, first chunks*ctx+1 kept",
        "n_ids": len(ids),
        "ids": ids,
        **res,
        "control_without_bos_replacement": {
            "ppl": ctl["ppl"], "err": ctl["err"], "nll_sum": ctl["nll_sum"],
            "chunk_nll_sums": [c["nll_sum"] for c in ctl["chunks"]]},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(HERE / "perplexity_reference.json"))
    ap.add_argument("--f32-check", action="store_true",
                    help="also score the SmolLM2 case with the forward pass in float32 and record "
                         "how far its ppl and nlls land from the f64 reference")
    args = ap.parse_args()
    t_start = time.time()
    data = lg.find_data_dir()
    cases = [smollm2_case(data, 128, 3, args.f32_check), stories_case(data, 64, 3)]
    out = {
        "generator": "crates/core/tests/data/reference/perplexity_reference.py",
        "method": {
            "what": "llama.cpp llama-perplexity, function perplexity(), in float64",
            "chunks": "n_chunk = min(chunks_requested, n_ids // ctx); chunk c = ids[c*ctx:(c+1)*ctx]",
            "bos": "if add_bos, the chunk's first id is replaced by bos_token_id for evaluation",
            "eval": "each chunk alone from position 0 (fresh KV cache), causal, logits at every "
                    "position",
            "scored": "first = ctx // 2; j = first .. ctx-2; nll = logsumexp(logits[j]) - "
                      "logits[j][ids[c*ctx + j + 1]] (original ids); ctx-1-first per chunk",
            "ppl": "exp(nll_sum / count)",
            "err": "ppl * sqrt((mean_nll2 - mean_nll^2) / (count - 1)), mean_nll2 = "
                   "sum nll^2 / count",
            "running_ppl": "exp(nll so far / count so far) after each chunk, what llama.cpp "
                           "prints as [c]value",
        },
        "cases": cases,
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes) in "
          f"{time.time() - t_start:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
