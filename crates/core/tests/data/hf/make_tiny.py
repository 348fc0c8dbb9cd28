"""Tiny random Hugging Face models and their logits, the reference for reading HF folders.

For each architecture below this builds a small model with transformers (float32, every
parameter drawn at random: biases and norm weights too, so that a missed bias, a norm weight
read without Gemma's `1 +`, or a query/key row left in rotate_half order changes the logits),
saves it with `save_pretrained` into `<arch>/` beside this script (config.json,
model.safetensors, generation_config.json) and writes `<arch>/logits.json`: the logits of every
position of one fixed 24-token sequence, with the torch and transformers versions.

Run (CPU only):
    python -m venv venv && venv/bin/pip install torch transformers safetensors
    venv/bin/python crates/core/tests/data/hf/make_tiny.py

The Rust tests in crates/core/tests/hf.rs read every folder.
"""

import json
import os
import shutil

import torch
import transformers
from transformers import (
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Phi3Config,
    Phi3ForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = 128
SEQ = 24
# A fixed sequence that uses much of the vocabulary.
TOKENS = [(7 + 37 * i + (i * i) % 11) % VOCAB for i in range(SEQ)]

COMMON = dict(
    vocab_size=VOCAB,
    max_position_embeddings=64,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=0,
    attn_implementation="eager",
)

MODELS = {
    # Llama: GQA (4 query heads, 2 key/value heads), untied head.
    "llama": (
        LlamaForCausalLM,
        LlamaConfig(
            hidden_size=64,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            rms_norm_eps=1e-5,
            rope_theta=10000.0,
            tie_word_embeddings=False,
            **COMMON,
        ),
    ),
    # Mistral: every layer attends in a window of 8, shorter than the sequence.
    "mistral": (
        MistralForCausalLM,
        MistralConfig(
            hidden_size=64,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            sliding_window=8,
            rope_theta=10000.0,
            tie_word_embeddings=False,
            **COMMON,
        ),
    ),
    # Qwen2: biases on q, k and v; tied head (as Qwen2.5 0.5B).
    "qwen2": (
        Qwen2ForCausalLM,
        Qwen2Config(
            hidden_size=64,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            rope_theta=1000000.0,
            tie_word_embeddings=True,
            **COMMON,
        ),
    ),
    # Qwen3: per-head q/k norms, head_dim 24 where hidden/heads is 16.
    "qwen3": (
        Qwen3ForCausalLM,
        Qwen3Config(
            hidden_size=64,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=24,
            rope_theta=1000000.0,
            tie_word_embeddings=True,
            **COMMON,
        ),
    ),
    # Gemma 3: head_dim 32 where hidden/heads is 24; layers local, local, global; a window of 6;
    # linear RoPE scaling (factor 2) on the global layer, base 10000 on the local ones.
    "gemma3": (
        Gemma3ForCausalLM,
        Gemma3TextConfig(
            hidden_size=48,
            intermediate_size=64,
            num_hidden_layers=3,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=32,
            query_pre_attn_scalar=32,
            sliding_window=6,
            layer_types=["sliding_attention", "sliding_attention", "full_attention"],
            rope_parameters={
                "full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000000.0},
                "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
            },
            **COMMON,
        ),
    ),
    # Phi-3: fused qkv_proj and gate_up_proj, GQA, no window.
    "phi3": (
        Phi3ForCausalLM,
        Phi3Config(
            hidden_size=64,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            sliding_window=None,
            rope_theta=10000.0,
            tie_word_embeddings=False,
            **COMMON,
        ),
    ),
}


def randomize(model, name):
    """Every parameter at random: weights and biases N(0, 0.15^2), embeddings N(0, 1), norm
    weights around 1 (Gemma stores w for 1 + w: around 0)."""
    gen = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if "norm" in pname:
                base = 0.0 if name == "gemma3" else 1.0
                p.copy_(base + 0.2 * noise)
            elif "embed_tokens" in pname:
                p.copy_(noise)
            else:
                p.copy_(0.15 * noise)


def main():
    torch.manual_seed(0)
    for name, (cls, config) in MODELS.items():
        model = cls(config).to(torch.float32).eval()
        randomize(model, name)
        with torch.no_grad():
            logits = model(torch.tensor([TOKENS])).logits[0]
        out = os.path.join(HERE, name)
        shutil.rmtree(out, ignore_errors=True)
        model.save_pretrained(out, safe_serialization=True)
        reference = {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokens": TOKENS,
            "logits": [[float(f"{x:.7g}") for x in row] for row in logits.tolist()],
        }
        with open(os.path.join(out, "logits.json"), "w") as f:
            json.dump(reference, f, separators=(",", ":"))
            f.write("\n")
        size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
        print(f"{name}: {size // 1024} KB, logits {tuple(logits.shape)}")


if __name__ == "__main__":
    main()
