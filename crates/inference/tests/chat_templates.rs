//! Real Jinja chat templates, as models ship them: every template in the shared
//! `chat-templates/` folder renders a conversation, a few give exactly the prompt their model
//! was trained on, SmolLM2's GGUF file's own template works, and template problems are clear
//! errors.

use std::path::{Path, PathBuf};

use claude_inference::{
    ChatMessage, ChatTemplate, ChatTemplateError, JinjaTemplate, ToolCallMessage,
};

const SYSTEM: &str = "You are a terse assistant.";
const USER_1: &str = "What is 2+2?";
const ASSISTANT: &str = "4.";
const USER_2: &str = "And \"3+3\", en français?";

/// Templates that refuse a system message by design (they raise on it), and the message they
/// raise. Gemma 2 was trained without a system role.
const REFUSE_SYSTEM: &[(&str, &str)] =
    &[("google-gemma-2-2b-it.jinja", "System role not supported")];

fn templates_dir() -> PathBuf {
    claude_files::shared_data_dir().join("chat-templates")
}

fn conversation(with_system: bool) -> Vec<(String, String)> {
    let mut messages = Vec::new();
    if with_system {
        messages.push(("system".to_string(), SYSTEM.to_string()));
    }
    for (role, text) in [("user", USER_1), ("assistant", ASSISTANT), ("user", USER_2)] {
        messages.push((role.to_string(), text.to_string()));
    }
    messages
}

fn template(path: &Path, bos: &str, eos: &str) -> ChatTemplate {
    let source = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    ChatTemplate::jinja(&source, bos, eos)
        .unwrap_or_else(|e| panic!("{} does not compile: {e}", path.display()))
}

fn shipped(name: &str, bos: &str, eos: &str) -> ChatTemplate {
    template(&templates_dir().join(name), bos, eos)
}

#[test]
fn every_shipped_template_renders_a_conversation() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(templates_dir())
        .expect("the shared chat-templates folder")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "jinja"))
        .collect();
    paths.sort();
    assert_eq!(paths.len(), 70, "the shared folder holds 70 templates");
    let mut failures = Vec::new();
    let mut without_system = 0;
    for path in &paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let template = template(path, "<s>", "</s>");
        let refused = REFUSE_SYSTEM.iter().find(|(refuser, _)| *refuser == name);
        let rendered = match (template.render(&conversation(true)), refused) {
            (Ok(prompt), None) => Ok(prompt),
            (Ok(_), Some(_)) => Err("renders a system message it is listed as refusing".into()),
            (Err(e), None) => Err(e.to_string()),
            (Err(e), Some((_, message))) => {
                assert!(e.to_string().contains(message), "{name}: {e}");
                without_system += 1;
                template
                    .render(&conversation(false))
                    .map_err(|e| e.to_string())
            }
        };
        match rendered {
            Ok(prompt) => {
                for text in [USER_1, USER_2] {
                    if !prompt.contains(text) {
                        failures.push(format!("{name}: {text:?} missing from {prompt:?}"));
                    }
                }
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} templates failed:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n")
    );
    assert_eq!(without_system, REFUSE_SYSTEM.len());
}

#[test]
fn qwen_and_smollm_give_chatml() {
    let expected = format!(
        "<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{USER_1}<|im_end|>\n\
         <|im_start|>assistant\n{ASSISTANT}<|im_end|>\n<|im_start|>user\n{USER_2}<|im_end|>\n\
         <|im_start|>assistant\n"
    );
    for name in [
        "Qwen-Qwen2.5-7B-Instruct.jinja",
        "HuggingFaceTB-SmolLM3-3B.jinja",
    ] {
        let template = shipped(name, "", "<|im_end|>");
        let prompt = template.render(&conversation(true)).unwrap();
        if name.starts_with("Qwen") {
            assert_eq!(prompt, expected, "{name}");
        } else {
            // SmolLM3 writes its own metadata block into the system turn.
            assert!(
                prompt.starts_with("<|im_start|>system\n"),
                "{name}: {prompt:?}"
            );
            assert!(prompt.contains(SYSTEM), "{name}: {prompt:?}");
            assert!(
                prompt.ends_with(&format!(
                    "<|im_start|>user\n{USER_2}<|im_end|>\n<|im_start|>assistant\n"
                )),
                "{name}: {prompt:?}"
            );
        }
        assert_eq!(template.end_of_turn(), None);
    }
    // Qwen's own default system message when none is given.
    let prompt = shipped("Qwen-Qwen2.5-7B-Instruct.jinja", "", "<|im_end|>")
        .render(&conversation(false))
        .unwrap();
    assert!(
        prompt.starts_with(
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful \
             assistant.<|im_end|>\n<|im_start|>user\n"
        ),
        "{prompt:?}"
    );
}

