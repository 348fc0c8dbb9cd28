#!/usr/bin/env python3
"""Side-by-side reference figures for the tokenizer bench, on the same corpus and machine.

Measures Hugging Face `tokenizers` (byte-level BPE training to 8192 and 32768 tokens) and
`tiktoken` (GPT-2 encoding, one thread and a two-thread batch), then checks that our
`claude-rust tokenizer encode` gives exactly tiktoken's ids for every corpus file.

    pip install tokenizers tiktoken
    cargo build --release -p claude-cli
    python3 crates/tokenizer/benches/compare_tokenizers.py
    cargo bench -p claude-tokenizer --bench tokenizer

tiktoken is built from the local GPT-2 files (no download). Data: $CLAUDE_RUST_DATA, else
../shared/data.
"""

import json
import os
import pathlib
import subprocess
import time

import tiktoken
import tokenizers
from tiktoken.load import data_gym_to_mergeable_bpe_ranks

DATA = pathlib.Path(os.environ.get("CLAUDE_RUST_DATA", "../shared/data"))
FILES = sorted(p for p in (DATA / "text").rglob("*.txt"))
CORPUS = "".join(p.read_text(encoding="utf-8") for p in FILES)
MB = len(CORPUS.encode()) / 1e6
BIN = os.environ.get("CLAUDE_RUST_BIN", "target/release/claude-rust")

print(f"corpus: {len(FILES)} files, {MB:.1f} MB")
for vocab in (8192, 32768):
    tok = tokenizers.ByteLevelBPETokenizer()
    start = time.perf_counter()
    tok.train([str(p) for p in FILES], vocab_size=vocab, min_frequency=1,
              special_tokens=["<|endoftext|>"], show_progress=False)
    secs = time.perf_counter() - start
    print(f"hf tokenizers {tokenizers.__version__} train vocab {vocab:>6}: {secs:6.2f} s")

gpt2 = DATA / "tokenizer" / "gpt2"
ranks = data_gym_to_mergeable_bpe_ranks(str(gpt2 / "vocab.bpe"), str(gpt2 / "encoder.json"))
enc = tiktoken.Encoding(
    "gpt2-local",
    pat_str=r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    mergeable_ranks=ranks,
    special_tokens={"<|endoftext|>": 50256},
)
start = time.perf_counter()
ids = enc.encode_ordinary(CORPUS)
secs = time.perf_counter() - start
print(f"tiktoken {tiktoken.__version__} encode gpt2, 1 thread: {MB / secs:6.2f} MB/s ({len(ids)} tokens)")
lines = CORPUS.split("\n")
docs = ["\n".join(lines[i:i + 20000]) for i in range(0, len(lines), 20000)]
start = time.perf_counter()
enc.encode_ordinary_batch(docs, num_threads=2)
secs = time.perf_counter() - start
print(f"tiktoken encode_ordinary_batch, 2 threads: {MB / secs:6.2f} MB/s")

if os.path.exists(BIN):
    for path in FILES:
        ours = subprocess.run([BIN, "tokenizer", "encode", "--tokenizer", str(gpt2), "--input", str(path),
                               "--format", "json"], check=True, capture_output=True).stdout
        same = json.loads(ours) == enc.encode_ordinary(path.read_text(encoding="utf-8"))
        print(f"ids identical to tiktoken: {same}  {path.name}")
else:
    print(f"({BIN} not built: skipping the id comparison)")
