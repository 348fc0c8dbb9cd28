//! The parser on every format: whole text and one character at a time give the same reply,
//! content never carries markup, and malformed replies are clear errors.

use serde_json::{Value, json};

use super::*;

/// A reply in `format` and what it should parse to.
struct Case {
    format: ToolCallFormat,
    text: &'static str,
    content: &'static str,
    calls: Vec<(&'static str, Value)>,
}

fn case(
    format: ToolCallFormat,
    text: &'static str,
    content: &'static str,
    calls: Vec<(&'static str, Value)>,
) -> Case {
    Case {
        format,
        text,
        content,
        calls,
    }
}

fn cases() -> Vec<Case> {
    use ToolCallFormat::*;
    let paris = || json!({"city": "Paris"});
    vec![
        case(
            Hermes,
            "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
            "Let me check.\n",
            vec![("get_weather", paris())],
        ),
        case(
            Hermes,
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich }{\\\"\"}}\n</tool_call>\n<tool_call>\n{\"arguments\": {\"tz\": [\"UTC\", {\"x\": null}]}, \"name\": \"now\"}\n</tool_call>",
            "",
            vec![
                ("get_weather", json!({"city": "Zürich }{\""})),
                ("now", json!({"tz": ["UTC", {"x": null}]})),
            ],
        ),
        case(
            Hermes,
            "<tool_call>\n{\"name\": \"now\", \"arguments\": \"{\\\"tz\\\": \\\"UTC\\\"}\"}\n</tool_call>\nDone.",
            "Done.",
            vec![("now", json!({"tz": "UTC"}))],
        ),
        // Small Hermes-style models (Qwen2.5 Coder 0.5B) often leave the markers out.
        case(
            Hermes,
            "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}",
            "",
            vec![("get_weather", paris())],
        ),
        case(
            Hermes,
            "```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n```",
            "",
            vec![("get_weather", paris())],
        ),
        case(
            Hermes,
            "```python\nprint(1)\n```",
            "```python\nprint(1)\n```",
            vec![],
        ),
        case(
            Hermes,
            "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\nDone.",
            "Done.",
            vec![("get_weather", paris())],
        ),
        case(Hermes, "{\"answer\": 4}", "{\"answer\": 4}", vec![]),
        case(Hermes, "{ \"nam", "{ \"nam", vec![]),
        case(
            Llama3Json,
            "  {\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}",
            "",
            vec![("get_weather", paris())],
        ),
        case(
            Llama3Json,
            "Sure.<|python_tag|>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}; {\"name\": \"now\", \"parameters\": {}}",
            "Sure.",
            vec![("get_weather", paris()), ("now", json!({}))],
        ),
        case(
            Llama3Json,
            "Use {braces} freely.",
            "Use {braces} freely.",
            vec![],
        ),
        case(
            MistralJsonList,
            "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": \"abc123def\"}, {\"name\": \"now\", \"arguments\": {}}]",
            "",
            vec![("get_weather", paris()), ("now", json!({}))],
        ),
        case(
            MistralArgs,
            "Checking.[TOOL_CALLS]get_weather[CALL_ID]a1b2c3d4e[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]now[ARGS]{}",
            "Checking.",
            vec![("get_weather", paris()), ("now", json!({}))],
        ),
        case(
            QwenXml,
            "I will look.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n<parameter=note>\na < b\nc\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=now>\n</function>\n</tool_call>",
            "I will look.\n",
            vec![
                (
                    "get_weather",
                    json!({"city": "Paris", "days": 3, "note": "a < b\nc"}),
                ),
                ("now", json!({})),
            ],
        ),
        case(
            SeedXml,
            "<seed:tool_call>\n<function=get_weather>\n<parameter=city>Paris</parameter>\n</function>\n</seed:tool_call>",
            "",
            vec![("get_weather", paris())],
        ),
        case(
            Glm,
            "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n<arg_key>days</arg_key>\n<arg_value>[1, 2]</arg_value>\n</tool_call>",
            "",
            vec![("get_weather", json!({"city": "Paris", "days": [1, 2]}))],
        ),
        case(
            MiniMaxXml,
            "<minimax:tool_call>\n<invoke name=\"get_weather\">\n<parameter name=\"city\">Paris</parameter>\n</invoke>\n<invoke name=\"now\">\n</invoke>\n</minimax:tool_call>",
            "",
            vec![("get_weather", paris()), ("now", json!({}))],
        ),
        case(
            GraniteJsonList,
            "<|tool_call|>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]",
            "",
            vec![("get_weather", paris())],
        ),
        case(
            FireFunction,
            "functools[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}, {\"name\": \"now\", \"arguments\": {}}]",
            "",
            vec![("get_weather", paris()), ("now", json!({}))],
        ),
        case(
            ToolCallsTag,
            "\n<tool_calls>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": \"x\"}]</tool_calls>",
            "\n",
            vec![("get_weather", paris())],
        ),
        case(
            ToolCallsTag,
            "<tool_calls>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n{\"name\": \"now\", \"arguments\": {}}\n</tool_calls>",
            "",
            vec![("get_weather", paris()), ("now", json!({}))],
        ),
        case(
            FunctionaryV31,
            "<function=get_weather>{\"city\": \"Paris\"}</function>",
            "",
            vec![("get_weather", paris())],
        ),
        case(
            FunctionaryV32,
            "get_weather\n{\"city\": \"Paris\"}>>>now\n{}",
            "",
            vec![("get_weather", paris()), ("now", json!({}))],
        ),
        case(FunctionaryV32, "all\nHello there.", "Hello there.", vec![]),
        case(
            DeepSeekR1,
            "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>now\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
            "",
            vec![("get_weather", paris()), ("now", json!({}))],
        ),
        case(
            DeepSeekV31,
            "Okay.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Paris\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
            "Okay.",
            vec![("get_weather", paris())],
        ),
        case(
            KimiK2,
            "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{\"city\": \"Paris\"}<|tool_call_end|><|tool_call_begin|>functions.now:1<|tool_call_argument_begin|>{}<|tool_call_end|><|tool_calls_section_end|>",
            "",
            vec![("get_weather", paris()), ("now", json!({}))],
        ),
    ]
}

/// Parses `chunks` with fixed ids; returns the events and the result of `finish`.
fn parse_chunks<'a>(
    format: ToolCallFormat,
    chunks: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<ToolCallEvent>, ToolCallError> {
    let mut parser = ToolCallParser::with_ids(format, CallIds::seeded(1));
    let mut events = Vec::new();
    for chunk in chunks {
        events.extend(parser.push(chunk));
    }
    events.extend(parser.finish()?);
    Ok(events)
}

fn chars(text: &str) -> Vec<&str> {
    text.char_indices()
        .map(|(at, c)| &text[at..at + c.len_utf8()])
        .collect()
}

fn call_starts(events: &[ToolCallEvent]) -> Vec<ToolCallEvent> {
    events
        .iter()
        .filter(|e| matches!(e, ToolCallEvent::CallStart { .. }))
        .cloned()
        .collect()
}

#[test]
fn every_format_parses_whole_and_char_by_char_alike() {
    for case in cases() {
        let label = format!("{:?}: {:?}", case.format, case.text);
        let whole =
            parse_chunks(case.format, [case.text]).unwrap_or_else(|e| panic!("{label}: {e}"));
        let split =
            parse_chunks(case.format, chars(case.text)).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(call_starts(&whole), call_starts(&split), "{label}");
        let reply = ParsedReply::from_events(whole);
        assert_eq!(reply, ParsedReply::from_events(split.clone()), "{label}");
        assert_eq!(reply.content, case.content, "{label}");
        let calls: Vec<(&str, Value)> = reply
            .calls
            .iter()
            .map(|call| {
                let args = serde_json::from_str(&call.arguments)
                    .unwrap_or_else(|e| panic!("{label}: {:?}: {e}", call.arguments));
                (call.name.as_str(), args)
            })
            .collect();
        assert_eq!(calls, case.calls, "{label}");
        let mut ids: Vec<&str> = reply.calls.iter().map(|call| call.id.as_str()).collect();
        ids.dedup();
        assert_eq!(ids.len(), reply.calls.len(), "{label}: ids are unique");
        for (index, event) in call_starts(&split).iter().enumerate() {
            assert!(matches!(event, ToolCallEvent::CallStart { index: i, .. } if *i == index));
        }
        for event in &split {
            if let ToolCallEvent::Content(text) = event {
                assert!(
                    case.content.contains(text.as_str()),
                    "{label}: content {text:?}"
                );
            }
        }
    }
}

#[test]
fn json_arguments_stream_before_the_call_ends() {
    let text = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
    let events = parse_chunks(ToolCallFormat::Hermes, chars(text)).unwrap();
    let fragments: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            ToolCallEvent::Arguments { fragment, .. } => Some(fragment.as_str()),
            _ => None,
        })
        .collect();
    assert!(fragments.len() > 10);
    assert_eq!(fragments.concat(), "{\"city\": \"Paris\"}");
}

