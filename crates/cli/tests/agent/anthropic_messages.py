"""The official Anthropic client against `serve` with Qwen2.5 Coder 0.5B Instruct: a message, a
streamed message, `count_tokens`, a tool-use round trip (streamed and not), and errors in
Anthropic's shape. Every check is an assertion; the printed lines are for the reader."""

import json
import os

import anthropic
import jsonschema

# The client appends `/v1/messages` itself.
client = anthropic.Anthropic(base_url=os.environ["BASE_URL"].removesuffix("/v1"), api_key="unused")
MODEL = os.environ.get("MODEL", "qwen")
# The client (2.x) no longer takes sampling parameters as arguments; the API still does.
GREEDY = {"extra_body": {"temperature": 0}}
QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}

# A message, whole and streamed.
message = client.messages.create(model=MODEL, max_tokens=32, messages=QUESTION, **GREEDY)
assert message.type == "message" and message.role == "assistant", message
assert message.stop_reason == "end_turn", message
(block,) = message.content
assert block.type == "text" and "Paris" in block.text, message
assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0, message.usage
print("message:", repr(block.text), message.stop_reason, message.usage)

with client.messages.stream(model=MODEL, max_tokens=32, messages=QUESTION, **GREEDY) as stream:
    streamed = "".join(stream.text_stream)
    final = stream.get_final_message()
assert streamed == block.text and final.stop_reason == "end_turn", (streamed, final)
print("streamed:", repr(streamed))

# Limits and stop sequences are reported as Anthropic does.
cut = client.messages.create(model=MODEL, max_tokens=1, messages=QUESTION, **GREEDY)
assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 1, cut
stopped = client.messages.create(
    model=MODEL, max_tokens=32, messages=QUESTION, stop_sequences=["ari"], **GREEDY
)
assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "ari", stopped
assert stopped.content[0].text == "P", stopped

# count_tokens counts the prompt a message request makes.
count = client.messages.count_tokens(model=MODEL, messages=QUESTION)
assert count.input_tokens == message.usage.input_tokens, (count, message.usage)
print("count_tokens:", count.input_tokens)

# A tool-use round trip: the model must use the tool; its result goes back in a user turn.
messages = [{"role": "user", "content": "What is the weather in Paris right now?"}]
for stream in (False, True):
    kwargs = dict(
        model=MODEL, max_tokens=96, messages=messages, tools=[WEATHER],
        tool_choice={"type": "any"}, **GREEDY
    )
    if stream:
        with client.messages.stream(**kwargs) as events:
            reply = events.get_final_message()
    else:
        reply = client.messages.create(**kwargs)
    assert reply.stop_reason == "tool_use", reply
    (use,) = [b for b in reply.content if b.type == "tool_use"]
    assert use.name == "get_weather", use
    jsonschema.validate(use.input, WEATHER["input_schema"])
    follow_up = messages + [
        {"role": "assistant", "content": reply.content},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": use.id, "content": "18 degrees Celsius, sunny"},
                {"type": "text", "text": "Using that result, answer my question in one sentence."},
            ],
        },
    ]
    answer = client.messages.create(
        model=MODEL, max_tokens=96, messages=follow_up, tools=[WEATHER], **GREEDY
    )
    assert answer.stop_reason == "end_turn", answer
    text = "".join(b.text for b in answer.content if b.type == "text")
    assert "18" in text, answer
    print("tool use" + (" (streamed)" if stream else "") + ":", use.input, "->", repr(text))

# Errors come in Anthropic's shape, with the right status.
try:
    client.messages.create(model="not-served", max_tokens=8, messages=QUESTION)
    raise AssertionError("an unknown model was accepted")
except anthropic.NotFoundError as error:
    assert error.body["type"] == "error" and error.body["error"]["type"] == "not_found_error", error.body
try:
    client.messages.create(model=MODEL, max_tokens=8, messages=QUESTION, extra_body={"top_a": 1})
    raise AssertionError("an unknown field was accepted")
except anthropic.BadRequestError as error:
    assert "top_a" in error.body["error"]["message"], error.body
print("errors: in Anthropic's shape")