#[test]
fn llama3_gives_header_ids_after_bos() {
    let bos = "<|begin_of_text|>";
    let prompt = shipped("meta-llama-Llama-3.1-8B-Instruct.jinja", bos, "<|eot_id|>")
        .render(&conversation(true))
        .unwrap();
    let expected = format!(
        "{bos}<|start_header_id|>system<|end_header_id|>\n\n\
         Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n\
         {SYSTEM}<|eot_id|>\
         <|start_header_id|>user<|end_header_id|>\n\n{USER_1}<|eot_id|>\
         <|start_header_id|>assistant<|end_header_id|>\n\n{ASSISTANT}<|eot_id|>\
         <|start_header_id|>user<|end_header_id|>\n\n{USER_2}<|eot_id|>\
         <|start_header_id|>assistant<|end_header_id|>\n\n"
    );
    assert_eq!(prompt, expected);
}

#[test]
fn llama32_dates_the_system_turn_today() {
    let prompt = shipped(
        "meta-llama-Llama-3.2-3B-Instruct.jinja",
        "<|begin_of_text|>",
        "<|eot_id|>",
    )
    .render(&conversation(false))
    .unwrap();
    let date = prompt
        .split("Today Date: ")
        .nth(1)
        .and_then(|rest| rest.split('\n').next())
        .unwrap_or_else(|| panic!("no date in {prompt:?}"));
    // `%d %b %Y`, e.g. `05 Mar 2026`.
    let parts: Vec<&str> = date.split(' ').collect();
    assert_eq!(parts.len(), 3, "{date:?}");
    let day: u32 = parts[0].parse().unwrap();
    assert!((1..=31).contains(&day) && parts[0].len() == 2, "{date:?}");
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    assert!(months.contains(&parts[1]), "{date:?}");
    assert!(parts[2].parse::<u32>().unwrap() >= 2025, "{date:?}");
}

#[test]
fn gemma2_refuses_a_system_message_with_its_own_words() {
    let template = shipped("google-gemma-2-2b-it.jinja", "<bos>", "<eos>");
    let err = template
        .render(&conversation(true))
        .unwrap_err()
        .to_string();
    assert!(err.contains("System role not supported"), "{err}");
    let prompt = template.render(&conversation(false)).unwrap();
    assert_eq!(
        prompt,
        format!(
            "<bos><start_of_turn>user\n{USER_1}<end_of_turn>\n<start_of_turn>model\n\
             {ASSISTANT}<end_of_turn>\n<start_of_turn>user\n{USER_2}<end_of_turn>\n\
             <start_of_turn>model\n"
        )
    );
}

fn smollm2_gguf_template() -> String {
    let path = claude_files::shared_data_dir()
        .join("models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf");
    let file = claude_gguf::GgufFile::open(&path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    file.metadata()
        .get_str("tokenizer.chat_template")
        .expect("the GGUF file ships a chat template")
        .to_string()
}

#[test]
fn smollm2_gguf_template_renders_and_adds_its_system_message() {
    let source = smollm2_gguf_template();
    let template = ChatTemplate::jinja(&source, "<|im_start|>", "<|im_end|>").unwrap();
    let prompt = template.render(&conversation(true)).unwrap();
    assert_eq!(
        prompt,
        format!(
            "<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{USER_1}<|im_end|>\n\
             <|im_start|>assistant\n{ASSISTANT}<|im_end|>\n<|im_start|>user\n{USER_2}<|im_end|>\n\
             <|im_start|>assistant\n"
        )
    );
    // No system message: the template's own default comes first.
    let prompt = template.render(&conversation(false)).unwrap();
    assert!(
        prompt.starts_with(
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging \
             Face<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
        ),
        "{prompt:?}"
    );
    assert!(prompt.ends_with("<|im_start|>assistant\n"), "{prompt:?}");
}

fn inline(source: &str) -> Result<String, ChatTemplateError> {
    ChatTemplate::jinja(source, "<s>", "</s>")?.render(&conversation(true))
}

#[test]
fn template_problems_are_clear_errors() {
    let err = ChatTemplate::jinja("{% for m in messages %}{{ m.content }}", "", "")
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot compile the chat template"), "{err}");
    assert!(err.contains("syntax error"), "{err}");

    let err = inline("line one\n{{ raise_exception('Roles must alternate!') }}")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "the chat template raised an exception: Roles must alternate! (template line 2)"
    );

    let err = inline("{{ messages[0].content.no_such_method() }}")
        .unwrap_err()
        .to_string();
    assert!(err.contains("chat template error"), "{err}");
    assert!(err.contains("template line 1"), "{err}");

    let err = inline("{{ messages | tojson(bogus=1) }}")
        .unwrap_err()
        .to_string();
    assert!(err.contains("bogus"), "{err}");
}

