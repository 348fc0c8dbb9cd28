//! Request bodies of `POST /v1/completions` and `POST /v1/chat/completions`.

use serde::Deserialize;

use super::retrieval::{Checked, Retrieval};
use super::structured::ResponseFormat;
use super::tools::{Tool, ToolCall, ToolChoice};

/// A prompt: text, a one-element list of texts, or token ids.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Prompt {
    /// Plain text.
    Text(String),
    /// Token ids.
    Tokens(Vec<u32>),
    /// A list of texts (only one is supported).
    Texts(Vec<String>),
}

/// One stop string or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// A single stop string.
    One(String),
    /// Up to four stop strings.
    Many(Vec<String>),
}

impl Stop {
    /// The stop strings as a list.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s],
            Stop::Many(v) => v,
        }
    }
}

/// `stream_options` of a streaming request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamOptions {
    /// Send a last chunk with token counts.
    #[serde(default)]
    pub include_usage: bool,
}

/// Sampling and length fields shared by both endpoints.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GenerationFields {
    /// Most new tokens (`max_completion_tokens` is accepted as an alias).
    #[serde(alias = "max_completion_tokens")]
    pub max_tokens: Option<i64>,
    /// Softmax temperature, 0..=2.
    pub temperature: Option<f64>,
    /// Nucleus mass, (0, 1].
    pub top_p: Option<f64>,
    /// Keep the k most likely tokens (0 = off). Not in OpenAI's API; as in vLLM.
    pub top_k: Option<i64>,
    /// Minimum probability relative to the most likely token. Not in OpenAI's API; as in vLLM.
    pub min_p: Option<f64>,
    /// OpenAI frequency penalty, -2..=2.
    pub frequency_penalty: Option<f64>,
    /// OpenAI presence penalty, -2..=2.
    pub presence_penalty: Option<f64>,
    /// CTRL-style repetition penalty (> 0, 1 = off). Not in OpenAI's API; as in vLLM.
    pub repetition_penalty: Option<f64>,
    /// Seed for reproducible sampling.
    pub seed: Option<u64>,
    /// Stop sequences.
    pub stop: Option<Stop>,
    /// Stream Server-Sent Events.
    #[serde(default)]
    pub stream: bool,
    /// Streaming options.
    pub stream_options: Option<StreamOptions>,
    /// Number of choices (only 1 is supported).
    pub n: Option<i64>,
}

impl GenerationFields {
    /// Every field of this type, which both endpoints take.
    pub const FIELDS: &[&str] = &[
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "frequency_penalty",
        "presence_penalty",
        "repetition_penalty",
        "seed",
        "stop",
        "stream",
        "stream_options",
        "n",
    ];
}

/// Body of `POST /v1/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct CompletionRequest {
    /// Model name (must be the served one).
    pub model: String,
    /// What to continue.
    pub prompt: Prompt,
    /// Sampling and length.
    #[serde(flatten)]
    pub fields: GenerationFields,
    /// Return the log probability of each token and of this many most likely alternatives
    /// (0-20; OpenAI's legacy form).
    #[serde(default)]
    pub logprobs: Option<i64>,
}

impl CompletionRequest {
    /// Every top-level field a completion request may have; any other is refused by name.
    pub const FIELDS: &[&str] = &["model", "prompt", "logprobs"];
}

/// Message content: text, or a list of parts of which the text parts are used.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// `[{"type": "text", "text": "..."}]`.
    Parts(Vec<ContentPart>),
}

/// One part of a message's content.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentPart {
    /// Part type; only `"text"` is understood.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a text part.
    #[serde(default)]
    pub text: String,
}

impl Content {
    /// The text of the content.
    pub fn text(&self) -> Result<String, String> {
        match self {
            Content::Text(s) => Ok(s.clone()),
            Content::Parts(parts) => parts
                .iter()
                .map(|part| match part.kind.as_str() {
                    "text" => Ok(part.text.as_str()),
                    other => Err(format!("content parts of type {other:?} are not supported")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|texts| texts.concat()),
        }
    }
}

/// Who wrote a message of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    /// Instructions.
    System,
    /// OpenAI's newer name for `system`; given to the template as `system`.
    Developer,
    /// The person.
    User,
    /// The model.
    Assistant,
    /// A tool's result.
    Tool,
}

impl MessageRole {
    /// The role as chat templates know it (`developer` is `system`).
    pub fn template_name(self) -> &'static str {
        match self {
            MessageRole::System | MessageRole::Developer => "system",
            MessageRole::User => "user",
            MessageRole::Assistant => "assistant",
            MessageRole::Tool => "tool",
        }
    }
}

/// One chat message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// `system`, `developer` (read as `system`), `user`, `assistant` or `tool`.
    pub role: MessageRole,
    /// What was said; may be `null` (or absent) in an assistant message with `tool_calls`.
    #[serde(default)]
    pub content: Option<Content>,
    /// A name for the speaker, or the tool's name in a `tool` message.
    #[serde(default)]
    pub name: Option<String>,
    /// The calls an assistant message made.
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// In a `tool` message: the call it answers.
    #[serde(default)]
    pub tool_call_id: Option<String>,
}

/// Body of `POST /v1/chat/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatRequest {
    /// Model name (must be the served one).
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Sampling and length.
    #[serde(flatten)]
    pub fields: GenerationFields,
    /// Functions the model may call.
    #[serde(default)]
    pub tools: Option<Vec<Tool>>,
    /// Whether and which tool the model must call.
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    /// Whether a reply may hold several calls (default true).
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    /// Text, any JSON object, or JSON following a schema.
    #[serde(default)]
    pub response_format: Option<ResponseFormat>,
    /// Return each token's log probability.
    #[serde(default)]
    pub logprobs: Option<bool>,
    /// How many of the most likely alternatives to return with each token (0-20; needs
    /// `logprobs`).
    #[serde(default)]
    pub top_logprobs: Option<i64>,
    /// Retrieval for this request, when the server has an index (an extension; see
    /// [`crate::rag`]).
    #[serde(default)]
    pub retrieval: Checked<Retrieval>,
}

impl ChatRequest {
    /// Every top-level field a chat request may have; any other is refused by name.
    pub const FIELDS: &[&str] = &[
        "model",
        "messages",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "logprobs",
        "top_logprobs",
        "retrieval",
    ];
}
