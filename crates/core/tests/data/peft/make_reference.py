"""Hugging Face PEFT's logits with our adapter folder, the reference for writing PEFT adapters.

`adapter/` beside this script is a PEFT folder written by our `Gpt::save_adapter_peft` (the
Rust test `peft::writes_the_committed_adapter` in crates/core/tests/peft.rs checks it is byte
for byte what we write, and with CLAUDE_RUST_REWRITE_REFERENCES=1 writes it): rank 4,
lora_alpha 8, non-zero A and B on q, k, v, o, gate, up and down of both blocks of the tiny
random Llama `../hf/llama/` (made by `../hf/make_tiny.py`; 4 query heads sharing 2 key/value
heads, so a query or key row of B in the wrong head order shows).

This loads the base model with transformers in float64, puts the adapter on it with
`PeftModel.from_pretrained(base, "adapter")`, checks that PEFT took every tensor of the file
as it is and nothing else (failing loudly otherwise, and on any warning about missing or
unexpected keys), and writes `reference.json`: the logits of every position of a fixed
6-token sequence, of the base model and of the adapted one, with the torch, transformers and
PEFT versions. It also records how far the adapted logits move when the query and key rows of
B are put in the wrong (interleaved) order, to show the reference would catch that.

Run (CPU only):
    python -m venv venv && venv/bin/pip install torch transformers safetensors peft
    venv/bin/python crates/core/tests/data/peft/make_reference.py

The Rust test `peft::peft_logits_match` reads it.
"""

import json
import os
import sys
import warnings

import peft
import torch
import transformers
from peft import PeftModel
from peft.tuners.lora import LoraLayer
from safetensors.torch import load_file
from transformers import LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = os.path.join(HERE, "..", "hf", "llama")
ADAPTER = os.path.join(HERE, "adapter")
TOKENS = [1, 37, 90, 5, 64, 111]
RANK = 4
ALPHA = 8
MODULES = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def fail(message):
    sys.exit(f"make_reference.py: {message}")


def load_base():
    return LlamaForCausalLM.from_pretrained(
        BASE, dtype=torch.float64, attn_implementation="eager"
    ).eval()


def load_adapted():
    """The base with our adapter, through PEFT; fails on any warning of missing or unexpected
    keys."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = PeftModel.from_pretrained(load_base(), ADAPTER).eval()
    for warning in caught:
        text = str(warning.message)
        print(f"warning: {warning.category.__name__}: {text}")
        if any(word in text.lower() for word in ("missing", "unexpected", "adapter")):
            fail(f"PEFT warned while loading the adapter: {text}")
    return model


def check_loaded(model):
    """PEFT's config and LoRA weights are the file's: the same names (none missing, none
    unexpected) and values, scaled by alpha / r."""
    config = model.peft_config["default"]
    expected = dict(peft_type="LORA", r=RANK, lora_alpha=ALPHA, use_rslora=False)
    expected.update(use_dora=False, fan_in_fan_out=False, bias="none")
    for key, value in expected.items():
        got = getattr(config, key)
        got = getattr(got, "value", got)
        if got != value:
            fail(f"peft_config {key} is {got!r}, expected {value!r}")
    if set(config.target_modules) != MODULES:
        fail(f"peft_config target_modules is {config.target_modules}")

    stored = load_file(os.path.join(ADAPTER, "adapter_model.safetensors"))
    loaded = {}
    for name, param in model.named_parameters():
        if "lora_" in name:
            loaded[name.replace(".default.weight", ".weight")] = param
    if set(loaded) != set(stored):
        missing = sorted(set(stored) - set(loaded))
        unexpected = sorted(set(loaded) - set(stored))
        fail(f"LoRA tensors differ: not loaded {missing}, not in the file {unexpected}")
    for name, tensor in stored.items():
        if not torch.equal(loaded[name].detach().to(torch.float32), tensor):
            fail(f"{name} as PEFT loaded it differs from the file's")
    adapted = 0
    for name, module in model.named_modules():
        if isinstance(module, LoraLayer):
            if module.scaling["default"] != ALPHA / RANK:
                fail(f"{name} is scaled by {module.scaling['default']}")
            adapted += 1
    if adapted != 2 * len(MODULES) or len(stored) != 2 * adapted:
        fail(f"{adapted} adapted modules, {len(stored)} tensors")


def logits(model):
    with torch.no_grad():
        return model(torch.tensor([TOKENS])).logits[0].to(torch.float64)


def interleaved(b, head_dim):
    """B's rows of each head from NeoX order (first halves, then second halves of the rotated
    pairs) to interleaved order (the pairs side by side): the wrong order for this model."""
    heads = b.shape[0] // head_dim
    half = head_dim // 2
    order = [h * head_dim + k // 2 + (k % 2) * half for h in range(heads) for k in range(head_dim)]
    return b[order]


def main():
    base = load_base()
    head_dim = base.config.hidden_size // base.config.num_attention_heads
    if base.config.num_key_value_heads >= base.config.num_attention_heads:
        fail("the base model should share key/value heads (GQA)")
    base_logits = logits(base)

    model = load_adapted()
    check_loaded(model)
    adapted_logits = logits(model)
    moved = (adapted_logits - base_logits).abs().max().item()

    # The same in float32 must agree with float64 well within the Rust test's tolerance.
    float32 = logits(model.to(torch.float32))
    float32_diff = (float32 - adapted_logits).abs().max().item()
    if float32_diff > 1e-5 * max(1.0, adapted_logits.abs().max().item()):
        fail(f"float32 logits differ from float64 ones by {float32_diff}")
    model.to(torch.float64)

    # Query and key rows of B in the wrong order must move the logits far beyond tolerance.
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, LoraLayer) and name.endswith(("q_proj", "k_proj")):
                weight = module.lora_B["default"].weight
                weight.copy_(interleaved(weight, head_dim))
    wrong_order = (logits(model) - adapted_logits).abs().max().item()
    if wrong_order < 1e-2:
        fail(f"the q/k row order moves the logits by only {wrong_order}")

    reference = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "dtype": "float64",
        "tokens": TOKENS,
        "adapted_minus_base_max": moved,
        "float32_minus_float64_max": float32_diff,
        "wrong_qk_order_minus_adapted_max": wrong_order,
        "base_logits": base_logits.tolist(),
        "adapted_logits": adapted_logits.tolist(),
    }
    with open(os.path.join(HERE, "reference.json"), "w") as f:
        json.dump(reference, f, separators=(",", ":"))
        f.write("\n")
    print(
        f"peft {peft.__version__}: logits {tuple(adapted_logits.shape)}, adapters move them by "
        f"up to {moved:.3f}, float32 vs float64 {float32_diff:.2e}, wrong q/k order "
        f"{wrong_order:.3f}"
    )


if __name__ == "__main__":
    main()
