#!/usr/bin/env bash
# Training throughput of claude-rust and, side by side in the same run, of nanoGPT on PyTorch
# (when a Python with torch and a nanoGPT checkout are given), on the two shakespeare configs.
#
#   benches/train_throughput.sh                      # claude-rust only
#   PYTHON=/path/to/venv/bin/python NANOGPT=/path/to/nanoGPT benches/train_throughput.sh
#
# Env: SMALL_STEPS (default 40), LARGE_STEPS (default 8), THREADS (default: all cores),
# DEVICE (default cpu; `cpu,cpu` runs two data-parallel workers), CLAUDE_RUST (the binary;
# default: built with `cargo build --release`). nanoGPT needs its shakespeare_char data
# prepared (data/shakespeare_char/prepare.py). Both run nanoGPT's exact model (learned positions).
# Reports the median tokens/s over the steps after the first few (warm-up).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="${THREADS:-$(nproc)}"
export RAYON_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS"
if [[ -z "${CLAUDE_RUST:-}" ]]; then
  cargo build --release --quiet -p claude-cli
  CLAUDE_RUST=target/release/claude-rust
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

ours() { # config steps
  # nanoGPT's model; one quick evaluation at the end instead of the config's full ones.
  sed -E 's/^positions = .*/positions = "learned"/; s/^eval_iters = .*/eval_iters = 1/' \
    "configs/$1.toml" >"$out/$1.toml"
  echo "final_eval_tokens = 0" >>"$out/$1.toml" # [train] is the last section
  "$CLAUDE_RUST" train --config "$out/$1.toml" --out "$out/$1" --max-steps "$2" \
    --device "${DEVICE:-cpu}" --no-tui >/dev/null
  tail -n +4 "$out/$1/metrics.jsonl" | sed -E 's/.*"tokens_per_sec":([0-9.e+-]+).*/\1/' | median
}

theirs() { # tokens_per_iter steps nanoGPT-args...
  local tokens=$1 steps=$2; shift 2
  (cd "$NANOGPT" && "$PYTHON" train.py config/train_shakespeare_char.py --device=cpu --compile=False \
     --eval_interval=100000 --eval_iters=1 --log_interval=1 --max_iters="$steps" \
     --out_dir="$out/nanogpt" "$@") 2>/dev/null |
    awk -v t="$tokens" '/^iter [0-9]+: loss/ { n++; if (n > 3) { sub("ms,", "", $6); print t / ($6 / 1000) } }' | median
}

printf '%-26s %16s %16s\n' config "claude-rust tok/s" "PyTorch tok/s"
for spec in "shakespeare-char-small ${SMALL_STEPS:-40} 768" "shakespeare-char ${LARGE_STEPS:-8} 16384"; do
  read -r config steps tokens <<<"$spec"
  mine=$(ours "$config" "$steps")
  if [[ -n "${PYTHON:-}" && -n "${NANOGPT:-}" ]]; then
    if [[ $config == shakespeare-char-small ]]; then
      torch=$(theirs "$tokens" "$steps" --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 \
        --n_embd=128 --lr_decay_iters=2000 --dropout=0.0)
    else
      torch=$(theirs "$tokens" "$steps")
    fi
  else
    torch="-"
  fi
  printf '%-26s %16.0f %16s\n' "$config" "$mine" "$torch"
done
