//! One request's answer in OpenAI's format, built from what the engine produced: the response,
//! or the chunks of its stream ([`stream`]). Every object carries the request's [`Head`] and,
//! for a chat, its [`Extensions`]: `truncated_messages` in each, `sources` in the response and in
//! a stream's first chunk.

mod stream;

use std::sync::atomic::{AtomicU64, Ordering};

use claude_tokenizer::Tokenizer;
use serde::Serialize;

pub use self::stream::{ChatStream, CompletionStream};
use crate::logprobs;
use crate::openai::{
    ChatChoice, ChatCompletion, ChatCompletionChunk, ChatLogprobs, ChunkChoice, Completion,
    CompletionChoice, CompletionLogprobs, Delta, Extensions, FinishReason, FunctionCall, Head,
    ResponseMessage, Role, ToolCall, ToolKind, Usage,
};
use claude_inference::tool_calls::ParsedReply;

use crate::reply::Ending;
use crate::routes::generate::Finished;
use crate::{AppState, unix_time};

/// Which endpoint a response belongs to; decides the objects it is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/completions`.
    Completions,
    /// `/v1/chat/completions`.
    Chat,
}

/// A chunk of a stream of either endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Chunk {
    /// Of `/v1/completions`.
    Completion(Completion),
    /// Of `/v1/chat/completions`.
    Chat(ChatCompletionChunk),
}

/// Identity of one response: its endpoint, id, creation time and model, and a chat's
/// extensions.
#[derive(Debug, Clone)]
pub struct ResponseMeta {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Id, creation time and model.
    pub head: Head,
    /// Chat only (a completion's stay empty): how many of the oldest messages were left out of
    /// the prompt, and the retrieved chunks it was grounded in.
    pub extensions: Extensions,
}

/// The identity of a new response of `endpoint` on this server.
pub fn response_meta(state: &AppState, endpoint: Endpoint, extensions: Extensions) -> ResponseMeta {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let prefix = match endpoint {
        Endpoint::Completions => "cmpl",
        Endpoint::Chat => "chatcmpl",
    };
    ResponseMeta {
        endpoint,
        head: Head {
            id: format!("{prefix}-{:016x}", NEXT_ID.fetch_add(1, Ordering::Relaxed)),
            created: unix_time().as_secs(),
            model: state.inner.config.model_name.clone(),
        },
        extensions,
    }
}

/// OpenAI's finish reason for an ending.
pub fn finish_reason(ending: &Ending) -> FinishReason {
    match ending {
        Ending::EndOfTurn | Ending::StopSequence(_) => FinishReason::Stop,
        Ending::Length => FinishReason::Length,
        Ending::ToolCalls => FinishReason::ToolCalls,
    }
}

/// A gathered reply as an answer's message: `content` null when it is only calls.
fn reply_message(reply: ParsedReply) -> ResponseMessage {
    let content = (!reply.content.is_empty() || reply.calls.is_empty()).then_some(reply.content);
    let tool_calls = (reply.calls.into_iter())
        .map(|call| ToolCall {
            id: call.id,
            kind: ToolKind::Function,
            function: FunctionCall {
                name: call.name,
                arguments: call.arguments,
            },
        })
        .collect();
    ResponseMessage {
        role: Role::Assistant,
        content,
        tool_calls,
    }
}

impl ResponseMeta {
    /// The answer of a finished chat request (`with_logprobs`: the request asked for them).
    pub fn chat_response(
        &self,
        finished: Finished,
        prompt_tokens: usize,
        tokenizer: &Tokenizer,
        with_logprobs: bool,
    ) -> ChatCompletion {
        let logprobs = with_logprobs.then(|| logprobs::chat(tokenizer, &finished.logprobs));
        let usage = Usage::new(prompt_tokens, finished.completion_tokens);
        let finish = finish_reason(&finished.ending);
        self.chat_answer(reply_message(finished.reply), logprobs, finish, usage)
    }