#[test]
fn templates_get_what_hugging_face_gives_them() {
    let prompt = inline(
        "{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}|{{ tools is none }}|\
         {{ messages | length }}|{{ messages[0].role }}|{{ undefined_thing is defined }}",
    )
    .unwrap();
    assert_eq!(prompt, "<s>|</s>|True|True|4|system|False");
    // Python string methods, namespace, loop controls and whitespace trimming.
    let source = "{%- set ns = namespace(n=0) %}\n\
                  {%- for m in messages %}\n\
                  {%- if m.role == 'assistant' %}{% continue %}{% endif %}\n\
                  {%- set ns.n = ns.n + 1 %}\n\
                  {{ m.content.strip().split(' ')[0].upper() }}{{ '|' if m.content.startswith('W') }}\n\
                  {% if ns.n == 2 %}{% break %}{% endif %}\n\
                  {%- endfor %}";
    assert_eq!(inline(source).unwrap(), "YOU\nWHAT|\n");
    // `{% generation %}` blocks (Hugging Face's training-mask marker) render their body.
    let source = "{%- for m in messages if m.role == 'assistant' %}\
                  {% generation %}{{ m.content }}{% endgeneration %}{% endfor %}";
    assert_eq!(inline(source).unwrap(), ASSISTANT);
    // The date, as today's.
    let date = inline("{{ strftime_now('%Y-%m-%d') }}").unwrap();
    assert_eq!(date.len(), 10, "{date:?}");
    assert!(date.starts_with("20") && &date[4..5] == "-" && &date[7..8] == "-");
}

#[test]
fn tojson_writes_what_python_json_dumps_writes() {
    let json = |source: &str| inline(source).unwrap();
    assert_eq!(
        json("{{ messages[3] | tojson }}"),
        r#"{"role": "user", "content": "And \"3+3\", en français?"}"#
    );
    assert_eq!(
        json("{{ messages[3].content | tojson(ensure_ascii=True) }}"),
        r#""And \"3+3\", en fran\u00e7ais?""#
    );
    assert_eq!(
        json("{{ {'a': [1, 2.5, none, true], 'b': {}} | tojson(indent=2) }}"),
        "{\n  \"a\": [\n    1,\n    2.5,\n    null,\n    true\n  ],\n  \"b\": {}\n}"
    );
    assert_eq!(
        json("{{ {'b': 1.0, 'a': 1e20} | tojson(separators=(',', ':'), sort_keys=true) }}"),
        r#"{"a":1e+20,"b":1.0}"#
    );
    assert_eq!(json("{{ ('{\"x\": [1, \"y\"]}' | from_json).x[1] }}"), "y");
}

#[test]
fn the_built_in_formats_keep_their_stop_texts() {
    assert_eq!(ChatTemplate::Plain.end_of_turn(), Some("\n\n"));
    assert_eq!(ChatTemplate::ChatMl.end_of_turn(), Some("<|im_end|>"));
    let plain: ChatTemplate = "plain".parse().unwrap();
    assert!(matches!(plain, ChatTemplate::Plain));
    assert!("jinja".parse::<ChatTemplate>().is_err());
    let jinja = claude_inference::JinjaTemplate::new("{{ messages[0].content }}", "", "")
        .unwrap()
        .with_end_of_turn("<|end|>");
    assert_eq!(ChatTemplate::Jinja(jinja).end_of_turn(), Some("<|end|>"));
}

