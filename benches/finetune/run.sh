#!/usr/bin/env bash
# LoRA fine-tuning on the CPU, side by side: `claude-rust finetune` (configs/finetune-lora.toml)
# against PyTorch + PEFT (benches/finetune/peft_lora.py), the same model (SmolLM2-135M-Instruct,
# Q4_1 GGUF decoded to f32), data, LoRA settings, optimizer and schedule. RUNS pairs, alternating
# ours / theirs; prints a table of seconds per step, real tokens per second and peak RSS.
#
#   benches/finetune/run.sh                       # 3 pairs, 20 steps each
#   RUNS=1 STEPS=10 benches/finetune/run.sh       # quicker
#   BIN=/path/to/claude-rust TRAIN=... VAL=... PY=... benches/finetune/run.sh
#
# Seconds per step:
#   ours   - the mean of steps 3..STEPS from metrics.jsonl's elapsed_s ((t[STEPS] - t[2]) / (STEPS-2));
#            the first steps carry the warm-up.
#   theirs - the mean of STEPS timed steps after 2 untimed warm-up steps (forward, backward, clip,
#            AdamW step), from the script's own clock.
# Real tokens/s: the non-pad positions the model runs per step / seconds per step. Ours samples
# its batches with its own RNG, which is not visible, so its real tokens per step is the expected
# value, BATCH x the mean example length (inputs: each example less its last token, which is only
# a target); theirs is the exact count of the batches it drew. (Ours also logs the real tokens
# per second of each step in metrics.jsonl.)
# Peak RSS: /usr/bin/time -v's maximum resident set size of the whole process (model load
# included).
set -euo pipefail

cd "$(dirname "$0")/../.."
BIN=${BIN:-target/release/claude-rust}
PY=${PY:-/root/.cache/hf-venv/bin/python}
MODEL=${MODEL:-/work/shared/data/models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf}
TRAIN=${TRAIN:-crates/finetune/tests/data/facts/train.jsonl}
VAL=${VAL:-crates/finetune/tests/data/facts/val.jsonl}
CONFIG=${CONFIG:-configs/finetune-lora.toml}
RUNS=${RUNS:-3}
STEPS=${STEPS:-20}
BATCH=8
OUT=${OUT:-/tmp/bench-ft}
WORK=$(mktemp -d /tmp/ft-bench.XXXXXX)
echo "work dir: $WORK" >&2

# Freeze the inputs for the whole comparison: others may edit the data or rebuild the binary.
cp "$TRAIN" "$WORK/train.jsonl"
cp "$VAL" "$WORK/val.jsonl"
cp "$CONFIG" "$WORK/config.toml"
cp "$BIN" "$WORK/claude-rust"

"$PY" benches/finetune/peft_lora.py --count-only --model-dir "$(dirname "$MODEL")" \
    --gguf "$(basename "$MODEL")" --data "$WORK/train.jsonl" > "$WORK/counts.json" 2>/dev/null

for i in $(seq 1 "$RUNS"); do
    echo "== pair $i/$RUNS: ours" >&2
    rm -rf "$OUT"
    /usr/bin/time -v -o "$WORK/ours-$i.time" "$WORK/claude-rust" finetune --model "$MODEL" \
        --data "$WORK/train.jsonl" --val "$WORK/val.jsonl" --config "$WORK/config.toml" \
        --out "$OUT" --no-tui --max-steps "$STEPS" > "$WORK/ours-$i.log" 2>&1
    cp "$OUT/metrics.jsonl" "$WORK/ours-$i.metrics.jsonl"
    tail -n 2 "$WORK/ours-$i.log" >&2

    echo "== pair $i/$RUNS: pytorch+peft" >&2
    /usr/bin/time -v -o "$WORK/theirs-$i.time" "$PY" benches/finetune/peft_lora.py \
        --model-dir "$(dirname "$MODEL")" --gguf "$(basename "$MODEL")" \
        --data "$WORK/train.jsonl" --steps "$STEPS" --warmup 2 --batch "$BATCH" --threads 2 \
        > "$WORK/theirs-$i.json" 2> "$WORK/theirs-$i.log"
    tail -n 1 "$WORK/theirs-$i.log" >&2
done

python3 - "$WORK" "$RUNS" "$STEPS" "$BATCH" <<'EOF'
import json, re, statistics, sys
work, runs, steps, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def time_v(path):
    t = open(path).read()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
    cpu = re.search(r"Percent of CPU this job got: (\d+)%", t).group(1)
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", t).group(1)
    wall = 0.0
    for part in m.split(":"):
        wall = wall * 60 + float(part)
    return rss, int(cpu), wall

counts = json.load(open(f"{work}/counts.json"))
ours_tok = batch * counts["mean_input_tokens"]
rows = []
for i in range(1, runs + 1):
    ms = [json.loads(l) for l in open(f"{work}/ours-{i}.metrics.jsonl")]
    el = {m["step"]: m["elapsed_s"] for m in ms}
    sec = (el[steps] - el[2]) / (steps - 2)
    rss, cpu, wall = time_v(f"{work}/ours-{i}.time")
    rows.append(("ours", i, sec, ours_tok, ours_tok / sec, rss, cpu, wall, ms[-1]["loss"]))
    th = json.load(open(f"{work}/theirs-{i}.json"))
    rss, cpu, wall = time_v(f"{work}/theirs-{i}.time")
    t = th["timed"]
    rows.append(("pytorch+peft", i, t["sec_per_step"], t["real_tokens_per_step"],
                 t["real_tokens_per_sec"], rss, cpu, wall, th["final_loss"]))

hdr = f"{'impl':<14}{'run':>4}{'s/step':>9}{'real tok/step':>15}{'real tok/s':>12}{'peak RSS MiB':>14}{'CPU%':>6}{'wall s':>8}{'final loss':>12}"
print(hdr)
for r in rows:
    print(f"{r[0]:<14}{r[1]:>4}{r[2]:>9.3f}{r[3]:>15.1f}{r[4]:>12.1f}{r[5]:>14.0f}{r[6]:>6}{r[7]:>8.1f}{r[8]:>12.4f}")
print("median:")
med = {}
for name in ("ours", "pytorch+peft"):
    rs = [r for r in rows if r[0] == name]
    med[name] = [statistics.median(r[k] for r in rs) for k in (2, 3, 4, 5, 7)]
    m = med[name]
    print(f"{name:<14}{'':>4}{m[0]:>9.3f}{m[1]:>15.1f}{m[2]:>12.1f}{m[3]:>14.0f}{'':>6}{m[4]:>8.1f}")
print(f"ratio ours/theirs: s/step {med['ours'][0] / med['pytorch+peft'][0]:.2f}, "
      f"real tok/s {med['ours'][2] / med['pytorch+peft'][2]:.2f}, "
      f"peak RSS {med['ours'][3] / med['pytorch+peft'][3]:.2f}")
print(f"ours: steps 3..{steps} of {steps}; theirs: {steps} steps after 2 untimed; batch {batch}; "
      f"examples {counts['examples']}, mean input length {counts['mean_input_tokens']:.2f}")
EOF
