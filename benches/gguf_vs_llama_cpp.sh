#!/usr/bin/env bash
# Prompt processing (pp512) and decoding (tg128) tokens/s of a GGUF model, ours and llama.cpp's
# llama-bench on the same file, in turn, RUNS times; then batched decoding (BATCHES sequences
# of 128 tokens decoded together after a one-token prompt each, aggregate tokens/s: ours and
# llama-batched-bench's S_TG); then perplexity on wikitext-2 both ways.
#
#   LLAMA_CPP=/path/to/llama.cpp/build/bin benches/gguf_vs_llama_cpp.sh [MODEL.gguf]
#
# Env: THREADS (default 2), RUNS (default 2), BATCHES (default "8 32"; empty skips), CHUNKS
# (perplexity chunks of 512, default 20; 0 skips), BENCH (our bench_gguf binary; default: built
# with `cargo build --release --examples`), CLAUDE_RUST (the binary; default
# target/release/claude-rust). Build llama.cpp from its source (cmake -B build
# -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON && cmake --build build -j).
# Run it on an idle machine: with two threads both programs slow down several-fold when anything
# else runs.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${CLAUDE_RUST_DATA:-$(cd .. && pwd)/shared/data}"
MODEL="${1:-$DATA/models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf}"
THREADS="${THREADS:-2}"
export RAYON_NUM_THREADS="$THREADS"
if [[ -z "${BENCH:-}" || -z "${CLAUDE_RUST:-}" ]]; then
  cargo build --release --quiet -p claude-inference --example bench_gguf
  cargo build --release --quiet -p claude-cli
  BENCH="${BENCH:-target/release/examples/bench_gguf}"
  CLAUDE_RUST="${CLAUDE_RUST:-target/release/claude-rust}"
fi
for _ in $(seq "${RUNS:-2}"); do
  if [[ -n "${LLAMA_CPP:-}" ]]; then
    "$LLAMA_CPP/llama-bench" -m "$MODEL" -t "$THREADS" -p 512 -n 128 -r 3 2>/dev/null |
      grep -E 'pp512|tg128' | awk -F'|' '{printf "llama.cpp %s: %s tokens/s\n", $7, $8}' | tr -s ' '
  fi
  "$BENCH" "$MODEL" 512 128 3
done
for _ in $(seq "${RUNS:-2}"); do
  for batch in ${BATCHES-8 32}; do
    if [[ -n "${LLAMA_CPP:-}" ]]; then
      "$LLAMA_CPP/llama-batched-bench" -m "$MODEL" -t "$THREADS" -c $((129 * batch)) -npp 1 \
        -ntg 128 -npl "$batch" 2>/dev/null | grep -E '^\| +1 \|' |
        awk -F'|' -v b="$batch" '{printf "llama.cpp tg128 x%s: %s tokens/s\n", b, $9}' | tr -s ' '
    fi
    "$BENCH" "$MODEL" 1 128 2 "$batch" | grep tg
  done
done
if [[ "${CHUNKS:-20}" != 0 ]]; then
  TEXT="$DATA/eval/wikitext-2-raw-test.txt"
  if [[ -n "${LLAMA_CPP:-}" ]]; then
    echo -n "llama.cpp perplexity: "
    "$LLAMA_CPP/llama-perplexity" -m "$MODEL" -f "$TEXT" -c 512 --chunks "${CHUNKS:-20}" \
      -t "$THREADS" 2>&1 | grep 'Final estimate'
  fi
  for mode in "" --exact; do
    echo -n "claude-rust perplexity ${mode:-(8-bit activations)}: "
    "$CLAUDE_RUST" perplexity --model "$MODEL" --file "$TEXT" --ctx 512 --chunks "${CHUNKS:-20}" \
      $mode | grep 'Final estimate'
  done
fi
