//! [`ToolCallFormat::forced_call_grammar`]: a Lark grammar (llguidance's dialect) that allows
//! only tool calls, in the format's markup, to the given functions.

use std::fmt::Write;

use super::syntax::{deepseek, kimi};
use super::{FunctionSpec, ToolCallFormat};

/// How one format lays out forced calls, as Lark expressions.
struct Layout {
    /// Before the first call.
    open: String,
    /// Between two calls.
    separator: String,
    /// After the last call.
    close: String,
}

impl ToolCallFormat {
    /// A grammar in llguidance's Lark syntax that accepts exactly one call (one or more when
    /// `parallel`) in this format's markup to one of `tools`, its arguments matching that tool's
    /// `parameters` schema (`%json`). For a named tool choice, pass only that tool; `tools` must
    /// not be empty.
    ///
    /// Markers are written as string literals. For the XML-ish formats the arguments are the
    /// schema's properties in schema order (the required ones always, the others optionally);
    /// a string property's value cannot contain `<`, other values are `%json` of the property's
    /// schema.
    pub fn forced_call_grammar(&self, tools: &[FunctionSpec], parallel: bool) -> String {
        let layout = self.layout();
        let mut grammar = String::new();
        let calls = if parallel {
            let separator = layout.separator;
            if separator.is_empty() {
                "call (call)*".to_string()
            } else {
                format!("call ({separator} call)*")
            }
        } else {
            "call".to_string()
        };
        let start = [layout.open.as_str(), calls.as_str(), layout.close.as_str()]
            .iter()
            .filter(|part| !part.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(grammar, "start: {start}");
        let alternatives: Vec<String> = (0..tools.len()).map(|i| format!("call_{i}")).collect();
        let _ = writeln!(grammar, "call: {}", alternatives.join(" | "));
        for (i, tool) in tools.iter().enumerate() {
            self.write_call(&mut grammar, i, tool);
        }
        grammar
    }

    fn layout(&self) -> Layout {
        let (open, separator, close) = match self {
            Self::Hermes | Self::QwenXml | Self::SeedXml | Self::Glm => ("", lit("\n"), ""),
            Self::Llama3Json => ("", lit("; "), ""),
            Self::MistralJsonList => (r#""[TOOL_CALLS][""#, lit(", "), r#""]""#),
            Self::GraniteJsonList => (r#""<|tool_call|>[""#, lit(", "), r#""]""#),
            Self::FireFunction => (r#""functools[""#, lit(", "), r#""]""#),
            Self::ToolCallsTag => (r#""<tool_calls>[""#, lit(", "), r#""]</tool_calls>""#),
            Self::MistralArgs | Self::FunctionaryV31 => ("", String::new(), ""),
            Self::FunctionaryV32 => ("", lit(">>>"), ""),
            Self::MiniMaxXml => {
                return Layout {
                    open: lit("<minimax:tool_call>\n"),
                    separator: String::new(),
                    close: lit("</minimax:tool_call>"),
                };
            }
            Self::DeepSeekR1 => {
                return Layout {
                    open: lit(deepseek::CALLS_BEGIN),
                    separator: lit("\n"),
                    close: lit(deepseek::CALLS_END),
                };
            }
            Self::DeepSeekV31 => {
                return Layout {
                    open: lit(deepseek::CALLS_BEGIN),
                    separator: String::new(),
                    close: lit(deepseek::CALLS_END),
                };
            }
            Self::KimiK2 => {
                return Layout {
                    open: lit(kimi::SECTION_BEGIN),
                    separator: String::new(),
                    close: lit(kimi::SECTION_END),
                };
            }
        };
        Layout {
            open: open.to_string(),
            separator,
            close: close.to_string(),
        }
    }

    /// Writes rule `call_{i}` (and its arguments' rules) for one tool.
    fn write_call(&self, grammar: &mut String, i: usize, tool: &FunctionSpec) {
        let name = tool.name.as_str();
        let quoted = serde_json::Value::String(name.to_string()).to_string();
        let args = format!("args_{i}");
        let body = match self {
            Self::Hermes => format!(
                "{} {args} {}",
                lit(&format!(
                    "<tool_call>\n{{\"name\": {quoted}, \"arguments\": "
                )),
                lit("}\n</tool_call>")
            ),
            Self::Llama3Json => {
                format!(
                    "{} {args} {}",
                    lit(&format!("{{\"name\": {quoted}, \"parameters\": ")),
                    lit("}")
                )
            }
            Self::MistralJsonList
            | Self::GraniteJsonList
            | Self::FireFunction
            | Self::ToolCallsTag => {
                format!(
                    "{} {args} {}",
                    lit(&format!("{{\"name\": {quoted}, \"arguments\": ")),
                    lit("}")
                )
            }
            Self::MistralArgs => format!(
                "{} ({} /[a-zA-Z0-9]{{9}}/)? {} {args}",
                lit(&format!("[TOOL_CALLS]{name}")),
                lit("[CALL_ID]"),
                lit("[ARGS]")
            ),
            Self::FunctionaryV31 => {
                format!(
                    "{} {args} {}",
                    lit(&format!("<function={name}>")),
                    lit("</function>")
                )
            }
            Self::FunctionaryV32 => format!("{} {args}", lit(&format!("{name}\n"))),
            Self::DeepSeekR1 => format!(
                "{} {args} {}",
                lit(&format!(
                    "{}function{}{name}\n```json\n",
                    deepseek::CALL_BEGIN,
                    deepseek::SEP
                )),
                lit(&format!("\n```{}", deepseek::CALL_END))
            ),
            Self::DeepSeekV31 => format!(
                "{} {args} {}",
                lit(&format!("{}{name}{}", deepseek::CALL_BEGIN, deepseek::SEP)),
                lit(deepseek::CALL_END)
            ),
            Self::KimiK2 => format!(
                "{} /[0-9]+/ {} {args} {}",
                lit(&format!("{}functions.{name}:", kimi::CALL_BEGIN)),
                lit(kimi::ARGS_BEGIN),
                lit(kimi::CALL_END)
            ),
            Self::QwenXml | Self::SeedXml => {
                let (open, close) = if *self == Self::SeedXml {
                    ("<seed:tool_call>", "</seed:tool_call>")
                } else {
                    ("<tool_call>", "</tool_call>")
                };
                let params = xml_params(grammar, i, tool, |key| {
                    (
                        format!("<parameter={key}>\n"),
                        "\n</parameter>\n".to_string(),
                    )
                });
                format!(
                    "{} {params} {}",
                    lit(&format!("{open}\n<function={name}>\n")),
                    lit(&format!("</function>\n{close}"))
                )
            }
            Self::Glm => {
                let params = xml_params(grammar, i, tool, |key| {
                    (
                        format!("<arg_key>{key}</arg_key>\n<arg_value>"),
                        "</arg_value>\n".to_string(),
                    )
                });
                format!(
                    "{} {params} {}",
                    lit(&format!("<tool_call>{name}\n")),
                    lit("</tool_call>")
                )
            }
            Self::MiniMaxXml => {
                let params = xml_params(grammar, i, tool, |key| {
                    (
                        format!("<parameter name=\"{key}\">"),
                        "</parameter>\n".to_string(),
                    )
                });
                format!(
                    "{} {params} {}",
                    lit(&format!("<invoke name=\"{name}\">\n")),
                    lit("</invoke>\n")
                )
            }
        };
        let _ = writeln!(grammar, "call_{i}: {body}");
        if !self.is_xml() {
            let _ = writeln!(grammar, "{args}: %json {}", object_schema(&tool.parameters));
        }
    }

    fn is_xml(&self) -> bool {
        matches!(
            self,
            Self::QwenXml | Self::SeedXml | Self::Glm | Self::MiniMaxXml
        )
    }
}

/// Writes one rule per parameter of tool `i` and returns the expression of its parameters in
/// schema order (required ones mandatory); `wrap(key)` gives the markup around a value.
fn xml_params(
    grammar: &mut String,
    i: usize,
    tool: &FunctionSpec,
    wrap: impl Fn(&str) -> (String, String),
) -> String {
    let properties = tool
        .parameters
        .get("properties")
        .and_then(|p| p.as_object());
    let required: Vec<&str> = tool
        .parameters
        .get("required")
        .and_then(|r| r.as_array())
        .map(|r| r.iter().filter_map(|k| k.as_str()).collect())
        .unwrap_or_default();
    let mut parts = Vec::new();
    for (j, (key, schema)) in properties.into_iter().flatten().enumerate() {
        let rule = format!("param_{i}_{j}");
        let (before, after) = wrap(key);
        let is_string = schema.get("type").and_then(|t| t.as_str()) == Some("string")
            && schema.get("enum").is_none()
            && schema.get("const").is_none();
        let value = if is_string {
            "/[^<]*/".to_string()
        } else {
            let value_rule = format!("value_{i}_{j}");
            let _ = writeln!(grammar, "{value_rule}: %json {schema}");
            value_rule
        };
        let _ = writeln!(grammar, "{rule}: {} {value} {}", lit(&before), lit(&after));
        if required.contains(&key.as_str()) {
            parts.push(rule);
        } else {
            parts.push(format!("{rule}?"));
        }
    }
    if parts.is_empty() {
        lit("")
    } else {
        parts.join(" ")
    }
}

/// The schema of an arguments object: the tool's, or any object when it gives none.
fn object_schema(parameters: &serde_json::Value) -> String {
    match parameters {
        serde_json::Value::Object(map) if !map.is_empty() => parameters.to_string(),
        _ => r#"{"type":"object"}"#.to_string(),
    }
}

/// A Lark string literal for `text`.
fn lit(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weather() -> FunctionSpec {
        FunctionSpec {
            name: "get_weather".into(),
            description: Some("Current weather".into()),
            parameters: serde_json::json!({
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"]
            }),
        }
    }

    fn clock() -> FunctionSpec {
        FunctionSpec {
            name: "now".into(),
            description: None,
            parameters: serde_json::Value::Null,
        }
    }

    #[test]
    fn hermes_grammar_has_one_alternative_per_tool_with_its_schema() {
        let grammar = ToolCallFormat::Hermes.forced_call_grammar(&[weather(), clock()], false);
        let expected = [
            "start: call",
            "call: call_0 | call_1",
            r#"call_0: "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": " args_0 "}\n</tool_call>""#,
            r#"args_0: %json {"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]}"#,
            r#"call_1: "<tool_call>\n{\"name\": \"now\", \"arguments\": " args_1 "}\n</tool_call>""#,
            r#"args_1: %json {"type":"object"}"#,
        ];
        assert_eq!(grammar.lines().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn parallel_calls_repeat_with_the_format_separator_inside_its_section() {
        let grammar = ToolCallFormat::MistralJsonList.forced_call_grammar(&[weather()], true);
        assert!(grammar.starts_with("start: \"[TOOL_CALLS][\" call (\", \" call)* \"]\"\n"));
        let grammar = ToolCallFormat::KimiK2.forced_call_grammar(&[weather()], true);
        assert!(grammar.starts_with(
            "start: \"<|tool_calls_section_begin|>\" call (call)* \"<|tool_calls_section_end|>\"\n"
        ));
    }

    #[test]
    fn xml_grammar_lists_parameters_with_required_ones_mandatory() {
        let grammar = ToolCallFormat::QwenXml.forced_call_grammar(&[weather()], false);
        let lines: Vec<&str> = grammar.lines().collect();
        assert!(lines.contains(&r#"param_0_0: "<parameter=city>\n" /[^<]*/ "\n</parameter>\n""#));
        assert!(lines.contains(&r#"value_0_1: %json {"type":"integer"}"#));
        assert!(lines.contains(&r#"param_0_1: "<parameter=days>\n" value_0_1 "\n</parameter>\n""#));
        assert!(lines.contains(
            &r#"call_0: "<tool_call>\n<function=get_weather>\n" param_0_0 param_0_1? "</function>\n</tool_call>""#
        ));
    }

    #[test]
    fn every_format_names_every_tool_and_embeds_schemas() {
        for format in ToolCallFormat::ALL {
            for parallel in [false, true] {
                let grammar = format.forced_call_grammar(&[weather(), clock()], parallel);
                assert!(grammar.starts_with("start: "), "{format:?}");
                assert!(grammar.contains("call: call_0 | call_1\n"), "{format:?}");
                assert!(grammar.contains("get_weather"), "{format:?}");
                assert!(grammar.contains("now"), "{format:?}");
                assert!(grammar.contains("%json {"), "{format:?}");
                assert_eq!(grammar.contains("call)*"), parallel, "{format:?}");
            }
        }
    }
}
