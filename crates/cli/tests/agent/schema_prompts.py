"""Constrained output with Qwen2.5 Coder 0.5B Instruct on 20 different prompts: the JSON it writes
under a strict `json_schema` validates against the schema (jsonschema), and `tool_choice:
"required"` always yields a call whose arguments validate against that tool's parameters."""

import json
import os

import jsonschema
import openai

client = openai.OpenAI(base_url=os.environ["BASE_URL"], api_key="unused")
MODEL = os.environ.get("MODEL", "qwen")

RECORD = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 60},
        "kind": {"type": "string", "enum": ["person", "place", "thing", "idea"]},
        "year": {"type": "integer", "minimum": -3000, "maximum": 2100},
        "facts": {"type": "array", "items": {"type": "string", "maxLength": 80}, "maxItems": 3},
    },
    "required": ["name", "kind", "year", "facts"],
    "additionalProperties": False,
}
TOPICS = [
    "the Eiffel Tower", "Marie Curie", "the printing press", "democracy", "Mount Everest",
    "Ada Lovelace", "the telephone", "Rome", "the theory of relativity", "the Great Wall of China",
    "Leonardo da Vinci", "the steam engine", "Tokyo", "jazz", "the Amazon river",
    "Isaac Newton", "the bicycle", "Cairo", "the internet", "photosynthesis",
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "maxLength": 40},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city", "unit"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search_web",
            "description": "Search the web",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "maxLength": 80},
                    "results": {"type": "integer", "minimum": 1, "maximum": 10},
                },
                "required": ["query"],
                "additionalProperties": False,
            },
        },
    },
]
SCHEMAS = {tool["function"]["name"]: tool["function"]["parameters"] for tool in TOOLS}

response_format = {"type": "json_schema", "json_schema": {"name": "record", "strict": True, "schema": RECORD}}
for topic in TOPICS:
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": f"Describe {topic} as a JSON record."}],
        response_format=response_format,
        temperature=0,
        max_tokens=300,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "stop", (topic, choice)
    record = json.loads(choice.message.content)
    jsonschema.validate(record, RECORD)
    print("record:", json.dumps(record, ensure_ascii=False))

calls = {}
for topic in TOPICS:
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": f"Tell me something current about {topic}."}],
        tools=TOOLS,
        tool_choice="required",
        temperature=0,
        max_tokens=200,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls, (topic, choice)
    for call in choice.message.tool_calls:
        jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])
        calls[call.function.name] = calls.get(call.function.name, 0) + 1
print("required calls:", calls)
