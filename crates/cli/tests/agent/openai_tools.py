"""The official OpenAI client against `serve` with Qwen2.5 Coder 0.5B Instruct: a tool-call round
trip (the model calls, the tool's result goes back, the model answers), streamed and not;
`chat.completions.parse` with a Pydantic model; log probabilities consistent with greedy choice.
Every check is an assertion; the printed lines are for the reader."""

import json
import os

import jsonschema
import openai
import pydantic

client = openai.OpenAI(base_url=os.environ["BASE_URL"], api_key="unused")
MODEL = os.environ.get("MODEL", "qwen")
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
SCHEMA = WEATHER["function"]["parameters"]
QUESTION = "What is the weather in Paris right now?"


def get_weather(city, unit="celsius"):
    return {"city": city, "temperature": 18, "unit": unit, "sky": "sunny"}


# Qwen2.5 Coder 0.5B, given a tool's result as the last message, calls the tool again (and
# llama-server, on the same prompt, writes the same calls as text): a user turn after the result
# asks for the answer.
FOLLOW_UP = "Using that result, answer my question in one sentence."


def answer_with_result(messages, call_id, arguments, stream):
    """Sends the tool's result back and returns the model's text answer and finish reason."""
    result = json.dumps(get_weather(**arguments))
    messages = messages + [
        {"role": "tool", "tool_call_id": call_id, "content": result},
        {"role": "user", "content": FOLLOW_UP},
    ]
    kwargs = dict(model=MODEL, messages=messages, tools=[WEATHER], temperature=0, max_tokens=96)
    if not stream:
        reply = client.chat.completions.create(**kwargs)
        return reply.choices[0].message.content, reply.choices[0].finish_reason
    text, finish = "", None
    for chunk in client.chat.completions.create(stream=True, **kwargs):
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    return text, finish


# A round trip, not streamed: the client's own message object goes back as it came.
messages = [{"role": "user", "content": QUESTION}]
first = client.chat.completions.create(
    model=MODEL, messages=messages, tools=[WEATHER], temperature=0, max_tokens=96
)
choice = first.choices[0]
assert choice.finish_reason == "tool_calls", choice
assert choice.message.content is None, choice.message
(call,) = choice.message.tool_calls
assert call.type == "function" and call.function.name == "get_weather", call
arguments = json.loads(call.function.arguments)
jsonschema.validate(arguments, SCHEMA)
text, finish = answer_with_result(messages + [choice.message], call.id, arguments, stream=False)
assert finish == "stop" and "18" in text, (finish, text)
print("round trip:", call.function.name, arguments, "->", repr(text))

# The same, streamed: the name comes first, then argument fragments that join into the JSON.
deltas = []
finish = None
for chunk in client.chat.completions.create(
    model=MODEL, messages=messages, tools=[WEATHER], temperature=0, max_tokens=96, stream=True
):
    if not chunk.choices:
        continue
    delta = chunk.choices[0].delta
    assert not delta.content, f"tool-call markup leaked as content: {delta}"
    deltas.extend(delta.tool_calls or [])
    finish = chunk.choices[0].finish_reason or finish
assert finish == "tool_calls", finish
head, rest = deltas[0], deltas[1:]
assert head.index == 0 and head.id and head.function.name == "get_weather", head
assert rest and all(d.id is None and d.function.name is None for d in rest), rest
streamed_arguments = json.loads("".join(d.function.arguments for d in deltas))
assert streamed_arguments == arguments, (streamed_arguments, arguments)
assistant = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {
            "id": head.id,
            "type": "function",
            "function": {"name": "get_weather", "arguments": json.dumps(streamed_arguments)},
        }
    ],
}
text, finish = answer_with_result(messages + [assistant], head.id, streamed_arguments, stream=True)
assert finish == "stop" and "18" in text, (finish, text)
print("streamed round trip:", len(deltas), "deltas ->", repr(text))


# Structured output: the Pydantic model's strict JSON schema, parsed by the client.
class City(pydantic.BaseModel):
    name: str
    country: str
    population_millions: float
    landmarks: list[str]


parsed = client.chat.completions.parse(
    model=MODEL,
    messages=[{"role": "user", "content": "Describe Paris."}],
    response_format=City,
    temperature=0,
    max_tokens=200,
)
city = parsed.choices[0].message.parsed
assert isinstance(city, City), parsed
print("parsed:", city)

# Log probabilities: the greedy choice is the most likely token, each entry names the token.
reply = client.chat.completions.create(
    model=MODEL,
    messages=[{"role": "user", "content": "What is the capital of France? Answer in one word."}],
    temperature=0,
    max_tokens=8,
    logprobs=True,
    top_logprobs=3,
)
entries = reply.choices[0].logprobs.content
assert entries, reply
for entry in entries:
    assert len(entry.top_logprobs) == 3, entry
    assert entry.top_logprobs[0].token == entry.token, entry
    assert abs(entry.top_logprobs[0].logprob - entry.logprob) < 1e-6, entry
    assert entry.logprob <= 0 and bytes(entry.bytes).decode("utf-8", "replace") == entry.token
assert "".join(e.token for e in entries) == reply.choices[0].message.content, (entries, reply)
streamed = []
for chunk in client.chat.completions.create(
    model=MODEL,
    messages=[{"role": "user", "content": "What is the capital of France? Answer in one word."}],
    temperature=0,
    max_tokens=8,
    logprobs=True,
    top_logprobs=3,
    stream=True,
):
    if chunk.choices and chunk.choices[0].logprobs:
        streamed.extend(chunk.choices[0].logprobs.content)
assert [e.token for e in streamed] == [e.token for e in entries], (streamed, entries)
print("logprobs:", [(e.token, round(e.logprob, 3)) for e in entries])

# Bad input is a named 400, and the server goes on.
for bad, needle in [
    (dict(tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "nope"}}), "nope"),
    (dict(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "array", "uniqueItems": True}}}), "response_format"),
    (dict(extra_body={"logit_bias": {"1": 1}}), "logit_bias"),
]:
    try:
        client.chat.completions.create(model=MODEL, messages=messages, max_tokens=4, **bad)
        raise AssertionError(f"accepted {bad}")
    except openai.BadRequestError as error:
        assert needle in str(error), error
print("bad input: named 400s")