#[test]
fn a_marker_split_across_chunks_is_held_back_and_never_content() {
    let mut parser = ToolCallParser::with_ids(ToolCallFormat::Hermes, CallIds::seeded(3));
    assert_eq!(
        parser.push("Hi <tool"),
        vec![ToolCallEvent::Content("Hi ".into())]
    );
    assert_eq!(parser.push("_ca"), vec![]);
    let events = parser.push("ll>\n{\"name\": \"now\", ");
    assert!(
        matches!(&events[..], [ToolCallEvent::CallStart { index: 0, name, .. }] if name == "now")
    );
    let events = parser.push("\"arguments\": {}}\n</tool_call> <to");
    assert_eq!(
        events,
        vec![ToolCallEvent::Arguments {
            index: 0,
            fragment: "{}".into()
        }]
    );
    assert_eq!(
        parser.push("ol> is a tag"),
        vec![ToolCallEvent::Content("<tool> is a tag".into())]
    );
    assert_eq!(parser.finish(), Ok(vec![]));
}

#[test]
fn a_held_back_prefix_is_content_at_the_end() {
    let mut parser = ToolCallParser::with_ids(ToolCallFormat::MistralArgs, CallIds::seeded(0));
    assert_eq!(
        parser.push("Costs [TOOL"),
        vec![ToolCallEvent::Content("Costs ".into())]
    );
    assert_eq!(
        parser.finish(),
        Ok(vec![ToolCallEvent::Content("[TOOL".into())])
    );
}

