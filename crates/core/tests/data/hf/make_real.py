"""Real Hugging Face model folders, for `tests/hf_real.rs`: the weights of two GGUF models
(Gemma 3 270M, Qwen2.5 Coder 0.5B Instruct; ../shared/scripts/fetch-models.sh assembles them)
dequantized by transformers and saved with `save_pretrained` as f32 safetensors shards (so the
sharded index is read too), with their tokenizer, into `$CLAUDE_RUST_MODELS/hf-models/<name>/`
(default `~/.cache/claude-rust/models`; 1 to 2 GB each, not committed), and `reference.json`:
transformers' logits (f32) at the last two positions of one prompt, the prompt's ids and the
argmax of the last.

Run:
    python -m venv venv && venv/bin/pip install torch transformers accelerate gguf sentencepiece protobuf
    venv/bin/python crates/core/tests/data/hf/make_real.py
"""

import json
import os

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

MODELS = os.environ.get("CLAUDE_RUST_MODELS", os.path.expanduser("~/.cache/claude-rust/models"))
SOURCES = {
    "gemma-3-270m": "gemma-3-270m-q4_k_m.gguf",
    "qwen2.5-coder-0.5b-instruct": "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
}
PROMPT = "The capital of France is Paris. The capital of Germany is"


def convert(gguf, out):
    """The GGUF file's model, dequantized to f32, saved as a plain Hugging Face folder."""
    model = AutoModelForCausalLM.from_pretrained(MODELS, gguf_file=gguf, dtype=torch.float32)
    config = model.config
    # A model loaded from GGUF is marked quantized; a fresh one holding its values is not.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict())
    tmp = out + ".tmp"
    plain.save_pretrained(tmp, safe_serialization=True, max_shard_size="500MB")
    AutoTokenizer.from_pretrained(MODELS, gguf_file=gguf).save_pretrained(tmp)
    os.replace(tmp, out)


def main():
    for name, gguf in SOURCES.items():
        out = os.path.join(MODELS, "hf-models", name)
        if not os.path.isfile(os.path.join(out, "config.json")):
            convert(gguf, out)
        model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
        ids = AutoTokenizer.from_pretrained(out)(PROMPT).input_ids
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
        reference = {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "prompt": PROMPT,
            "ids": ids,
            "before_last": logits[-2].tolist(),
            "last": logits[-1].tolist(),
            "next": int(logits[-1].argmax()),
        }
        with open(os.path.join(out, "reference.json"), "w") as f:
            json.dump(reference, f)
        print(f"{name}: {out}, next token {reference['next']}")


if __name__ == "__main__":
    main()