    /// The answer of a finished completion request.
    pub fn completion_response(
        &self,
        finished: Finished,
        prompt_tokens: usize,
        tokenizer: &Tokenizer,
        with_logprobs: bool,
    ) -> Completion {
        let logprobs =
            with_logprobs.then(|| logprobs::completion(tokenizer, &finished.logprobs, 0));
        let usage = Usage::new(prompt_tokens, finished.completion_tokens);
        let finish = finish_reason(&finished.ending);
        self.completion_answer(finished.reply.content, logprobs, finish, usage)
    }

    fn chat_answer(
        &self,
        message: ResponseMessage,
        logprobs: Option<ChatLogprobs>,
        finish: FinishReason,
        usage: Usage,
    ) -> ChatCompletion {
        ChatCompletion {
            head: self.head.clone(),
            choices: vec![ChatChoice {
                index: 0,
                message,
                logprobs,
                finish_reason: finish,
            }],
            usage,
            extensions: self.extensions.clone(),
        }
    }

    fn completion_answer(
        &self,
        text: String,
        logprobs: Option<CompletionLogprobs>,
        finish: FinishReason,
        usage: Usage,
    ) -> Completion {
        let mut choice = CompletionChoice::new(text, Some(finish));
        choice.logprobs = logprobs;
        Completion {
            head: self.head.clone(),
            choices: vec![choice],
            usage: Some(usage),
        }
    }

    /// A streamed chunk carrying `text` (and, on the last one, the finish reason and usage).
    pub fn chunk(&self, text: &str, finish: Option<FinishReason>, usage: Option<Usage>) -> Chunk {
        match self.endpoint {
            Endpoint::Completions => {
                self.completion_chunk(vec![CompletionChoice::new(text, finish)], usage)
            }
            Endpoint::Chat => {
                let delta = if finish.is_some() && text.is_empty() {
                    Delta::default()
                } else {
                    Delta::text(text)
                };
                Chunk::Chat(self.chat_chunk(vec![ChunkChoice::new(delta, finish)], usage))
            }
        }
    }

    /// The first chunk of a chat stream: the assistant role, no text yet, and the sources.
    pub fn role_chunk(&self) -> ChatCompletionChunk {
        ChatCompletionChunk {
            extensions: self.extensions.clone(),
            ..self.chat_chunk(vec![ChunkChoice::new(Delta::opening(), None)], None)
        }
    }

    /// The usage-only chunk sent when `stream_options.include_usage` is set.
    pub fn usage_chunk(&self, usage: Usage) -> Chunk {
        match self.endpoint {
            Endpoint::Completions => self.completion_chunk(Vec::new(), Some(usage)),
            Endpoint::Chat => Chunk::Chat(self.chat_chunk(Vec::new(), Some(usage))),
        }
    }

    fn completion_chunk(&self, choices: Vec<CompletionChoice>, usage: Option<Usage>) -> Chunk {
        Chunk::Completion(Completion {
            head: self.head.clone(),
            choices,
            usage,
        })
    }

