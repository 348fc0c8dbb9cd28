#!/usr/bin/env bash
# Retrieval on XQuAD, ours and the Python tools', in one run: recall@1, recall@5, MRR@10 and
# queries/s of exact dense, HNSW, BM25 (tantivy) and hybrid search, HNSW recall@10 against
# exact search, and embedding throughput (batch 32), beside sentence-transformers with exact
# numpy search and rank_bm25's BM25Okapi on the same paragraphs and questions.
#
#   PYTHON=/path/to/venv/bin/python benches/rag_xquad.sh   # pip install sentence-transformers rank_bm25
#
# Env: THREADS (default 2), BENCH (our bench_xquad binary; default: built with
# `cargo build --release -p claude-retrieval --example bench_xquad`).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${CLAUDE_RUST_DATA:-$(cd .. && pwd)/shared/data}"
MODEL="$DATA/models/all-minilm-l6-v2"
XQUAD="$DATA/rag/xquad.en.json"
THREADS="${THREADS:-2}"
export RAYON_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
if [[ -z "${BENCH:-}" ]]; then
  cargo build --release --quiet -p claude-retrieval --example bench_xquad
  BENCH=target/release/examples/bench_xquad
fi
"$BENCH" "$XQUAD" "$MODEL"
if [[ -n "${PYTHON:-}" ]]; then
  "$PYTHON" benches/rag_xquad_reference.py "$XQUAD" "$MODEL" "$THREADS"
fi
