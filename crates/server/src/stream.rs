//! Streaming answers: engine events as Server-Sent Events in OpenAI's chunk format, ending with
//! `data: [DONE]`. Every chunk carries the response's identity from [`ResponseMeta`], including
//! a chat's `truncated_messages` count when older messages were dropped to fit the context.

use std::convert::Infallible;

use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Serialize;

use crate::error::ApiError;
use crate::openai::Usage;
use crate::respond::{Endpoint, ResponseMeta};
use claude_inference::TokenEvent;
use claude_inference::engine::{EngineEvent, Events};

/// The SSE response for a request whose first token is `first`. Dropping the response (the
/// client went away) drops `events`, which tells the engine to free the sequence.
pub fn sse_response(
    meta: ResponseMeta,
    first: TokenEvent,
    events: Events,
    prompt_tokens: usize,
    include_usage: bool,
) -> Response {
    let mut opening = Vec::new();
    if meta.endpoint == Endpoint::Chat {
        opening.push(json_event(&meta.role_chunk()));
    }
    let state = ChunkStream {
        meta,
        events,
        prompt_tokens,
        completion_tokens: 0,
        include_usage,
        queued: opening,
        done: false,
    };
    let mut state = state;
    state.on_token(first);
    Sse::new(chunks(state)).into_response()
}

/// Turns engine events into SSE events.
struct ChunkStream {
    meta: ResponseMeta,
    events: Events,
    prompt_tokens: usize,
    completion_tokens: usize,
    include_usage: bool,
    /// Events ready to send, oldest first.
    queued: Vec<Event>,
    /// `[DONE]` has been queued.
    done: bool,
}

impl ChunkStream {
    fn on_token(&mut self, token: TokenEvent) {
        self.completion_tokens += 1;
        let finish = token.finish.map(Into::into);
        if token.text.is_empty() && finish.is_none() {
            return; // nothing to show yet (a partial character or a possible stop sequence)
        }
        let usage = finish.map(|_| Usage::new(self.prompt_tokens, self.completion_tokens));
        self.queued
            .push(json_event(&self.meta.chunk(&token.text, finish, usage)));
        if finish.is_some() {
            if let Some(usage) = usage.filter(|_| self.include_usage) {
                self.queued.push(json_event(&self.meta.usage_chunk(usage)));
            }
            self.finish();
        }
    }

    fn on_error(&mut self, error: ApiError) {
        self.queued.push(json_event(&error.body()));
        self.finish();
    }

    fn finish(&mut self) {
        self.queued.push(Event::default().data("[DONE]"));
        self.done = true;
    }
}

fn json_event(value: &impl Serialize) -> Event {
    // The wire types are plain data (string keys, no maps to fail on): serializing cannot fail.
    Event::default().data(serde_json::to_string(value).expect("a wire type serializes"))
}

/// The stream of SSE events: queued ones first, then one per engine event until `[DONE]`.
fn chunks(state: ChunkStream) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(state, |mut state| async move {
        loop {
            if !state.queued.is_empty() {
                let event = state.queued.remove(0);
                return Some((Ok(event), state));
            }
            if state.done {
                return None;
            }
            match state.events.recv_async().await.ok() {
                Some(EngineEvent::Token(token)) => state.on_token(token),
                Some(EngineEvent::Failed(message)) => state.on_error(ApiError::internal(message)),
                Some(EngineEvent::Rejected(error)) => state.on_error(error.into()),
                None => state.on_error(ApiError::unavailable()),
            }
        }
    })
}
