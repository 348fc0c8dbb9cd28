#!/usr/bin/env bash
# llama.cpp's greedy answers to the held-out questions from the merged fine-tuned model: runs
# the CI-sized LoRA fine-tuning of SmolLM2-135M (what `crates/cli/tests/finetune.rs` runs),
# exports the merged model with `--quant q4_k_m`, and asks llama.cpp's `llama-simple` (greedy)
# each question of heldout.json, rendered as SmolLM2's template renders a one-message chat.
# Writes llama_cpp_answers.json, which the test compares with our answers from the same file.
# Run from the repository root, with llama.cpp built (LLAMA_BIN, default /work/peers/build/bin).
set -euo pipefail
here=crates/finetune/tests/data/facts
bin=${LLAMA_BIN:-/work/peers/build/bin}
data=${CLAUDE_RUST_DATA:-../shared/data}
model=$data/models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo build --release -p claude-cli
cr=target/release/claude-rust
$cr finetune --model "$model" --data $here/train.jsonl --val $here/val.jsonl \
    --config configs/finetune-lora.toml --max-steps 20 --out "$out/run" --no-tui
$cr export --checkpoint "$out/run/checkpoints/best" --quant q4_k_m --out "$out/merged.gguf"
python3 - "$bin/llama-simple" "$out/merged.gguf" "$here" <<'PY'
import json, subprocess, sys
simple, model, here = sys.argv[1:]
system = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
answers = []
for q in json.load(open(f"{here}/heldout.json"))["questions"]:
    prompt = (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{q['question']}"
              "<|im_end|>\n<|im_start|>assistant\n")
    text = subprocess.run([simple, "-m", model, "-n", "20", prompt], capture_output=True,
                          text=True, check=True).stdout
    reply = text[text.rindex("<|im_start|>assistant\n") + len("<|im_start|>assistant\n"):]
    answers.append({"question": q["question"], "llama_cpp": reply.split("<|im_end|>")[0].strip()})
version = subprocess.run([simple.replace("llama-simple", "llama-cli"), "--version"],
                         capture_output=True, text=True).stderr.strip().splitlines()
json.dump({"tool": "llama-simple, greedy, 20 tokens", "llama_cpp": version[:1],
           "answers": answers}, open(f"{here}/llama_cpp_answers.json", "w"), indent=1)
print(json.dumps(answers, indent=1))
PY
