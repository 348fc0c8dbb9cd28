#!/usr/bin/env bash
# Our GPU kernels against burn's own ops on a GPU, as a person with one runs it:
#
#   benches/gpu.sh [--smoke]          # PEAK_GBPS=4800 benches/gpu.sh (an H200) prints fractions
#
# prints the packed mat-vec's achieved bandwidth (Q4_0, Q4_1, Q8_0, int8), the tiled packed matmul
# of a prompt against burn's f32 matmul, fused vs burn attention at contexts 1k, 4k, 8k (prefill
# and decode), SmolLM2-135M prompt and decode tokens/s in Q4_1 and f32 with our kernels on and off
# (f32 off is burn's own path), each kernel's largest difference to burn's result, then GPT-2 124M
# training tokens/s and peak memory on the device. `--smoke` shrinks
# every size for lavapipe (the software Vulkan device), as CI runs it. Env: DEVICE (default wgpu),
# BENCH (the bench_gpu binary; default: built with `cargo build --release --example bench_gpu`),
# CLAUDE_RUST (the binary; default target/release/claude-rust), STEPS (training steps, default 20),
# REDUCTIONS (auto, shared or plane: the kernels' reductions; default auto).
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE="${DEVICE:-wgpu}"
SMOKE="${1:-}"
if [[ -z "${BENCH:-}" || -z "${CLAUDE_RUST:-}" ]]; then
  cargo build --release --quiet -p claude-inference --features claude-tensors/wgpu --example bench_gpu
  cargo build --release --quiet -p claude-cli --features wgpu
  BENCH="${BENCH:-target/release/examples/bench_gpu}"
  CLAUDE_RUST="${CLAUDE_RUST:-target/release/claude-rust}"
fi
"$BENCH" --device "$DEVICE" --reductions "${REDUCTIONS:-auto}" $SMOKE
if [[ "$SMOKE" != "--smoke" ]]; then
  OUT="$(mktemp -d)"
  sed -e "s/^max_steps = .*/max_steps = ${STEPS:-20}/" -e 's/^eval_interval = .*/eval_interval = 1000000/' \
    configs/gpt2-124m.toml > "$OUT/gpt2.toml"
  # GPU memory, sampled while training where nvidia-smi is there.
  if command -v nvidia-smi >/dev/null; then
    (while sleep 1; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits; done) \
      > "$OUT/gpu_mem.txt" 2>/dev/null &
    SAMPLER=$!
  fi
  /usr/bin/time -v "$CLAUDE_RUST" train --no-tui --config "$OUT/gpt2.toml" --device "$DEVICE" --out "$OUT/run" \
    2> "$OUT/time.txt" | grep -E 'tok/s' | tail -3
  grep -E 'Maximum resident' "$OUT/time.txt"
  if [[ -n "${SAMPLER:-}" ]]; then
    kill "$SAMPLER"
    echo "peak GPU memory used: $(sort -n "$OUT/gpu_mem.txt" | tail -1) MiB"
  fi
fi
