//! Streamed answers: a request's engine events as Server-Sent Events, in whichever API's format
//! a [`StreamFormat`] writes. The stream ends after the last token's events or an error's.

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Serialize;

use crate::error::ApiError;
use crate::routes::generate::Started;
use claude_inference::TokenEvent;
use claude_inference::engine::{EngineEvent, Events};

/// One API's way of streaming a reply.
pub trait StreamFormat: Send + 'static {
    /// The events for one token; `token.finish` is set on the last, whose events end the
    /// stream.
    fn token(&mut self, token: TokenEvent) -> Vec<Event>;

    /// The events that report a failure midway; the stream ends after them.
    fn error(&mut self, error: ApiError) -> Vec<Event>;
}

/// The SSE response of a started request: `opening` first, then what `format` makes of each
/// token. Dropping the response (the client went away) drops the engine's channel, which
/// frees the sequence.
pub fn sse_response(
    opening: Vec<Event>,
    started: Started,
    mut format: impl StreamFormat,
) -> Response {
    let mut queued: VecDeque<Event> = opening.into();
    let done = started.first.finish.is_some();
    queued.extend(format.token(started.first));
    let state = Streaming {
        format,
        events: started.events,
        queued,
        done,
    };
    Sse::new(events(state)).into_response()
}

/// An event whose data is `value`'s JSON.
pub fn json_event(value: &impl Serialize) -> Event {
    // The wire types are plain data (string keys, no maps to fail on): serializing cannot fail.
    Event::default().data(serde_json::to_string(value).expect("a wire type serializes"))
}

struct Streaming<F> {
    format: F,
    events: Events,
    /// Events ready to send, oldest first.
    queued: VecDeque<Event>,
    /// The last events are queued.
    done: bool,
}

/// Queued events first, then the format's events for each engine event until the end.
fn events<F: StreamFormat>(state: Streaming<F>) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(state, |mut state| async move {
        loop {
            if let Some(event) = state.queued.pop_front() {
                return Some((Ok(event), state));
            }
            if state.done {
                return None;
            }
            let more = match state.events.recv_async().await.ok() {
                Some(EngineEvent::Token(token)) => {
                    state.done = token.finish.is_some();
                    state.format.token(token)
                }
                Some(EngineEvent::Failed(message)) => {
                    state.done = true;
                    state.format.error(ApiError::internal(message))
                }
                Some(EngineEvent::Rejected(error)) => {
                    state.done = true;
                    state.format.error(error.into())
                }
                None => {
                    state.done = true;
                    state.format.error(ApiError::unavailable())
                }
            };
            state.queued.extend(more);
        }
    })
}
