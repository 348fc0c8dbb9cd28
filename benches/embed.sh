#!/usr/bin/env bash
# Sentence embedding throughput of all-MiniLM-L6-v2, ours and sentence-transformers' (when a
# Python with it is given), on the same first N non-empty lines of wikitext-2, in one run.
#
#   PYTHON=/path/to/venv/bin/python benches/embed.sh      # pip install sentence-transformers
#
# Env: N (default 512), THREADS (default 2), BENCH (our bench_embed binary; default: built with
# `cargo build --release -p claude-retrieval --example bench_embed`).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${CLAUDE_RUST_DATA:-$(cd .. && pwd)/shared/data}"
MODEL="$DATA/models/all-minilm-l6-v2"
TEXT="$DATA/eval/wikitext-2-raw-test.txt"
N="${N:-512}"
THREADS="${THREADS:-2}"
export RAYON_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
if [[ -z "${BENCH:-}" ]]; then
  cargo build --release --quiet -p claude-retrieval --example bench_embed
  BENCH=target/release/examples/bench_embed
fi
"$BENCH" "$MODEL" "$TEXT" "$N"
if [[ -n "${PYTHON:-}" ]]; then
  "$PYTHON" - "$MODEL" "$TEXT" "$N" "$THREADS" <<'PY'
import sys, time
import torch
from sentence_transformers import SentenceTransformer
model_dir, text_file, n, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
texts = [l.strip() for l in open(text_file, encoding="utf-8") if l.strip()][:n]
model = SentenceTransformer(model_dir, device="cpu")
model.encode(texts[:32], batch_size=32)
started = time.perf_counter()
model.encode(texts, batch_size=32, normalize_embeddings=True)
seconds = time.perf_counter() - started
tokens = sum(min(len(model.tokenizer(t)["input_ids"]), 256) for t in texts)
print(f"sentence-transformers: {len(texts)} texts, {tokens} tokens in {seconds:.2f} s: "
      f"{len(texts) / seconds:.1f} texts/s, {tokens / seconds:.0f} tokens/s")
PY
fi
