//! One line of a data file as an example to render: a conversation in OpenAI's chat format, or
//! plain text (the format is in the [module docs](super)).

use claude_inference::{ChatMessage, ToolCallMessage};
use serde_json::{Map, Value};

/// The roles a message may have.
const ROLES: [&str; 5] = ["system", "developer", "user", "assistant", "tool"];

/// One example before rendering.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Record {
    /// A conversation for the chat template.
    Chat {
        /// The messages, in order.
        messages: Vec<ChatMessage>,
        /// For each message: whether it is an assistant message whose tokens count.
        trained: Vec<bool>,
        /// The tools offered to the model (OpenAI tool objects).
        tools: Vec<Value>,
    },
    /// Plain text for continued pretraining.
    Text(String),
}

/// The record that `value` (one parsed line) describes, or what is wrong with it.
pub(crate) fn parse(value: &Value) -> Result<Record, String> {
    let Value::Object(object) = value else {
        return Err(format!(
            "expected a JSON object with \"messages\" or \"text\", found {}",
            kind(value)
        ));
    };
    match (object.get("messages"), object.get("text")) {
        (Some(_), Some(_)) => Err(
            "the line has both \"messages\" and \"text\"; an example is one or the other".into(),
        ),
        (None, Some(Value::String(text))) => Ok(Record::Text(text.clone())),
        (None, Some(other)) => Err(format!("\"text\" is {}, not a string", kind(other))),
        (Some(messages), None) => chat(messages, object.get("tools")),
        (None, None) => Err(format!(
            "not an example: expected \"messages\" (a conversation) or \"text\" (plain text), \
             found the keys {}",
            keys(object)
        )),
    }
}

/// A conversation from its `messages` and `tools` values.
fn chat(messages: &Value, tools: Option<&Value>) -> Result<Record, String> {
    let Value::Array(items) = messages else {
        return Err(format!("\"messages\" is {}, not an array", kind(messages)));
    };
    let tools = match tools {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(tools)) => tools.clone(),
        Some(other) => return Err(format!("\"tools\" is {}, not an array", kind(other))),
    };
    let mut parsed = Vec::with_capacity(items.len());
    let mut trained = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let (message, counts) =
            message(item).map_err(|problem| format!("message {index}: {problem}"))?;
        parsed.push(message);
        trained.push(counts);
    }
    if !parsed.iter().any(|m| m.role == "assistant") {
        return Err("the conversation has no assistant message: nothing to train on".into());
    }
    Ok(Record::Chat {
        messages: parsed,
        trained,
        tools,
    })
}

/// One message, and whether its tokens count (an assistant message without `"weight": 0`).
fn message(value: &Value) -> Result<(ChatMessage, bool), String> {
    let Value::Object(object) = value else {
        return Err(format!("expected an object, found {}", kind(value)));
    };
    let role = match object.get("role") {
        Some(Value::String(role)) if ROLES.contains(&role.as_str()) => role.clone(),
        Some(Value::String(role)) => {
            return Err(format!(
                "unknown role {role:?} (expected system, developer, user, assistant or tool)"
            ));
        }
        Some(other) => return Err(format!("\"role\" is {}, not a string", kind(other))),
        None => return Err("no \"role\"".into()),
    };
    let content = content(object.get("content"))?;
    let tool_calls = match object.get("tool_calls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(calls)) if role == "assistant" => calls
            .iter()
            .enumerate()
            .map(|(i, call)| tool_call(call).map_err(|p| format!("tool call {i}: {p}")))
            .collect::<Result<_, _>>()?,
        Some(Value::Array(_)) => return Err(format!("a {role} message has \"tool_calls\"")),
        Some(other) => return Err(format!("\"tool_calls\" is {}, not an array", kind(other))),
    };
    if content.is_none() && tool_calls.is_empty() {
        return Err(format!(
            "the {role} message has neither content nor tool_calls"
        ));
    }
    let counts = role == "assistant" && weight(object.get("weight"))?;
    let message = ChatMessage {
        role,
        content,
        tool_calls,
        tool_call_id: optional_string(object, "tool_call_id")?,
        name: optional_string(object, "name")?,
    };
    Ok((message, counts))
}

/// A message's text: a string, none (`null` or absent), or the text parts of a list, joined.
fn content(value: Option<&Value>) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (i, part) in parts.iter().enumerate() {
                match part.get("text") {
                    Some(Value::String(piece)) if part.get("type").is_none_or(|t| t == "text") => {
                        text.push_str(piece)
                    }
                    _ => return Err(format!("content part {i} is not a text part")),
                }
            }
            Ok(Some(text))
        }
        Some(other) => Err(format!("\"content\" is {}, not a string", kind(other))),
    }
}

/// Whether an assistant message's `weight` (0 or 1, 1 when absent) lets its tokens count.
fn weight(value: Option<&Value>) -> Result<bool, String> {
    match value {
        None | Some(Value::Null) => Ok(true),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Number(n)) if n.as_f64() == Some(0.0) => Ok(false),
        Some(Value::Number(n)) if n.as_f64() == Some(1.0) => Ok(true),
        Some(other) => Err(format!("\"weight\" is {other}, not 0 or 1")),
    }
}

/// One OpenAI tool call: `{"id", "type": "function", "function": {"name", "arguments"}}`.
fn tool_call(value: &Value) -> Result<ToolCallMessage, String> {
    let function = value.get("function").ok_or("no \"function\"")?;
    let Some(Value::String(name)) = function.get("name") else {
        return Err("the function has no \"name\" string".into());
    };
    let arguments = match function.get("arguments") {
        None | Some(Value::Null) => "{}".to_string(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    let id = match value.get("id") {
        Some(Value::String(id)) => id.clone(),
        _ => String::new(),
    };
    Ok(ToolCallMessage::new(id, name.clone(), arguments))
}

/// The string at `key`, if there is one (`null` is none).
fn optional_string(object: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(format!("{key:?} is {}, not a string", kind(other))),
    }
}

/// What kind of JSON value `value` is, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An object's keys, quoted and comma-separated (`none` for an empty object).
fn keys(object: &Map<String, Value>) -> String {
    if object.is_empty() {
        return "none".into();
    }
    object
        .keys()
        .map(|k| format!("{k:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}
