#!/usr/bin/env bash
# Serving side by side: our `claude-rust serve` and llama.cpp's `llama-server` on the same GGUF
# file, the same machine and the same requests (the `serve_load` example of claude-server: N
# concurrent clients on one thread, each streaming a greedy completion of TOKENS tokens), for 1,
# 8 and 32 clients. Prints one line per server and client count: aggregate tokens/s, per-stream
# tokens/s, time to first token, and each server's peak resident memory (VmHWM) after the runs.
#
#   LLAMA_CPP=/path/to/llama.cpp/build/bin benches/serve_vs_llama_server.sh [MODEL.gguf]
#
# Env: THREADS (default 2), CLIENTS (default "1 8 32"), TOKENS (default 128), ROUNDS (requests
# per client, default 1), CTX (context per sequence, default 512), CLAUDE_RUST (the binary;
# default target/release/claude-rust, built if missing), LOAD (the load driver; default
# target/release/examples/serve_load, built if missing). llama-server gets `-np` = the client
# count and `-c` = CTX x clients (its context is shared by its slots), restarted per count;
# ours gets `--max-batch` = the client count. Run it on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${CLAUDE_RUST_DATA:-$(cd .. && pwd)/shared/data}"
MODEL="${1:-$DATA/models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf}"
THREADS="${THREADS:-2}"
TOKENS="${TOKENS:-128}"
ROUNDS="${ROUNDS:-1}"
CTX="${CTX:-512}"
export RAYON_NUM_THREADS="$THREADS"
if [[ -z "${CLAUDE_RUST:-}" ]]; then
  cargo build --release --quiet -p claude-cli
  CLAUDE_RUST="${CARGO_TARGET_DIR:-target}/release/claude-rust"
fi
if [[ -z "${LOAD:-}" ]]; then
  cargo build --release --quiet -p claude-server --example serve_load
  LOAD="${CARGO_TARGET_DIR:-target}/release/examples/serve_load"
fi
PORT_OURS=18181
PORT_THEIRS=18182
SERVER_PID=""

stop() {
  if [[ -n "$SERVER_PID" ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
trap stop EXIT

# Waits until the server on port $1 answers /health (or /v1/models), at most 120 s.
wait_up() {
  for _ in $(seq 240); do
    if curl -sf "http://127.0.0.1:$1/health" >/dev/null 2>&1 ||
      curl -sf "http://127.0.0.1:$1/v1/models" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  echo "server on port $1 did not start" >&2
  return 1
}

peak() { awk '/VmHWM/ {printf "%d MiB", $2 / 1024}' "/proc/$1/status"; }

for n in ${CLIENTS:-1 8 32}; do
  "$CLAUDE_RUST" serve --model "$MODEL" --port "$PORT_OURS" --ctx-size "$CTX" \
    --max-batch "$n" --queue 256 --max-tokens "$TOKENS" >/tmp/claude-rust-serve.log 2>&1 &
  SERVER_PID=$!
  wait_up "$PORT_OURS"
  "$LOAD" --url "http://127.0.0.1:$PORT_OURS" --clients "$n" \
    --tokens "$TOKENS" --rounds "$ROUNDS" --model "$(basename "$MODEL" .gguf)" --name "claude-rust" | tr '\n' ' '
  echo "peak=$(peak "$SERVER_PID")"
  stop
  if [[ -n "${LLAMA_CPP:-}" ]]; then
    "$LLAMA_CPP/llama-server" -m "$MODEL" --port "$PORT_THEIRS" -t "$THREADS" -np "$n" \
      -c $((CTX * n)) --no-webui >/tmp/llama-server.log 2>&1 &
    SERVER_PID=$!
    wait_up "$PORT_THEIRS"
    "$LOAD" --url "http://127.0.0.1:$PORT_THEIRS" --clients "$n" \
      --tokens "$TOKENS" --rounds "$ROUNDS" --name "llama-server" | tr '\n' ' '
    echo "peak=$(peak "$SERVER_PID")"
    stop
  fi
done
