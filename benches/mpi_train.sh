#!/usr/bin/env bash
# Data-parallel training on MPI: mean step time and the share of it spent summing gradients, for
# the two shakespeare configs at 1, 2 and 3 ranks on this machine (OpenMPI's mpirun).
#
#   benches/mpi_train.sh
#
# Env: SMALL_STEPS (default 40), LARGE_STEPS (default 4), RANKS (default "1 2 3"), MPIRUN_ARGS
# (e.g. "--mca pml ob1 --mca btl tcp,self" for TCP only), CLAUDE_RUST (the binary; default:
# built with `cargo build --release --features mpi`). Every rank shares the machine's cores.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${CLAUDE_RUST:-}" ]]; then
  cargo build --release --quiet -p claude-cli --features mpi
  CLAUDE_RUST=target/release/claude-rust
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

run() { # config steps ranks
  # One quick evaluation at the end instead of the config's full ones.
  sed -E 's/^eval_iters = .*/eval_iters = 1/' "configs/$1.toml" >"$out/$1.toml"
  echo "final_eval_tokens = 0" >>"$out/$1.toml" # [train] is the last section
  rm -rf "$out/run"
  # shellcheck disable=SC2086
  mpirun --oversubscribe --bind-to none ${MPIRUN_ARGS:-} -np "$3" "$CLAUDE_RUST" train --mpi \
    --config "$out/$1.toml" --out "$out/run" --max-steps "$2" --no-tui |
    grep '^done:' | sed -E 's/.*tokens\/s, ([0-9.]+) ms\/step(, [0-9]+ ranks \(([0-9.]+)%.*)?.*/\1 \3/'
}

printf '%-24s %5s %12s %14s\n' config ranks "ms/step" "communication"
for config in shakespeare-char-small:${SMALL_STEPS:-40} shakespeare-char:${LARGE_STEPS:-4}; do
  for ranks in ${RANKS:-1 2 3}; do
    read -r ms share < <(run "${config%%:*}" "${config##*:}" "$ranks")
    printf '%-24s %5s %12s %13s%%\n' "${config%%:*}" "$ranks" "$ms" "${share:-0}"
  done
done
