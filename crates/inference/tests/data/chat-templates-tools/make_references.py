"""Reference renders of the shared chat templates with tools, by Hugging Face `transformers`.

For every template in the shared `chat-templates/` folder whose text mentions `tools` or
`tool_calls`, renders two fixed conversations the way `tokenizer.apply_chat_template(messages,
tools=TOOLS, add_generation_prompt=True)` does (the same normalisation of messages, the same
renderer), and writes `expected.json` beside this script: template file name -> conversation
name -> the rendered text, or {"error": message} where transformers raised.

Run it with the venv that has transformers:

    /root/.cache/hf-venv/bin/python crates/inference/tests/data/chat-templates-tools/make_references.py

The Rust test `chat_templates::tools_render_as_transformers_renders_them` renders the same
conversations (it hard-codes them too: keep both in step) and compares.
"""

import datetime as _datetime
import json
import os
import sys
from pathlib import Path

import jinja2
import transformers
from transformers.utils import chat_template_utils
from transformers.utils.chat_template_utils import _normalize_chat_messages, render_jinja_template

HERE = Path(__file__).resolve().parent
TEMPLATES = Path(os.environ.get("CLAUDE_SHARED_DATA", "/work/shared/data")) / "chat-templates"

# The clock the templates see (`strftime_now`, and `datetime` for Firefunction), UTC.
NOW_UNIX = 1741944413  # 2025-03-14 09:26:53 UTC
NOW = _datetime.datetime(2025, 3, 14, 9, 26, 53)
assert int(NOW.replace(tzinfo=_datetime.timezone.utc).timestamp()) == NOW_UNIX


class _FixedClock(_datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return NOW


# `strftime_now` calls the module's `datetime.now()`.
chat_template_utils.datetime = _FixedClock

BOS = "<s>"
EOS = "</s>"

# OpenAI's key order. The Rust side takes tools as `serde_json::Value`, whose maps keep their
# keys' order with serde_json's `preserve_order` feature (on in this workspace).
def _tool(name, description, properties, required):
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


TOOLS = [
    _tool(
        "get_weather",
        "Get the current weather in a city.",
        {
            "city": {"type": "string", "description": "The city, e.g. Paris"},
            "unit": {
                "type": "string",
                "enum": ["celsius", "fahrenheit"],
                "description": "The temperature unit",
            },
        },
        ["city"],
    ),
    _tool(
        "add",
        "Add two numbers.",
        {
            "a": {"type": "number", "description": "The first number"},
            "b": {"type": "number", "description": "The second number"},
        },
        ["a", "b"],
    ),
]

SYSTEM = "You are a helpful assistant."
USER = "What is the weather in Paris? Answer in \"celsius\", s'il vous plaît."
# Arguments in their given (unsorted) order: the Rust side parses the JSON text keeping it.
CALL = {
    "id": "call12345",
    "type": "function",
    "function": {"name": "get_weather", "arguments": {"unit": "celsius", "city": "Paris"}},
}
RESULT = '{"temperature": 18, "condition": "sunny"}'
REPLY = "It is 18 °C and sunny in Paris."
FOLLOW_UP = "Thanks! And what is 2 + 3?"

def round_trip(call_content):
    """System, user, an assistant tool call with `call_content`, its result, a reply, a user turn."""
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": USER},
        {"role": "assistant", "content": call_content, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call12345", "name": "get_weather", "content": RESULT},
        {"role": "assistant", "content": REPLY},
        {"role": "user", "content": FOLLOW_UP},
    ]


# Tool call IDs of nine letters and digits, as Mistral's templates demand.
CONVERSATIONS = {
    "tools": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": USER},
    ],
    # The tool call's message with empty text, which most templates accept...
    "tool_round_trip": round_trip(""),
    # ...and with OpenAI's `content: null` (transformers drops keys whose value is None).
    "tool_call_without_content": round_trip(None),
}


def render(source, messages):
    kwargs = {
        "bos_token": BOS,
        "eos_token": EOS,
        # What the Rust side also gives every template (llama.cpp's variables for Firefunction).
        "datetime": NOW.strftime("%b %d %Y %H:%M:%S GMT"),
        "functions": json.dumps(TOOLS, indent=2, ensure_ascii=False),
    }
    rendered, _ = render_jinja_template(
        conversations=[_normalize_chat_messages(messages)],
        tools=TOOLS,
        chat_template=source,
        add_generation_prompt=True,
        **kwargs,
    )
    return rendered[0]


def main():
    out = {
        "transformers": transformers.__version__,
        "jinja2": jinja2.__version__,
        "now_unix": NOW_UNIX,
        "templates": {},
    }
    for path in sorted(TEMPLATES.glob("*.jinja")):
        source = path.read_text()
        if "tools" not in source and "tool_calls" not in source:
            continue
        results = {}
        for name, messages in CONVERSATIONS.items():
            try:
                results[name] = render(source, messages)
            except Exception as e:  # noqa: BLE001 - the template's own error is the reference
                results[name] = {"error": str(e)}
        out["templates"][path.name] = results
    target = HERE / "expected.json"
    target.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    errors = sum(isinstance(r, dict) for t in out["templates"].values() for r in t.values())
    print(f"{len(out['templates'])} templates, {errors} errors -> {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
