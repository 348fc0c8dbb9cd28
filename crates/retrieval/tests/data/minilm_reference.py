#!/usr/bin/env python3
"""Independent float64 numpy reference for the sentence embedder all-MiniLM-L6-v2.

Writes minilm_reference.json next to this script. See README.md in this folder.

Pipeline per text (one text at a time, no padding, so no attention mask):
  ids    = tokenizer(text) with [CLS] ... [SEP], truncated to 256 tokens
           (sentence-transformers' max_seq_length, sentence_bert_config.json)
  hidden = BERT(ids): 6 post-norm layers, hidden 384, 12 heads, intermediate
           1536, exact erf GELU, LayerNorm eps 1e-12, absolute positions,
           token type 0 everywhere
  vector = mean of the final hidden states over ALL tokens ([CLS], [SEP] too),
           then L2-normalized
Everything is computed in float64 (the F32 weights are cast to float64).

The safetensors file is read with numpy only (no torch, no safetensors package).
Tokenization uses the `tokenizers` package with the model's tokenizer.json.

Usage:
  python3 minilm_reference.py [--model-dir DIR] [--out FILE]
"""
import os

# Pin BLAS to one thread before numpy is imported, for bit-for-bit determinism.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
             "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import json
import math
import platform
import struct
import sys

import numpy as np
import tokenizers

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL_DIR = "/work/shared/data/models/all-minilm-l6-v2"
DEFAULT_OUT = os.path.join(HERE, "minilm_reference.json")

NUM_LAYERS = 6
HIDDEN = 384
NUM_HEADS = 12
HEAD_DIM = HIDDEN // NUM_HEADS
INTERMEDIATE = 1536
LAYER_NORM_EPS = 1e-12
MAX_SEQ_LEN = 256

_LONG_PARAGRAPH = (
    "Retrieval systems turn every document into a fixed-size vector so that "
    "similar passages end up close together. A query is embedded the same way, "
    "and the nearest vectors are returned as the most relevant results. "
)

TEXTS = [
    # ordinary sentences and near-duplicate pairs
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The cat sits on the mat.",
    "A cat is sitting on a mat.",
    "The weather is lovely today.",
    "It is so sunny outside today.",
    "The new movie is awesome.",
    "The new movie is so great.",
    "A man is playing a guitar.",
    "Quantum chromodynamics describes the strong interaction between quarks and gluons.",
    # questions
    "How do I reset my password?",
    "What is the capital of France?",
    # edge cases
    "",
    "hello",
    "Café déjà vu",
    "naïve façade",
    "THIS IS ALL UPPERCASE TEXT",
    "東京は日本の首都です",
    "机器学习",
    "I love pizza 🍕🍕",
    "  spaces\tand\ttabs\n\nnewlines  ",
    "?!...",
    "3.14159 and 2,718",
    "https://example.com/path/to/page?query=rust&lang=en#section-2",
    "fn main() { println!(\"hi\"); }",
    # very long text, exceeds 256 tokens
    _LONG_PARAGRAPH * 8,
    # a word longer than 100 characters (WordPiece max_input_chars_per_word)
    "The longest word is " + "pneumonoultramicroscopicsilicovolcanoconiosis" * 3 + " indeed.",
    # mixed language
    "Machine learning 机器学习 est très utile für alle.",
    "Das ist ein Test auf Deutsch.",
    "Ceci est une phrase en français.",
]

# (index a, index b, kind) pairs whose cosine similarities are recorded.
PAIRS = [
    (0, 1, "near-duplicate"),
    (2, 3, "near-duplicate"),
    (4, 5, "near-duplicate"),
    (6, 7, "near-duplicate"),
    (0, 8, "related"),
    (0, 9, "unrelated"),
    (2, 11, "unrelated"),
    (4, 9, "unrelated"),
    (10, 9, "unrelated"),
]


def load_safetensors(path):
    """Read a safetensors file with numpy: u64 LE header length, JSON header, raw LE data."""
    with open(path, "rb") as f:
        raw = f.read()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + header_len].decode("utf-8"))
    data = memoryview(raw)[8 + header_len:]
    dtypes = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4"}
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        arr = np.frombuffer(data[start:end], dtype=dtypes[info["dtype"]])
        tensors[name] = arr.reshape(info["shape"]).copy()
    return tensors


def load_weights(model_dir):
    t = load_safetensors(os.path.join(model_dir, "model.safetensors"))
    w = {}
    for name, arr in t.items():
        if name == "embeddings.position_ids":
            continue
        if arr.dtype != np.float32:
            raise ValueError(f"unexpected dtype for {name}: {arr.dtype}")
        w[name] = arr.astype(np.float64)
    return w


