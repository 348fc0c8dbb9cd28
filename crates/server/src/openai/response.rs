//! The answers of `POST /v1/completions` and `POST /v1/chat/completions`, and the parts they
//! share with streamed chunks.

use claude_retrieval::Source;
use serde::Serialize;

use super::tools::ToolCall;

/// Token counts of a request.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Their sum.
    pub total_tokens: usize,
}

impl Usage {
    /// Counts for `prompt` and `completion` tokens.
    pub fn new(prompt: usize, completion: usize) -> Self {
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
        }
    }
}

/// Which request an object answers: the same in a response and in every chunk of its stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Head {
    /// `cmpl-…` or `chatcmpl-…`.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    /// The model name.
    pub model: String,
}

/// A chat answer's fields beyond OpenAI's, at the top level of its objects (OpenAI's clients
/// ignore them); each is absent when it has nothing to say.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Extensions {
    /// How many of the oldest messages were left out of the prompt to fit the context (see
    /// the crate docs).
    #[serde(skip_serializing_if = "is_zero")]
    pub truncated_messages: usize,
    /// The retrieved chunks the prompt was grounded in, by number (see [`crate::rag`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Source>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Why a choice ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// End of text or a stop sequence.
    Stop,
    /// The token limit (or the context) was reached.
    Length,
    /// The reply is tool calls.
    ToolCalls,
}

impl From<claude_inference::FinishReason> for FinishReason {
    fn from(reason: claude_inference::FinishReason) -> Self {
        match reason {
            claude_inference::FinishReason::Stop => FinishReason::Stop,
            claude_inference::FinishReason::Length => FinishReason::Length,
        }
    }
}

/// The log probabilities of a chat choice's tokens (`logprobs` in a choice or a chunk's
/// choice).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChatLogprobs {
    /// One entry per token of the content, in order.
    pub content: Vec<TokenLogprob>,
}

/// One token of a reply with its log probability and the most likely alternatives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenLogprob {
    /// The token's text (its bytes read as UTF-8, invalid sequences replaced).
    pub token: String,
    /// Natural log of its probability under the model.
    pub logprob: f32,
    /// The token's bytes.
    pub bytes: Vec<u8>,
    /// The most likely tokens at this position, most likely first.
    pub top_logprobs: Vec<TopLogprob>,
}

/// An alternative of a [`TokenLogprob`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopLogprob {
    /// Its text.
    pub token: String,
    /// Natural log of its probability under the model.
    pub logprob: f32,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The log probabilities of a completion choice, in OpenAI's legacy form: parallel lists.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CompletionLogprobs {
    /// Each token's text.
    pub tokens: Vec<String>,
    /// Each token's log probability.
    pub token_logprobs: Vec<f32>,
    /// For each token, the most likely alternatives' texts and log probabilities.
    pub top_logprobs: Vec<serde_json::Map<String, serde_json::Value>>,
    /// Where each token's text starts in the choice's text, in bytes.
    pub text_offset: Vec<usize>,
}

/// Who wrote a message of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The model.
    Assistant,
}

/// The answer of `POST /v1/completions`, and each chunk of its stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "object", rename = "text_completion")]
pub struct Completion {
    /// Which request it answers.
    #[serde(flatten)]
    pub head: Head,
    /// The one choice (none in a stream's usage chunk).
    pub choices: Vec<CompletionChoice>,
    /// Token counts: in an answer, and in a stream's last chunks; absent from the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// A choice of a [`Completion`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompletionChoice {
    /// Its position among the choices.
    pub index: usize,
    /// The text generated (in a stream, since the previous chunk).
    pub text: String,
    /// The tokens' log probabilities when the request asked; else `null`.
    pub logprobs: Option<CompletionLogprobs>,
    /// Why it ended; `null` in a stream's chunks before the last.
    pub finish_reason: Option<FinishReason>,
}

impl CompletionChoice {
    /// The first choice, with `text`.
    pub fn new(text: impl Into<String>, finish_reason: Option<FinishReason>) -> Self {
        CompletionChoice {
            index: 0,
            text: text.into(),
            logprobs: None,
            finish_reason,
        }
    }
}

/// The answer of `POST /v1/chat/completions` when not streamed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "object", rename = "chat.completion")]
pub struct ChatCompletion {
    /// Which request it answers.
    #[serde(flatten)]
    pub head: Head,
    /// The one choice.
    pub choices: Vec<ChatChoice>,
    /// Token counts.
    pub usage: Usage,
    /// `truncated_messages` and `sources`.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// A choice of a [`ChatCompletion`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatChoice {
    /// Its position among the choices.
    pub index: usize,
    /// The reply.
    pub message: ResponseMessage,
    /// The tokens' log probabilities when the request asked; else `null`.
    pub logprobs: Option<ChatLogprobs>,
    /// Why it ended.
    pub finish_reason: FinishReason,
}

impl ChatChoice {
    /// The first choice: the assistant's reply `content`.
    pub fn new(content: impl Into<String>, finish_reason: FinishReason) -> Self {
        ChatChoice {
            index: 0,
            message: ResponseMessage::text(content),
            logprobs: None,
            finish_reason,
        }
    }
}

/// The message of a [`ChatChoice`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResponseMessage {
    /// Always the assistant.
    pub role: Role,
    /// What it said; `null` when the reply is only tool calls.
    pub content: Option<String>,
    /// The calls it made, if any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

impl ResponseMessage {
    /// A reply of text only.
    pub fn text(content: impl Into<String>) -> Self {
        ResponseMessage {
            role: Role::Assistant,
            content: Some(content.into()),
            tool_calls: Vec::new(),
        }
    }
}
