//! Tool calling in OpenAI's format: a request's `tools` and `tool_choice`, the calls an
//! assistant message carries, and the calls (whole or streamed) of an answer.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The only kind of tool: a function.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolKind {
    /// `"function"`.
    #[default]
    Function,
}

/// One entry of a request's `tools`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: ToolKind,
    /// The function the model may call.
    pub function: FunctionDefinition,
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionDefinition {
    /// Its name: letters, digits, `_` and `-`, at most 64 (OpenAI's rule).
    pub name: String,
    /// What it does, for the model.
    #[serde(default)]
    pub description: Option<String>,
    /// A JSON schema of its arguments object; absent means no arguments.
    #[serde(default)]
    pub parameters: Option<Value>,
    /// Whether the arguments must follow the schema exactly. They always do here when the call
    /// is forced (`tool_choice` `required` or named), whatever this says.
    #[serde(default)]
    pub strict: Option<bool>,
}

/// A request's `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// `"auto"` (the default with tools): the model decides.
    #[default]
    Auto,
    /// `"none"`: no tool is offered to the model.
    None,
    /// `"required"`: the reply is one or more calls.
    Required,
    /// `{"type": "function", "function": {"name": N}}`: the reply is a call to `N`.
    Function(String),
}

impl<'de> Deserialize<'de> for ToolChoice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let named = || -> Option<String> {
            let object = value.as_object()?;
            let function = object.get("function")?.as_object()?;
            let known = object.keys().all(|k| k == "type" || k == "function")
                && function.keys().all(|k| k == "name");
            (known && object.get("type")? == "function")
                .then(|| function.get("name")?.as_str().map(String::from))
                .flatten()
        };
        match value.as_str() {
            Some("auto") => Ok(ToolChoice::Auto),
            Some("none") => Ok(ToolChoice::None),
            Some("required") => Ok(ToolChoice::Required),
            _ => named().map(ToolChoice::Function).ok_or_else(|| {
                D::Error::custom(format!(
                    "tool_choice must be \"auto\", \"none\", \"required\" or \
                     {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}, not {value}"
                ))
            }),
        }
    }
}

/// A call made by the assistant: in a request's assistant message, or in an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    /// The call's id, which the tool's result message names.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: ToolKind,
    /// What is called, with what.
    pub function: FunctionCall,
}

/// The function of a [`ToolCall`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionCall {
    /// The function's name.
    pub name: String,
    /// Its arguments, as the text of a JSON object.
    pub arguments: String,
}

/// A piece of a call in a streamed chunk: the first names it, the next add to its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolCallDelta {
    /// Which call of the reply (0, 1, ...).
    pub index: usize,
    /// The call's id, in its first piece.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `function`, in its first piece.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ToolKind>,
    /// The name (first piece) or more argument text.
    pub function: FunctionCallDelta,
}

/// The function part of a [`ToolCallDelta`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionCallDelta {
    /// The name, in the call's first piece.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// More of the arguments' JSON text (empty in the first piece).
    pub arguments: String,
}

impl ToolCallDelta {
    /// The first piece of call `index`: its id and name.
    pub fn start(index: usize, id: impl Into<String>, name: impl Into<String>) -> Self {
        ToolCallDelta {
            index,
            id: Some(id.into()),
            kind: Some(ToolKind::Function),
            function: FunctionCallDelta {
                name: Some(name.into()),
                arguments: String::new(),
            },
        }
    }

    /// More argument text for call `index`.
    pub fn arguments(index: usize, fragment: impl Into<String>) -> Self {
        ToolCallDelta {
            index,
            id: None,
            kind: None,
            function: FunctionCallDelta {
                name: None,
                arguments: fragment.into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tool_choice_reads_every_form_and_names_a_bad_one() {
        let read = |v: Value| serde_json::from_value::<ToolChoice>(v);
        assert_eq!(read(json!("auto")).unwrap(), ToolChoice::Auto);
        assert_eq!(read(json!("none")).unwrap(), ToolChoice::None);
        assert_eq!(read(json!("required")).unwrap(), ToolChoice::Required);
        let named = json!({"type": "function", "function": {"name": "get_weather"}});
        assert_eq!(
            read(named).unwrap(),
            ToolChoice::Function("get_weather".into())
        );
        for bad in [json!("any"), json!({"type": "function"}), json!(3)] {
            let error = read(bad).unwrap_err().to_string();
            assert!(error.contains("tool_choice must be"), "{error}");
        }
    }

    #[test]
    fn a_tool_with_an_unknown_field_is_refused_by_name() {
        let tool = json!({"type": "function", "function": {"name": "f", "returns": {}}});
        let error = serde_json::from_value::<Tool>(tool)
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `returns`"), "{error}");
    }

    #[test]
    fn deltas_serialize_as_openai_streams_them() {
        let first = serde_json::to_value(ToolCallDelta::start(0, "call_1", "f")).unwrap();
        assert_eq!(
            first,
            json!({"index": 0, "id": "call_1", "type": "function",
                   "function": {"name": "f", "arguments": ""}})
        );
        let more = serde_json::to_value(ToolCallDelta::arguments(0, "{\"a\"")).unwrap();
        assert_eq!(
            more,
            json!({"index": 0, "function": {"arguments": "{\"a\""}})
        );
    }
}
