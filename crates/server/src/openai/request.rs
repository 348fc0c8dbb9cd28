//! Request bodies of `POST /v1/completions` and `POST /v1/chat/completions`.

use serde::Deserialize;

use super::retrieval::{Checked, Retrieval};

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

/// One chat message.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    /// `system`, `user`, `assistant` (`developer` is read as `system`).
    pub role: String,
    /// What was said.
    pub content: Content,
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
    /// Retrieval for this request, when the server has an index (an extension; see
    /// [`crate::rag`]).
    #[serde(default)]
    pub retrieval: Checked<Retrieval>,
}