#[test]
fn parse_tool_calls_gives_the_reply() {
    let reply = parse_tool_calls(
        ToolCallFormat::Hermes,
        "Sure.\n<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>",
    )
    .unwrap();
    assert_eq!(reply.content, "Sure.\n");
    assert_eq!(reply.calls.len(), 1);
    assert_eq!(reply.calls[0].name, "now");
    assert_eq!(reply.calls[0].arguments, "{}");
    assert!(reply.calls[0].id.starts_with("call_"));
}

fn error_of(format: ToolCallFormat, text: &str) -> ToolCallError {
    for chunks in [vec![text], chars(text)] {
        let mut parser = ToolCallParser::with_ids(format, CallIds::seeded(0));
        for chunk in chunks {
            parser.push(chunk);
        }
        let error = parser.finish().expect_err(text);
        assert_eq!(
            parser.raw_text(),
            text,
            "the raw text is kept for a fallback"
        );
        assert_eq!(parser.error(), Some(&error));
        if text.chars().count() > 1 {
            continue;
        }
    }
    parse_tool_calls(format, text).expect_err(text)
}

#[test]
fn malformed_replies_are_named_errors() {
    use ToolCallFormat::*;
    let unterminated = error_of(
        Hermes,
        "<tool_call>\n{\"name\": \"x\", \"arguments\": {\"a\": 1",
    );
    assert!(
        matches!(unterminated, ToolCallError::Unterminated { .. }),
        "{unterminated}"
    );
    let unterminated = error_of(QwenXml, "<tool_call>\n<function=x>\n<parameter=a>\n1");
    assert!(
        matches!(unterminated, ToolCallError::Unterminated { .. }),
        "{unterminated}"
    );
    let not_object = error_of(
        Hermes,
        "<tool_call>{\"name\": \"x\", \"arguments\": [1]}</tool_call>",
    );
    assert_eq!(
        not_object,
        ToolCallError::ArgumentsNotObject {
            name: "x".into(),
            detail: "it starts with '['".into()
        }
    );
    let bad_json = error_of(MistralArgs, "[TOOL_CALLS]x[ARGS]{\"a\": tru}");
    assert!(matches!(&bad_json, ToolCallError::ArgumentsNotObject { name, .. } if name == "x"));
    let no_name = error_of(Hermes, "<tool_call>{\"arguments\": {}}</tool_call>");
    assert_eq!(no_name, ToolCallError::MissingName { index: 0 });
    let no_name = error_of(MistralArgs, "[TOOL_CALLS][ARGS]{}");
    assert_eq!(no_name, ToolCallError::MissingName { index: 0 });
    let malformed = error_of(
        MistralJsonList,
        "[TOOL_CALLS][{\"name\": \"x\", \"arguments\": {}} junk",
    );
    assert!(
        matches!(malformed, ToolCallError::Malformed { .. }),
        "{malformed}"
    );
}

#[test]
fn after_an_error_the_parser_is_silent() {
    let mut parser = ToolCallParser::with_ids(ToolCallFormat::Hermes, CallIds::seeded(0));
    parser.push("<tool_call>{\"name\": 7}");
    assert!(parser.error().is_some());
    assert_eq!(parser.push(" more"), vec![]);
    assert_eq!(parser.raw_text(), "<tool_call>{\"name\": 7} more");
}