    /// A chat chunk with `truncated_messages` but not the sources (they come once, first).
    fn chat_chunk(&self, choices: Vec<ChunkChoice>, usage: Option<Usage>) -> ChatCompletionChunk {
        ChatCompletionChunk {
            head: self.head.clone(),
            choices,
            usage,
            extensions: Extensions {
                truncated_messages: self.extensions.truncated_messages,
                sources: Vec::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use claude_retrieval::Source;
    use serde_json::Value;

    use super::*;

    fn meta(endpoint: Endpoint, extensions: Extensions) -> ResponseMeta {
        let head = Head {
            id: "chatcmpl-1".into(),
            created: 7,
            model: "m".into(),
        };
        ResponseMeta {
            endpoint,
            head,
            extensions,
        }
    }

    fn to_value(object: impl Serialize) -> Value {
        serde_json::to_value(object).unwrap()
    }

    /// The text answer "hi", finished, of either endpoint.
    fn answer(meta: &ResponseMeta) -> Value {
        match meta.endpoint {
            Endpoint::Completions => {
                to_value(meta.completion_answer("hi".into(), None, FinishReason::Stop, USAGE))
            }
            Endpoint::Chat => to_value(meta.chat_answer(
                ResponseMessage::text("hi"),
                None,
                FinishReason::Stop,
                USAGE,
            )),
        }
    }

    /// Each object serializes as the JSON the server built by hand before these types (written
    /// down from that code's output).
    fn assert_as_before(cases: Vec<(Value, &str)>) {
        for (object, before) in cases {
            let before: Value = serde_json::from_str(before).unwrap();
            assert_eq!(object, before);
        }
    }

    const USAGE: Usage = Usage {
        prompt_tokens: 3,
        completion_tokens: 2,
        total_tokens: 5,
    };

    #[test]
    fn completion_objects_serialize_as_before() {
        let meta = meta(Endpoint::Completions, Extensions::default());
        assert_as_before(vec![
            (
                answer(&meta),
                r#"{"choices":[{"finish_reason":"stop","index":0,"logprobs":null,"text":"hi"}],"created":7,"id":"chatcmpl-1","model":"m","object":"text_completion","usage":{"completion_tokens":2,"prompt_tokens":3,"total_tokens":5}}"#,
            ),
            (
                to_value(meta.chunk("hi", None, None)),
                r#"{"choices":[{"finish_reason":null,"index":0,"logprobs":null,"text":"hi"}],"created":7,"id":"chatcmpl-1","model":"m","object":"text_completion"}"#,
            ),
            (
                to_value(meta.chunk("hi", Some(FinishReason::Length), Some(USAGE))),
                r#"{"choices":[{"finish_reason":"length","index":0,"logprobs":null,"text":"hi"}],"created":7,"id":"chatcmpl-1","model":"m","object":"text_completion","usage":{"completion_tokens":2,"prompt_tokens":3,"total_tokens":5}}"#,
            ),
            (
                to_value(meta.chunk("", Some(FinishReason::Stop), Some(USAGE))),
                r#"{"choices":[{"finish_reason":"stop","index":0,"logprobs":null,"text":""}],"created":7,"id":"chatcmpl-1","model":"m","object":"text_completion","usage":{"completion_tokens":2,"prompt_tokens":3,"total_tokens":5}}"#,
            ),
            (
                to_value(meta.usage_chunk(USAGE)),
                r#"{"choices":[],"created":7,"id":"chatcmpl-1","model":"m","object":"text_completion","usage":{"completion_tokens":2,"prompt_tokens":3,"total_tokens":5}}"#,
            ),
        ]);
    }

    #[test]
    fn chat_objects_serialize_as_before() {
        let meta = meta(Endpoint::Chat, Extensions::default());
        assert_as_before(vec![
            (
                answer(&meta),
                r#"{"choices":[{"finish_reason":"stop","index":0,"logprobs":null,"message":{"content":"hi","role":"assistant"}}],"created":7,"id":"chatcmpl-1","model":"m","object":"chat.completion","usage":{"completion_tokens":2,"prompt_tokens":3,"total_tokens":5}}"#,
            ),
            (
                to_value(meta.role_chunk()),
                r#"{"choices":[{"delta":{"content":"","role":"assistant"},"finish_reason":null,"index":0,"logprobs":null}],"created":7,"id":"chatcmpl-1","model":"m","object":"chat.completion.chunk"}"#,
            ),
            (
                to_value(meta.chunk("hi", None, None)),
                r#"{"choices":[{"delta":{"content":"hi"},"finish_reason":null,"index":0,"logprobs":null}],"created":7,"id":"chatcmpl-1","model":"m","object":"chat.completion.chunk"}"#,
            ),
            (
                to_value(meta.chunk("hi", Some(FinishReason::Length), Some(USAGE))),
                r#"{"choices":[{"delta":{"content":"hi"},"finish_reason":"length","index":0,"logprobs":null}],"created":7,"id":"chatcmpl-1","model":"m","object":"chat.completion.chunk","usage":{"completion_tokens":2,"prompt_tokens":3,"total_tokens":5}}"#,
            ),
            (
                to_value(meta.chunk("", Some(FinishReason::Stop), Some(USAGE))),
                r#"{"choices":[{"delta":{},"finish_reason":"stop","index":0,"logprobs":null}],"created":7,"id":"chatcmpl-1","model":"m","object":"chat.completion.chunk","usage":{"completion_tokens":2,"prompt_tokens":3,"total_tokens":5}}"#,
            ),
            (
                to_value(meta.usage_chunk(USAGE)),
                r#"{"choices":[],"created":7,"id":"chatcmpl-1","model":"m","object":"chat.completion.chunk","usage":{"completion_tokens":2,"prompt_tokens":3,"total_tokens":5}}"#,
            ),
        ]);
    }

    /// `truncated_messages` in every chunk, `sources` in the answer and the first chunk.
    #[test]
    fn chat_extensions_serialize_as_before() {
        let source = Source {
            index: 1,
            source: "a.md".into(),
            start: 0,
            end: 5,
            score: 0.5,
            text: "hello".into(),
        };
        let extensions = Extensions {
            truncated_messages: 2,
            sources: vec![source],
        };
        let meta = meta(Endpoint::Chat, extensions);
        assert_as_before(vec![
            (
                answer(&meta),
                r#"{"choices":[{"finish_reason":"stop","index":0,"logprobs":null,"message":{"content":"hi","role":"assistant"}}],"created":7,"id":"chatcmpl-1","model":"m","object":"chat.completion","sources":[{"end":5,"index":1,"score":0.5,"source":"a.md","start":0,"text":"hello"}],"truncated_messages":2,"usage":{"completion_tokens":2,"prompt_tokens":3,"total_tokens":5}}"#,
            ),
            (
                to_value(meta.role_chunk()),
                r#"{"choices":[{"delta":{"content":"","role":"assistant"},"finish_reason":null,"index":0,"logprobs":null}],"created":7,"id":"chatcmpl-1","model":"m","object":"chat.completion.chunk","sources":[{"end":5,"index":1,"score":0.5,"source":"a.md","start":0,"text":"hello"}],"truncated_messages":2}"#,
            ),
            (
                to_value(meta.chunk("hi", None, None)),
                r#"{"choices":[{"delta":{"content":"hi"},"finish_reason":null,"index":0,"logprobs":null}],"created":7,"id":"chatcmpl-1","model":"m","object":"chat.completion.chunk","truncated_messages":2}"#,
            ),
            (
                to_value(meta.chunk("hi", Some(FinishReason::Length), Some(USAGE))),
                r#"{"choices":[{"delta":{"content":"hi"},"finish_reason":"length","index":0,"logprobs":null}],"created":7,"id":"chatcmpl-1","model":"m","object":"chat.completion.chunk","truncated_messages":2,"usage":{"completion_tokens":2,"prompt_tokens":3,"total_tokens":5}}"#,
            ),
            (
                to_value(meta.chunk("", Some(FinishReason::Stop), Some(USAGE))),
                r#"{"choices":[{"delta":{},"finish_reason":"stop","index":0,"logprobs":null}],"created":7,"id":"chatcmpl-1","model":"m","object":"chat.completion.chunk","truncated_messages":2,"usage":{"completion_tokens":2,"prompt_tokens":3,"total_tokens":5}}"#,
            ),
            (
                to_value(meta.usage_chunk(USAGE)),
                r#"{"choices":[],"created":7,"id":"chatcmpl-1","model":"m","object":"chat.completion.chunk","truncated_messages":2,"usage":{"completion_tokens":2,"prompt_tokens":3,"total_tokens":5}}"#,
            ),
        ]);
    }
}