#[test]
fn a_developer_message_is_the_system_turn() {
    // OpenAI clients send `developer`; Mistral's template knows only system, user, assistant.
    let mut messages = conversation(true);
    messages[0].0 = "developer".into();
    let qwen = shipped("Qwen-Qwen2.5-7B-Instruct.jinja", "", "<|im_end|>");
    let prompt = qwen.render(&messages).unwrap();
    assert!(
        prompt.starts_with(&format!("<|im_start|>system\n{SYSTEM}<|im_end|>\n")),
        "{prompt:?}"
    );
    assert_eq!(prompt, qwen.render(&conversation(true)).unwrap());
}

/// Templates whose tool conversations minijinja renders differently from Hugging Face
/// `transformers` (jinja2), and why.
const TOOL_RENDER_DIFFERENCES: &[(&str, &str)] = &[
    (
        "llama-cpp-deepseek-r1.jinja",
        "jinja2's `map` gives a generator that `tojson` refuses; minijinja's gives a list, which \
         renders (as in llama.cpp, which the template was written for)",
    ),
    (
        "meetkai-functionary-medium-v3.1.jinja",
        "jinja2's `'...'|safe + text` HTML-escapes `text` (Markup); minijinja's safe strings \
         concatenate as they are",
    ),
];

/// What `make_references.py` wrote: each template's renders of its conversations by
/// `transformers`, or the error it raised.
fn tool_references() -> serde_json::Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/chat-templates-tools/expected.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The two tools `make_references.py` offers (keys sorted, as a `serde_json::Value` keeps them).
fn reference_tools() -> Vec<serde_json::Value> {
    let tool = |name: &str, description: &str, properties: serde_json::Value, required: &[&str]| {
        serde_json::json!({
            "type": "function",
            "function": {
                "name": name,
                "description": description,
                "parameters": {"type": "object", "properties": properties, "required": required},
            },
        })
    };
    vec![
        tool(
            "get_weather",
            "Get the current weather in a city.",
            serde_json::json!({
                "city": {"type": "string", "description": "The city, e.g. Paris"},
                "unit": {
                    "type": "string",
                    "enum": ["celsius", "fahrenheit"],
                    "description": "The temperature unit",
                },
            }),
            &["city"],
        ),
        tool(
            "add",
            "Add two numbers.",
            serde_json::json!({
                "a": {"type": "number", "description": "The first number"},
                "b": {"type": "number", "description": "The second number"},
            }),
            &["a", "b"],
        ),
    ]
}

