//! Bodies of `POST /v1/messages` and `POST /v1/messages/count_tokens`.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Body of `POST /v1/messages`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesRequest {
    /// Model name (must be the served one).
    pub model: String,
    /// The conversation, alternating `user` and `assistant`.
    pub messages: Vec<InputMessage>,
    /// Most new tokens (required).
    pub max_tokens: i64,
    /// Instructions before the conversation.
    #[serde(default)]
    pub system: Option<SystemPrompt>,
    /// Texts that end the reply; the one met is returned as `stop_sequence`.
    #[serde(default)]
    pub stop_sequences: Option<Vec<String>>,
    /// Softmax temperature, 0..=1.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus mass, (0, 1].
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Keep the k most likely tokens.
    #[serde(default)]
    pub top_k: Option<i64>,
    /// Stream Server-Sent Events.
    #[serde(default)]
    pub stream: bool,
    /// Tools the model may use.
    #[serde(default)]
    pub tools: Option<Vec<ToolDefinition>>,
    /// Whether and which tool the model must use.
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    /// `{"user_id": ...}`: accepted, not used.
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// Body of `POST /v1/messages/count_tokens`: what the prompt of a message request is made of.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountTokensRequest {
    /// Model name (must be the served one).
    pub model: String,
    /// The conversation.
    pub messages: Vec<InputMessage>,
    /// Instructions before the conversation.
    #[serde(default)]
    pub system: Option<SystemPrompt>,
    /// Tools the model may use.
    #[serde(default)]
    pub tools: Option<Vec<ToolDefinition>>,
    /// Whether and which tool the model must use.
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
}

/// A request's `metadata`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// An id for the end user (not used).
    #[serde(default)]
    pub user_id: Option<String>,
}

/// `system`: a text, or text blocks.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SystemPrompt {
    /// Plain text.
    Text(String),
    /// Text blocks, joined.
    Blocks(Vec<TextBlock>),
}

impl SystemPrompt {
    /// The instructions as one text.
    pub fn text(&self) -> String {
        match self {
            SystemPrompt::Text(text) => text.clone(),
            SystemPrompt::Blocks(blocks) => blocks.iter().map(|b| b.text.as_str()).collect(),
        }
    }
}

/// `{"type": "text", "text": ...}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextBlock {
    /// Always `text`.
    #[serde(rename = "type")]
    pub kind: TextKind,
    /// The text.
    pub text: String,
    /// Anthropic's prompt-cache hint: accepted; this server reuses what it can by itself.
    #[serde(default)]
    pub cache_control: Option<Value>,
}

/// The tag of a [`TextBlock`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextKind {
    /// `text`.
    Text,
}

/// Who wrote an input message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputRole {
    /// The person (and tool results).
    User,
    /// The model.
    Assistant,
}

/// One message of the conversation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputMessage {
    /// `user` or `assistant`.
    pub role: InputRole,
    /// A text, or content blocks.
    pub content: InputContent,
}

/// A message's content.
#[derive(Debug, Clone)]
pub enum InputContent {
    /// Plain text.
    Text(String),
    /// Content blocks.
    Blocks(Vec<ContentBlock>),
}

impl<'de> Deserialize<'de> for InputContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(text) => Ok(InputContent::Text(text)),
            blocks @ Value::Array(_) => serde_json::from_value(blocks)
                .map(InputContent::Blocks)
                .map_err(D::Error::custom),
            other => Err(D::Error::custom(format!(
                "content must be a string or a list of content blocks, not {other}"
            ))),
        }
    }
}

/// A content block of an input message.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ContentBlock {
    /// Text.
    Text {
        /// The text.
        text: String,
        /// Prompt-cache hint (accepted; see [`TextBlock::cache_control`]).
        #[serde(default)]
        cache_control: Option<Value>,
    },
    /// A tool call the assistant made.
    ToolUse {
        /// Its id, which the result names.
        id: String,
        /// The tool's name.
        name: String,
        /// Its arguments object.
        input: Value,
        /// Prompt-cache hint (accepted).
        #[serde(default)]
        cache_control: Option<Value>,
    },
    /// A tool's result, in a user message.
    ToolResult {
        /// The call it answers.
        tool_use_id: String,
        /// The result: text or text blocks (absent: empty).
        #[serde(default)]
        content: Option<ToolResultContent>,
        /// Whether the tool failed.
        #[serde(default)]
        is_error: Option<bool>,
        /// Prompt-cache hint (accepted).
        #[serde(default)]
        cache_control: Option<Value>,
    },
}

/// The content of a tool result.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ToolResultContent {
    /// Plain text.
    Text(String),
    /// Text blocks, joined.
    Blocks(Vec<TextBlock>),
}

impl ToolResultContent {
    /// The result as one text.
    pub fn text(&self) -> String {
        match self {
            ToolResultContent::Text(text) => text.clone(),
            ToolResultContent::Blocks(blocks) => blocks.iter().map(|b| b.text.as_str()).collect(),
        }
    }
}

/// One of a request's `tools`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolDefinition {
    /// Its name.
    pub name: String,
    /// What it does, for the model.
    #[serde(default)]
    pub description: Option<String>,
    /// A JSON schema of its input object.
    pub input_schema: Value,
    /// Prompt-cache hint (accepted).
    #[serde(default)]
    pub cache_control: Option<Value>,
}

/// A request's `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ToolChoice {
    /// The model decides.
    Auto {
        /// At most one call when true.
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    /// The model must use some tool.
    Any {
        /// At most one call when true.
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    /// The model must use the named tool.
    Tool {
        /// The tool.
        name: String,
        /// At most one call when true.
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    /// No tool is offered.
    None,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_tool_round_trip_conversation() {
        let body = json!({
            "model": "m", "max_tokens": 64, "system": [{"type": "text", "text": "Be brief."}],
            "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any"},
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                     "input": {"city": "Paris"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 C"}]}
            ]
        });
        let request: MessagesRequest = serde_json::from_value(body).unwrap();
        assert_eq!(request.system.unwrap().text(), "Be brief.");
        assert_eq!(
            request.tool_choice,
            Some(ToolChoice::Any {
                disable_parallel_tool_use: None
            })
        );
        assert_eq!(request.messages.len(), 3);
    }

    #[test]
    fn unknown_fields_and_blocks_are_named() {
        let unknown = json!({"model": "m", "max_tokens": 1, "messages": [], "thinking": {}});
        let error = serde_json::from_value::<MessagesRequest>(unknown)
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `thinking`"), "{error}");
        let image = json!({"role": "user", "content": [{"type": "image", "source": {}}]});
        let error = serde_json::from_value::<InputMessage>(image)
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown variant `image`"), "{error}");
    }
}
