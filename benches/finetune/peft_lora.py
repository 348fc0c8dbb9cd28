#!/usr/bin/env python3
"""LoRA fine-tuning speed/memory baseline: PyTorch + PEFT on the CPU.

Mirrors `claude-rust finetune --config configs/finetune-lora.toml` on the same data and the
same weights (SmolLM2-135M-Instruct, Q4_1 GGUF dequantized to f32):

- chat examples rendered with the model's chat template; the loss counts only the assistant's
  tokens (its content and the closing <|im_end|>, not the newline after it); the example ends
  there;
- LoRA r=16, alpha=32, dropout=0.05 on q,k,v,o,gate,up,down projections;
- AdamW (betas 0.9/0.95, eps 1e-8, weight decay 0), peak lr 2e-3, grad-norm clip 1.0,
  warmup 5 steps then cosine to 2e-4 (the config's schedule; --constant-lr for a flat 2e-3);
- batch of 8 rows drawn at random with replacement, padded to the longest row of the batch;
- f32, torch.set_num_threads(2), no gradient checkpointing.

The --warmup untimed steps (default 2) are real training steps that come first; the schedule
spans all warmup + timed steps. Seconds per step cover forward, backward, clipping and the
optimizer step (batch assembly excluded; it is negligible).

Prints one JSON object on stdout.
"""

import argparse
import json
import math
import random
import resource
import sys
import time

import torch


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--model-dir", default="/work/shared/data/models/smollm2-135m-instruct-q4_1")
    p.add_argument("--gguf", default="SmolLM2-135M-Instruct.Q4_1.gguf")
    p.add_argument("--data", default="crates/finetune/tests/data/facts/train.jsonl")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=2, help="untimed steps before the timed ones")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--constant-lr", action="store_true")
    p.add_argument("--count-only", action="store_true",
                   help="print the examples' token counts as JSON (no model, no training)")
    return p.parse_args()


def load_examples(path, tok):
    """Token ids and labels (-100 outside the assistant's counted span) per example."""
    examples = []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            messages = json.loads(line)["messages"]
            ids, labels = [], []
            done = ""
            last_counted_end = 0
            for i, m in enumerate(messages):
                if m["role"] != "assistant":
                    continue
                prompt = tok.apply_chat_template(messages[:i], tokenize=False,
                                                 add_generation_prompt=True)
                through = tok.apply_chat_template(messages[: i + 1], tokenize=False)
                assert prompt.startswith(done) and through.startswith(prompt)
                context = prompt[len(done):]
                reply = through[len(prompt):]
                marker = "<|im_end|>"
                at = reply.rindex(marker) + len(marker)
                counted, tail = reply[:at], reply[at:]
                c_ids = tok.encode(context, add_special_tokens=False)
                ids += c_ids
                labels += [-100] * len(c_ids)
                r_ids = tok.encode(counted, add_special_tokens=False)
                ids += r_ids
                labels += r_ids
                last_counted_end = len(ids)
                t_ids = tok.encode(tail, add_special_tokens=False)
                ids += t_ids
                labels += [-100] * len(t_ids)
                done = through
            # The example ends with the last counted reply's marker.
            ids, labels = ids[:last_counted_end], labels[:last_counted_end]
            labels[0] = -100  # nothing predicts the first token
            examples.append((ids, labels))
    return examples


def make_batch(rows, pad_id):
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (ids, lab) in enumerate(rows):
        n = len(ids)
        input_ids[r, :n] = torch.tensor(ids)
        labels[r, :n] = torch.tensor(lab)
        attn[r, :n] = 1
    return input_ids, labels, attn


def lr_at(step, max_steps, lr=2e-3, warmup=5, min_lr=2e-4):
    """0-based step; the same warmup + cosine as the trainer's schedule."""
    if step < warmup:
        return lr * (step + 1) / (warmup + 1)
    if step > max_steps:
        return min_lr
    span = max(max_steps - warmup, 1)
    progress = (step - warmup) / span
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    import peft
    import transformers
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(args.model_dir, gguf_file=args.gguf)
    if args.count_only:
        examples = load_examples(args.data, tok)
        lengths = [len(ids) for ids, _ in examples]
        print(json.dumps({"examples": len(lengths), "input_tokens": sum(lengths),
                          "mean_input_tokens": sum(lengths) / len(lengths),
                          "longest": max(lengths),
                          "counted_tokens": sum(sum(1 for x in lab if x != -100)
                                                for _, lab in examples)}))
        return
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, gguf_file=args.gguf,
                                                 torch_dtype=torch.float32)
    load_s = time.perf_counter() - t0
    model.config.use_cache = False
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

    examples = load_examples(args.data, tok)
    n_tokens = sum(len(ids) for ids, _ in examples)
    n_counted = sum(sum(1 for x in lab if x != -100) for _, lab in examples)

    cfg = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, bias="none", task_type="CAUSAL_LM",
                     target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                     "gate_proj", "up_proj", "down_proj"])
    model = get_peft_model(model, cfg)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for p in trainable)
    n_total = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(trainable, lr=2e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)

    total_steps = args.warmup + args.steps
    steps = []
    for step in range(total_steps):
        rows = [examples[rng.randrange(len(examples))] for _ in range(args.batch)]
        real = sum(len(ids) for ids, _ in rows)
        padded = len(rows) * max(len(ids) for ids, _ in rows)
        input_ids, labels, attn = make_batch(rows, pad_id)
        lr = 2e-3 if args.constant_lr else lr_at(step, total_steps)
        for g in opt.param_groups:
            g["lr"] = lr
        t = time.perf_counter()
        out = model(input_ids=input_ids, attention_mask=attn, labels=labels)
        out.loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t
        steps.append({"step": step + 1, "timed": step >= args.warmup, "loss": out.loss.item(),
                      "lr": lr, "grad_norm": float(gn), "seconds": dt, "real_tokens": real,
                      "padded_tokens": padded})
        print(f"step {step + 1:3d}/{total_steps} loss {out.loss.item():.4f} lr {lr:.2e} "
              f"gn {float(gn):.3f} {dt:.3f}s {real} tok", file=sys.stderr, flush=True)

    timed = [s for s in steps if s["timed"]]

    def summary(ss):
        sec = sum(s["seconds"] for s in ss) / len(ss)
        tok_ = sum(s["real_tokens"] for s in ss) / len(ss)
        pad = sum(s["padded_tokens"] for s in ss) / len(ss)
        return {"steps": len(ss), "sec_per_step": sec, "real_tokens_per_step": tok_,
                "real_tokens_per_sec": tok_ / sec, "padded_tokens_per_sec": pad / sec}

    result = {
        "impl": "pytorch+peft",
        "torch": torch.__version__, "transformers": transformers.__version__,
        "peft": peft.__version__, "threads": torch.get_num_threads(),
        "examples": len(examples), "example_tokens": n_tokens, "counted_tokens": n_counted,
        "trainable_params": n_trainable, "total_params": n_total,
        "load_seconds": load_s,
        "warmup_steps_untimed": args.warmup,
        "timed": summary(timed),
        "final_loss": steps[-1]["loss"],
        "losses": [round(s["loss"], 4) for s in steps],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