/// `make_references.py`'s conversation `name`.
fn reference_conversation(name: &str) -> Vec<ChatMessage> {
    let system = ChatMessage::new("system", "You are a helpful assistant.");
    let user = ChatMessage::new(
        "user",
        "What is the weather in Paris? Answer in \"celsius\", s'il vous plaît.",
    );
    let round_trip = |content: Option<&str>| {
        // The arguments' keys in their written (unsorted) order.
        let call = ToolCallMessage::new(
            "call12345",
            "get_weather",
            r#"{"unit": "celsius", "city": "Paris"}"#,
        );
        vec![
            system.clone(),
            user.clone(),
            ChatMessage::tool_calls(content.map(str::to_string), vec![call]),
            ChatMessage::tool_result("call12345", r#"{"temperature": 18, "condition": "sunny"}"#)
                .with_name("get_weather"),
            ChatMessage::new("assistant", "It is 18 °C and sunny in Paris."),
            ChatMessage::new("user", "Thanks! And what is 2 + 3?"),
        ]
    };
    match name {
        "tools" => vec![system.clone(), user.clone()],
        "tool_round_trip" => round_trip(Some("")),
        "tool_call_without_content" => round_trip(None),
        other => panic!("unknown reference conversation {other:?}"),
    }
}

#[test]
fn tools_render_as_transformers_renders_them() {
    let references = tool_references();
    let clock = references["now_unix"].as_i64().unwrap();
    let templates = references["templates"].as_object().unwrap();
    assert!(templates.len() >= 60, "{} templates", templates.len());
    // The references keep OpenAI's key order in the tools, which reach templates as
    // `serde_json::Value`s: that needs serde_json's `preserve_order` feature.
    let probe: serde_json::Value = serde_json::from_str(r#"{"b": 1, "a": 2}"#).unwrap();
    assert_eq!(
        probe.to_string(),
        r#"{"b":1,"a":2}"#,
        "serde_json's preserve_order feature is off: tools reach templates with sorted keys"
    );
    let tools = reference_tools();
    let mut failures = Vec::new();
    let mut differing = Vec::new();
    for (name, conversations) in templates {
        let source = std::fs::read_to_string(templates_dir().join(name)).unwrap();
        let template = JinjaTemplate::new(&source, "<s>", "</s>")
            .unwrap_or_else(|e| panic!("{name} does not compile: {e}"))
            .with_clock(clock);
        let mut same = true;
        for (conversation, expected) in conversations.as_object().unwrap() {
            let ours = template.render_conversation(&reference_conversation(conversation), &tools);
            let problem = match (expected, &ours) {
                (serde_json::Value::String(expected), Ok(ours)) if ours == expected => None,
                (serde_json::Value::String(expected), Ok(ours)) => Some(format!(
                    "renders differently at byte {}:\n  transformers: {:?}\n  ours:         {:?}",
                    first_difference(expected, ours),
                    around(expected, first_difference(expected, ours)),
                    around(ours, first_difference(expected, ours)),
                )),
                (serde_json::Value::String(_), Err(e)) => Some(format!("fails: {e}")),
                (_, Ok(ours)) => Some(format!(
                    "renders where transformers raised {}: {:?}...",
                    expected["error"],
                    around(ours, 40)
                )),
                (_, Err(ChatTemplateError::Raised { message, .. })) => {
                    let theirs = expected["error"].as_str().unwrap();
                    (message != theirs).then(|| format!("raises {message:?}, not {theirs:?}"))
                }
                (_, Err(_)) => None,
            };
            if let Some(problem) = problem {
                same = false;
                failures.push(format!("{name} ({conversation}): {problem}"));
            }
        }
        if !same {
            differing.push(name.as_str());
        }
    }
    let listed: Vec<&str> = TOOL_RENDER_DIFFERENCES.iter().map(|(n, _)| *n).collect();
    let unexpected: Vec<&String> = failures
        .iter()
        .filter(|f| !listed.iter().any(|n| f.starts_with(&format!("{n} ("))))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{} renders differ from transformers':\n{}",
        unexpected.len(),
        unexpected
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    for name in listed {
        assert!(
            differing.contains(&name),
            "{name} is listed as differing but renders as transformers does"
        );
    }
}

/// The byte offset where `a` and `b` first differ (at a character boundary of both).
fn first_difference(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map(|((i, _), _)| i)
        .unwrap_or(a.len().min(b.len()))
}

/// Up to 80 bytes of `text` around byte `at`.
fn around(text: &str, at: usize) -> &str {
    let mut start = at.saturating_sub(40).min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + 40).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    &text[start..end]
}

fn weather_tool() -> serde_json::Value {
    reference_tools().remove(0)
}

#[test]
fn chatml_writes_tools_calls_and_results_as_qwen_does() {
    let messages = vec![
        ChatMessage::new("system", "Be brief."),
        ChatMessage::new("user", "Weather in Paris?"),
        ChatMessage::tool_calls(
            None,
            vec![ToolCallMessage::new(
                "c1",
                "get_weather",
                r#"{"unit":"celsius","city":"Paris"}"#,
            )],
        ),
        ChatMessage::tool_result("c1", "18 C"),
    ];
    let prompt = ChatTemplate::ChatMl
        .render_conversation(&messages, &[weather_tool()])
        .unwrap();
    let tool = r#"{"type": "function", "function": {"name": "get_weather", "description": "Get the current weather in a city.", "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city, e.g. Paris"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "The temperature unit"}}, "required": ["city"]}}}"#;
    let expected = format!(
        "<|im_start|>system\nBe brief.\n\n# Tools\n\nYou may call one or more functions to \
         assist with the user query.\n\nYou are provided with function signatures within \
         <tools></tools> XML tags:\n<tools>\n{tool}\n</tools>\n\nFor each function call, \
         return a json object with function name and arguments within <tool_call></tool_call> \
         XML tags:\n<tool_call>\n{{\"name\": <function-name>, \"arguments\": \
         <args-json-object>}}\n</tool_call><|im_end|>\n\
         <|im_start|>user\nWeather in Paris?<|im_end|>\n\
         <|im_start|>assistant\n<tool_call>\n\
         {{\"name\": \"get_weather\", \"arguments\": {{\"unit\": \"celsius\", \"city\": \"Paris\"}}}}\n\
         </tool_call><|im_end|>\n\
         <|im_start|>tool\n18 C<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(prompt, expected);
    // Without tools and tool messages, the conversation is what `render` gives.
    let pairs = conversation(true);
    let messages: Vec<ChatMessage> = pairs.iter().cloned().map(ChatMessage::from).collect();
    for format in [ChatTemplate::ChatMl, ChatTemplate::Plain] {
        assert_eq!(
            format.render_conversation(&messages, &[]).unwrap(),
            format.render(&pairs).unwrap()
        );
    }
}

#[test]
fn plain_text_refuses_tools() {
    let user = ChatMessage::new("user", "hi");
    let err = ChatTemplate::Plain
        .render_conversation(std::slice::from_ref(&user), &[weather_tool()])
        .unwrap_err();
    assert_eq!(err, ChatTemplateError::ToolsUnsupported("tools"));
    let call = ChatMessage::tool_calls(None, vec![ToolCallMessage::new("c", "f", "{}")]);
    let err = ChatTemplate::Plain
        .render_conversation(&[user.clone(), call], &[])
        .unwrap_err();
    assert_eq!(err.to_string(), "the plain chat format has no tool calls");
    let err = ChatTemplate::Plain
        .render_conversation(&[user, ChatMessage::tool_result("c", "1")], &[])
        .unwrap_err();
    assert_eq!(err, ChatTemplateError::ToolsUnsupported("tool results"));
}

#[test]
fn templates_see_tool_messages_as_transformers_passes_them() {
    let render = |source: &str, messages: &[ChatMessage], tools: &[serde_json::Value]| {
        JinjaTemplate::new(source, "", "")
            .unwrap()
            .render_conversation(messages, tools)
            .unwrap()
    };
    let call = ChatMessage::tool_calls(
        None,
        vec![
            ToolCallMessage::new("a1", "f", r#"{"z": 1, "a": [true, null], "m": 0.5}"#),
            ToolCallMessage::new("a2", "g", "not json"),
        ],
    );
    let result = ChatMessage::tool_result("a1", "done").with_name("f");
    let source = "{% for m in messages %}{{ m | tojson }}|{{ m.content is defined }}|\
                  {% for c in m.tool_calls or [] %}{{ c.function.arguments is mapping }},\
                  {% endfor %};{% endfor %}{{ tools is none }}";
    assert_eq!(
        render(source, &[call.clone(), result.clone()], &[]),
        "{\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"a1\", \"type\": \"function\", \
         \"function\": {\"name\": \"f\", \"arguments\": {\"z\": 1, \"a\": [true, null], \"m\": 0.5}}}, \
         {\"id\": \"a2\", \"type\": \"function\", \"function\": {\"name\": \"g\", \"arguments\": \
         \"not json\"}}]}|False|True,False,;\
         {\"role\": \"tool\", \"content\": \"done\", \"tool_call_id\": \"a1\", \"name\": \"f\"}|True|;\
         True"
    );
    // Tools as given, keys in their order; `developer` is the system turn.
    let source = "{{ tools | tojson }}|{{ tools[0].function.name }}|{{ messages[0].role }}";
    let developer = ChatMessage::new("developer", "x");
    let tool: serde_json::Value =
        serde_json::from_str(r#"{"type": "function", "function": {"name": "f", "b": 1, "a": 2}}"#)
            .unwrap();
    assert_eq!(
        render(source, &[developer], &[tool]),
        r#"[{"type": "function", "function": {"name": "f", "b": 1, "a": 2}}]|f|system"#
    );
}

#[test]
fn a_fixed_clock_dates_the_prompt() {
    let template = JinjaTemplate::new(
        "{{ strftime_now('%d %b %Y %H:%M') }}|{{ datetime }}",
        "",
        "",
    )
    .unwrap()
    .with_clock(1_722_027_909);
    assert_eq!(
        ChatTemplate::Jinja(template)
            .render(&conversation(true))
            .unwrap(),
        "26 Jul 2024 21:05|Jul 26 2024 21:05:09 GMT"
    );
}

#[test]
fn tojson_refuses_undefined_as_python_does() {
    let err = inline("{{ messages[0].no_such_key | tojson }}")
        .unwrap_err()
        .to_string();
    assert!(err.contains("Undefined is not JSON serializable"), "{err}");
}
