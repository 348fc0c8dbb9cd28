//! The messages of a conversation, tool calls and tool results included, and how a Jinja
//! template sees them: as the dicts Hugging Face `transformers` gives templates for
//! OpenAI-style messages.

use minijinja::value::Value;

use super::pyjson;

/// One message of a conversation: a system, user or assistant turn, an assistant's tool calls,
/// or a tool's result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatMessage {
    /// `system` (or OpenAI's `developer`), `user`, `assistant` or `tool`.
    pub role: String,
    /// The text; `None` where there is none (OpenAI's `content: null`, as an assistant message
    /// that only calls tools has). Templates then see no `content` key, as `transformers` drops
    /// keys whose value is `None`.
    pub content: Option<String>,
    /// The tools an assistant message calls, in order (none for other messages).
    pub tool_calls: Vec<ToolCallMessage>,
    /// For a `tool` message: the id of the call it answers.
    pub tool_call_id: Option<String>,
    /// For a `tool` message: the name of the tool that answered (optional in OpenAI's API).
    pub name: Option<String>,
}

/// One tool call of an assistant message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolCallMessage {
    /// The call's id, which the tool's result names (`tool_call_id`).
    pub id: String,
    /// The function called.
    pub name: String,
    /// The JSON text of the arguments object, as OpenAI's API carries it
    /// (`{"city": "Paris"}`).
    pub arguments: String,
}

impl ChatMessage {
    /// A message of `role` with `content` as its text.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: Some(content.into()),
            ..ChatMessage::default()
        }
    }

    /// An assistant message calling `tool_calls`, with `content` as its text if it has any.
    pub fn tool_calls(content: Option<String>, tool_calls: Vec<ToolCallMessage>) -> Self {
        ChatMessage {
            role: "assistant".into(),
            content,
            tool_calls,
            ..ChatMessage::default()
        }
    }

    /// A `tool` message: the result `content` of the call `tool_call_id`.
    pub fn tool_result(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: "tool".into(),
            content: Some(content.into()),
            tool_call_id: Some(tool_call_id.into()),
            ..ChatMessage::default()
        }
    }

    /// The same message with `name` as the answering tool's name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The message as a template sees it: `{"role", "content", "tool_calls", "tool_call_id",
    /// "name"}` in that order, with only the keys that have a value (no `content` where it is
    /// `None`, no `tool_calls` where there are none). OpenAI's `developer` role is `system`.
    pub(crate) fn to_value(&self) -> Value {
        // OpenAI's `developer` role is the system prompt; many templates know only `system`
        // and refuse other roles.
        let role = if self.role == "developer" {
            "system"
        } else {
            self.role.as_str()
        };
        let mut pairs = vec![("role", Value::from(role))];
        if let Some(content) = &self.content {
            pairs.push(("content", Value::from(content.as_str())));
        }
        if !self.tool_calls.is_empty() {
            let calls: Value = self
                .tool_calls
                .iter()
                .map(ToolCallMessage::to_value)
                .collect();
            pairs.push(("tool_calls", calls));
        }
        if let Some(id) = &self.tool_call_id {
            pairs.push(("tool_call_id", Value::from(id.as_str())));
        }
        if let Some(name) = &self.name {
            pairs.push(("name", Value::from(name.as_str())));
        }
        Value::from_pairs(pairs)
    }
}

impl From<(String, String)> for ChatMessage {
    fn from((role, content): (String, String)) -> Self {
        ChatMessage::new(role, content)
    }
}

impl ToolCallMessage {
    /// The call `id` of the function `name` with `arguments` (the JSON text of an object).
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        ToolCallMessage {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
        }
    }

    /// The arguments as a template sees them: the mapping the JSON text describes, its keys in
    /// their written order (as `transformers` recommends passing them); the text itself where it
    /// is not a JSON object.
    pub(crate) fn arguments_value(&self) -> Value {
        match pyjson::parse(&self.arguments) {
            Ok(value) if value.kind() == minijinja::value::ValueKind::Map => value,
            _ => Value::from(self.arguments.as_str()),
        }
    }

    /// `{"id", "type": "function", "function": {"name", "arguments"}}`, OpenAI's shape.
    fn to_value(&self) -> Value {
        let function = Value::from_pairs([
            ("name", Value::from(self.name.as_str())),
            ("arguments", self.arguments_value()),
        ]);
        Value::from_pairs([
            ("id", Value::from(self.id.as_str())),
            ("type", Value::from("function")),
            ("function", function),
        ])
    }
}
