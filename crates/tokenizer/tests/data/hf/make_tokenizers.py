"""Hugging Face tokenizer.json files of three real vocabularies, and the ids `tokenizers` gives.

transformers converts the tokenizer of each GGUF file below into a Hugging Face folder
(`AutoTokenizer.from_pretrained(dir, gguf_file=...)`, then `save_pretrained`): tokenizer.json,
tokenizer_config.json and the chat template. Those folders are large (up to 33 MB) and are not
committed: they go into the cache `$CLAUDE_RUST_MODELS/hf-tokenizers/<name>/` (default
`~/.cache/claude-rust/models`), which the Rust test `hf_tokenizers` reads. With `--expected`
this also rewrites `expected_ids.json` beside this script (committed): for every case, the ids
of `tokenizers.Tokenizer.from_file(tokenizer.json).encode(text)` (special-token text matched,
BOS where the post-processor adds it), with the library versions.

Sources: ../shared/scripts/fetch-models.sh assembles the Qwen2.5 Coder and Gemma 3 files; SmolLM2
is in the shared data (models/smollm2-135m-instruct-q4_1).

Run:
    python -m venv venv && venv/bin/pip install torch transformers tokenizers gguf sentencepiece protobuf
    venv/bin/python crates/tokenizer/tests/data/hf/make_tokenizers.py [--expected]
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "../../../../.."))
MODELS = os.environ.get("CLAUDE_RUST_MODELS", os.path.expanduser("~/.cache/claude-rust/models"))
SHARED = os.environ.get("CLAUDE_RUST_DATA", os.path.join(REPO, "..", "shared", "data"))
CACHE = os.path.join(MODELS, "hf-tokenizers")

SOURCES = {
    # name: the GGUF file transformers converts
    "qwen2.5-coder-0.5b-instruct": os.path.join(MODELS, "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
    "gemma-3-270m": os.path.join(MODELS, "gemma-3-270m-q4_k_m.gguf"),
    "smollm2-135m-instruct": os.path.join(
        SHARED, "models", "smollm2-135m-instruct-q4_1", "SmolLM2-135M-Instruct.Q4_1.gguf"
    ),
}

COMMON_CASES = {
    "english": "The quick brown fox jumps over the lazy dog. It's a test, isn't it?",
    "code": "def add(a, b):\n    if a > b:\n        return a + b\n\treturn b - a  # tabs\n",
    "digits": "1234567 and 3.14159, 00042 or 1,000,000",
    "cjk_emoji": "日本語のテキストと中文，还有한국어 🚀🦀 😶‍🌫️ café naïve",
    "spaces": "a  b   c\n\n\nd \n \n  e\t\t f    \n",
    "leading_space": " hello world ",
}
SPECIAL_CASES = {
    "qwen2.5-coder-0.5b-instruct": "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "smollm2-135m-instruct": "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "gemma-3-270m": "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n",
}


def convert(name, gguf):
    from transformers import AutoTokenizer

    out = os.path.join(CACHE, name)
    if os.path.isfile(os.path.join(out, "tokenizer.json")):
        return out
    directory, file = os.path.split(gguf)
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=file)
    tmp = out + ".tmp"
    tokenizer.save_pretrained(tmp)
    os.replace(tmp, out)
    return out


def main():
    import tokenizers
    import transformers

    expected = {}
    for name, gguf in SOURCES.items():
        if not os.path.isfile(gguf):
            sys.exit(f"{gguf} is missing (run ../shared/scripts/fetch-models.sh)")
        folder = convert(name, gguf)
        print(f"{name}: {folder}")
        tokenizer = tokenizers.Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        cases = dict(COMMON_CASES, special=SPECIAL_CASES[name])
        expected[name] = {
            "source": os.path.basename(gguf),
            "tokenizers": tokenizers.__version__,
            "transformers": transformers.__version__,
            "cases": {
                case: {"text": text, "ids": tokenizer.encode(text).ids}
                for case, text in cases.items()
            },
        }
    if "--expected" in sys.argv:
        with open(os.path.join(HERE, "expected_ids.json"), "w") as f:
            json.dump(expected, f, indent=1, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    main()
