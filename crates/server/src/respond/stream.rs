//! OpenAI's streams: a chat's chunks (text deltas, tool-call deltas with the name first and
//! then argument fragments, log probabilities with the chunk of their token) and a
//! completion's, ending with `data: [DONE]`.

use axum::response::sse::Event;
use claude_inference::tool_calls::ToolCallEvent;
use claude_inference::{TokenEvent, TokenLogprobs};

use super::{Chunk, ResponseMeta, finish_reason};
use crate::AppState;
use crate::error::ApiError;
use crate::logprobs;
use crate::openai::{ChatLogprobs, ChunkChoice, CompletionChoice, Delta, ToolCallDelta, Usage};
use crate::reply::{Ending, ReplyReader};
use crate::stream::{StreamFormat, json_event};

/// Token counting and the closing chunks both streams share.
struct Counts {
    prompt_tokens: usize,
    include_usage: bool,
}

impl Counts {
    /// The last chunk (the finish reason, and the usage) then the usage chunk if asked, then
    /// `[DONE]`.
    fn closing(
        &self,
        meta: &ResponseMeta,
        ending: &Ending,
        completion_tokens: usize,
    ) -> Vec<Event> {
        let usage = Usage::new(self.prompt_tokens, completion_tokens);
        let mut events = vec![json_event(&meta.chunk(
            "",
            Some(finish_reason(ending)),
            Some(usage),
        ))];
        if self.include_usage {
            events.push(json_event(&meta.usage_chunk(usage)));
        }
        events.push(done());
        events
    }
}

fn done() -> Event {
    Event::default().data("[DONE]")
}

fn failed(error: ApiError) -> Vec<Event> {
    vec![json_event(&error.body()), done()]
}

/// A chat completion's stream.
pub struct ChatStream {
    state: AppState,
    meta: ResponseMeta,
    reader: ReplyReader,
    counts: Counts,
    /// Log probabilities of tokens whose text has not gone out yet.
    pending: Vec<TokenLogprobs>,
}

impl ChatStream {
    /// The stream of `meta`'s request, read by `reader`.
    pub fn new(
        state: AppState,
        meta: ResponseMeta,
        reader: ReplyReader,
        prompt_tokens: usize,
        include_usage: bool,
    ) -> Self {
        ChatStream {
            state,
            meta,
            reader,
            counts: Counts {
                prompt_tokens,
                include_usage,
            },
            pending: Vec::new(),
        }
    }

    fn chunk(&mut self, delta: Delta) -> Event {
        let mut choice = ChunkChoice::new(delta, None);
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            choice.logprobs = Some(match self.state.generation() {
                Ok(generation) => logprobs::chat(&generation.tokenizer, &pending),
                Err(_) => ChatLogprobs::default(),
            });
        }
        json_event(&Chunk::Chat(self.meta.chat_chunk(vec![choice], None)))
    }
}

impl StreamFormat for ChatStream {
    fn token(&mut self, mut token: TokenEvent) -> Vec<Event> {
        self.pending.extend(token.logprobs.take());
        let (pieces, ending) = self.reader.read(&token);
        let mut events: Vec<Event> = (pieces.into_iter())
            .map(|piece| {
                let delta = match piece {
                    ToolCallEvent::Content(text) => Delta::text(text),
                    ToolCallEvent::CallStart { index, id, name } => {
                        Delta::tool_call(ToolCallDelta::start(index, id, name))
                    }
                    ToolCallEvent::Arguments { index, fragment } => {
                        Delta::tool_call(ToolCallDelta::arguments(index, fragment))
                    }
                };
                self.chunk(delta)
            })
            .collect();
        if let Some(ending) = ending {
            if !self.pending.is_empty() {
                events.push(self.chunk(Delta::default()));
            }
            let closing = self
                .counts
                .closing(&self.meta, &ending, self.reader.tokens());
            events.extend(closing);
        }
        events
    }

    fn error(&mut self, error: ApiError) -> Vec<Event> {
        failed(error)
    }
}

/// A completion's stream.
pub struct CompletionStream {
    state: AppState,
    meta: ResponseMeta,
    reader: ReplyReader,
    counts: Counts,
    /// Whether the request asked for log probabilities.
    with_logprobs: bool,
    /// Bytes of text sent so far (the next token's `text_offset`).
    offset: usize,
}

impl CompletionStream {
    /// The stream of `meta`'s request.
    pub fn new(
        state: AppState,
        meta: ResponseMeta,
        prompt_tokens: usize,
        include_usage: bool,
        with_logprobs: bool,
    ) -> Self {
        CompletionStream {
            state,
            meta,
            reader: ReplyReader::text(),
            counts: Counts {
                prompt_tokens,
                include_usage,
            },
            with_logprobs,
            offset: 0,
        }
    }
}

impl StreamFormat for CompletionStream {
    fn token(&mut self, mut token: TokenEvent) -> Vec<Event> {
        let token_logprobs = token.logprobs.take();
        let (pieces, ending) = self.reader.read(&token);
        let text: String = (pieces.into_iter())
            .filter_map(|piece| match piece {
                ToolCallEvent::Content(text) => Some(text),
                _ => None,
            })
            .collect();
        let mut events = Vec::new();
        if !text.is_empty() || (self.with_logprobs && token_logprobs.is_some() && ending.is_none())
        {
            let mut choice = CompletionChoice::new(text.as_str(), None);
            if self.with_logprobs {
                let tokens: Vec<TokenLogprobs> = token_logprobs.into_iter().collect();
                if let Ok(generation) = self.state.generation() {
                    choice.logprobs = Some(logprobs::completion(
                        &generation.tokenizer,
                        &tokens,
                        self.offset,
                    ));
                }
            }
            self.offset += text.len();
            events.push(json_event(&self.meta.completion_chunk(vec![choice], None)));
        }
        if let Some(ending) = ending {
            events.extend(
                self.counts
                    .closing(&self.meta, &ending, self.reader.tokens()),
            );
        }
        events
    }

    fn error(&mut self, error: ApiError) -> Vec<Event> {
        failed(error)
    }
}