def load_tokenizer(model_dir):
    tok = tokenizers.Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    # tokenizer.json pads to a fixed 128: one text at a time, no padding.
    tok.no_padding()
    return tok


def tokenize(tok, text):
    """Returns (ids truncated to MAX_SEQ_LEN, untruncated token count)."""
    tok.no_truncation()
    full = tok.encode(text, add_special_tokens=True).ids
    tok.enable_truncation(max_length=MAX_SEQ_LEN)
    ids = tok.encode(text, add_special_tokens=True).ids
    tok.no_truncation()
    assert ids[0] == 101 and ids[-1] == 102, ids  # [CLS] ... [SEP]
    assert len(ids) == min(len(full), MAX_SEQ_LEN)
    return ids, len(full)


_erf = np.frompyfunc(math.erf, 1, 1)


def gelu_erf(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def layer_norm(x, weight, bias, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def linear(x, w, prefix):
    # PyTorch layout: weight is [out, in].
    return x @ w[prefix + ".weight"].T + w[prefix + ".bias"]


def softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def bert_forward(w, ids, gelu=gelu_erf, eps=LAYER_NORM_EPS):
    """Final hidden states [n, HIDDEN] for one unpadded sequence."""
    ids = np.asarray(ids, dtype=np.int64)
    n = ids.shape[0]
    x = (w["embeddings.word_embeddings.weight"][ids]
         + w["embeddings.position_embeddings.weight"][:n]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    scale = 1.0 / math.sqrt(HEAD_DIM)
    for i in range(NUM_LAYERS):
        p = f"encoder.layer.{i}."
        q = linear(x, w, p + "attention.self.query").reshape(n, NUM_HEADS, HEAD_DIM).transpose(1, 0, 2)
        k = linear(x, w, p + "attention.self.key").reshape(n, NUM_HEADS, HEAD_DIM).transpose(1, 0, 2)
        v = linear(x, w, p + "attention.self.value").reshape(n, NUM_HEADS, HEAD_DIM).transpose(1, 0, 2)
        probs = softmax((q @ k.transpose(0, 2, 1)) * scale)          # [heads, n, n]
        ctx = (probs @ v).transpose(1, 0, 2).reshape(n, HIDDEN)        # [n, hidden]
        attn = linear(ctx, w, p + "attention.output.dense")
        x = layer_norm(attn + x, w[p + "attention.output.LayerNorm.weight"],
                       w[p + "attention.output.LayerNorm.bias"], eps)
        h = gelu(linear(x, w, p + "intermediate.dense"))
        out = linear(h, w, p + "output.dense")
        x = layer_norm(out + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
    return x


def embed_ids(w, ids, **kw):
    hidden = bert_forward(w, ids, **kw)
    pooled = hidden.mean(axis=0)  # mean over all tokens, [CLS] and [SEP] included
    return pooled / np.linalg.norm(pooled)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", default=DEFAULT_MODEL_DIR)
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()

    w = load_weights(args.model_dir)
    tok = load_tokenizer(args.model_dir)

    entries = []
    vectors = []
    for text in TEXTS:
        ids, full_len = tokenize(tok, text)
        vec = embed_ids(w, ids)
        vectors.append(vec)
        entries.append({
            "text": text,
            "ids": [int(i) for i in ids],
            "truncated": full_len > MAX_SEQ_LEN,
            "untruncated_len": full_len,
            "embedding": [float(v) for v in vec],
        })

    sims = []
    for a, b, kind in PAIRS:
        sims.append({
            "a": a,
            "b": b,
            "text_a": TEXTS[a],
            "text_b": TEXTS[b],
            "kind": kind,
            "cosine": float(np.dot(vectors[a], vectors[b])),
        })

    doc = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "generator": "crates/retrieval/tests/data/minilm_reference.py",
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "tokenizers": tokenizers.__version__,
        },
        "config": {
            "num_layers": NUM_LAYERS,
            "hidden": HIDDEN,
            "num_heads": NUM_HEADS,
            "intermediate": INTERMEDIATE,
            "layer_norm_eps": LAYER_NORM_EPS,
            "gelu": "erf",
            "max_seq_len": MAX_SEQ_LEN,
            "pooling": "mean over all tokens incl. [CLS]/[SEP], then L2-normalize",
            "dtype": "float64",
        },
        "texts": entries,
        "similarities": sims,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(entries)} texts to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
