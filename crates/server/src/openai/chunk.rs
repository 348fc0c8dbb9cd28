//! The chunks of a streamed `POST /v1/chat/completions` (a streamed completion's chunks are
//! [`Completion`](super::Completion)s).

use serde::Serialize;

use super::response::{ChatLogprobs, Extensions, FinishReason, Head, Role, Usage};
use super::tools::ToolCallDelta;

/// One chunk of a chat completion's stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "object", rename = "chat.completion.chunk")]
pub struct ChatCompletionChunk {
    /// Which request it answers.
    #[serde(flatten)]
    pub head: Head,
    /// The one choice (none in the usage chunk).
    pub choices: Vec<ChunkChoice>,
    /// Token counts, in the last chunks only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// `truncated_messages` in every chunk; `sources` in the first.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// A choice of a [`ChatCompletionChunk`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChunkChoice {
    /// Its position among the choices.
    pub index: usize,
    /// What the chunk adds to the reply.
    pub delta: Delta,
    /// The log probabilities of the chunk's tokens when the request asked; else `null`.
    pub logprobs: Option<ChatLogprobs>,
    /// Why the reply ended, in the chunk that ends it; else `null`.
    pub finish_reason: Option<FinishReason>,
}

impl ChunkChoice {
    /// The first choice, adding `delta`.
    pub fn new(delta: Delta, finish_reason: Option<FinishReason>) -> Self {
        ChunkChoice {
            index: 0,
            delta,
            logprobs: None,
            finish_reason,
        }
    }
}

/// What a chunk adds to the reply: `{}` when nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Delta {
    /// Who is speaking, in the first chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// More text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Pieces of tool calls.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallDelta>,
}

impl Delta {
    /// The first chunk's: the assistant speaks, no text yet.
    pub fn opening() -> Self {
        Delta {
            role: Some(Role::Assistant),
            content: Some(String::new()),
            tool_calls: Vec::new(),
        }
    }

    /// More `text`.
    pub fn text(text: impl Into<String>) -> Self {
        Delta {
            role: None,
            content: Some(text.into()),
            tool_calls: Vec::new(),
        }
    }

    /// A piece of a tool call.
    pub fn tool_call(piece: ToolCallDelta) -> Self {
        Delta {
            tool_calls: vec![piece],
            ..Delta::default()
        }
    }
}
