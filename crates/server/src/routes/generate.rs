//! What every generating endpoint shares once its request is read: the length and sampling
//! checks, queueing on the engine, waiting for the first token, and gathering a whole reply.

use std::sync::atomic::{AtomicU64, Ordering};

use claude_inference::engine::{EngineEvent, Events, SubmitError};
use claude_inference::{
    CompiledConstraint, OverflowPolicy, SamplingParams, SequenceRequest, TokenEvent, TokenLogprobs,
};

use crate::error::ApiError;
use claude_inference::tool_calls::ParsedReply;

use crate::reply::{Ending, ReplyReader};
use crate::{AppState, ServerConfig, unix_time};

/// Most stop sequences per request (OpenAI's limit).
pub const MAX_STOP_SEQUENCES: usize = 4;

/// A generation request in the engine's terms, whichever API it came in.
pub struct Order {
    /// The prompt's tokens.
    pub prompt: Vec<u32>,
    /// The requested most new tokens, unchecked (`None`: as many as fit).
    pub max_tokens: Option<i64>,
    /// The request's name for it, in errors (`max_tokens`).
    pub max_tokens_field: &'static str,
    /// How to sample.
    pub sampling: SamplingParams,
    /// Texts that end the reply: the template's end of turn, then the request's.
    pub stop: Vec<String>,
    /// Log probabilities with this many alternatives, or none.
    pub logprobs: Option<usize>,
    /// A grammar the reply must follow.
    pub constraint: Option<CompiledConstraint>,
}

/// A queued request that produced its first token.
pub struct Started {
    /// The first token.
    pub first: TokenEvent,
    /// The rest, as the engine sends them.
    pub events: Events,
    /// Tokens of the prompt.
    pub prompt_tokens: usize,
}

/// Checks the length, queues the order and waits for its first token (so a refusal gets its
/// own status before any stream starts).
pub async fn start(state: &AppState, order: Order) -> Result<Started, ApiError> {
    let config = &state.inner.config;
    let prompt_tokens = order.prompt.len();
    let max_new_tokens = max_new_tokens(
        order.max_tokens,
        order.max_tokens_field,
        prompt_tokens,
        config,
    )?;
    let request = SequenceRequest {
        prompt: order.prompt,
        max_new_tokens,
        sampling: order.sampling,
        stop: order.stop,
        constraint: order.constraint,
        logprobs: order.logprobs,
    };
    let events = (state.generation()?.engine)
        .submit(request)
        .map_err(|e| match e {
            SubmitError::QueueFull => ApiError::busy(),
            SubmitError::Stopped => ApiError::unavailable(),
        })?;
    let first = match events.recv_async().await.ok() {
        Some(EngineEvent::Token(event)) => event,
        Some(EngineEvent::Rejected(error)) => return Err(error.into()),
        Some(EngineEvent::Failed(message)) => return Err(ApiError::internal(message)),
        None => return Err(ApiError::unavailable()),
    };
    Ok(Started {
        first,
        events,
        prompt_tokens,
    })
}

/// A whole reply: its pieces gathered, each token's log probabilities (when asked), why it
/// ended and how many tokens it took.
pub struct Finished {
    /// Text and calls.
    pub reply: ParsedReply,
    /// Per token, when the request asked.
    pub logprobs: Vec<TokenLogprobs>,
    /// Why it ended.
    pub ending: Ending,
    /// Tokens generated.
    pub completion_tokens: usize,
}

/// Reads a started request to its end.
pub async fn finish(started: Started, mut reader: ReplyReader) -> Result<Finished, ApiError> {
    let Started { first, events, .. } = started;
    let mut reply = ParsedReply::default();
    let mut logprobs = Vec::new();
    let mut token = first;
    loop {
        logprobs.extend(token.logprobs.take());
        let (pieces, ending) = reader.read(&token);
        reply.extend(pieces);
        if let Some(ending) = ending {
            return Ok(Finished {
                reply,
                logprobs,
                ending,
                completion_tokens: reader.tokens(),
            });
        }
        token = match events.recv_async().await.ok() {
            Some(EngineEvent::Token(event)) => event,
            Some(EngineEvent::Failed(message)) => return Err(ApiError::internal(message)),
            Some(EngineEvent::Rejected(error)) => return Err(error.into()),
            None => return Err(ApiError::unavailable()),
        };
    }
}

/// `max_tokens` checked against the cap and the context; by default as many as fit.
fn max_new_tokens(
    requested: Option<i64>,
    field: &str,
    prompt: usize,
    config: &ServerConfig,
) -> Result<usize, ApiError> {
    let cap = config.max_tokens_cap;
    let param = || Some(field.to_string());
    match requested {
        Some(n) if n < 1 => Err(ApiError::invalid(
            param(),
            format!("{field} must be at least 1, got {n}"),
        )),
        Some(n) if n as u64 > cap as u64 => Err(ApiError::invalid(
            param(),
            format!("{field} must be at most {cap} on this server, got {n}"),
        )),
        Some(n) => Ok(n as usize),
        None => match config.overflow {
            OverflowPolicy::Reject => {
                Ok(cap.min(config.context_length.saturating_sub(prompt)).max(1))
            }
            OverflowPolicy::SlidingWindow => Ok(cap),
        },
    }
}

/// A value of an optional field checked to lie in `lo..=hi`.
pub fn in_range(name: &str, value: Option<f64>, lo: f64, hi: f64) -> Result<(), ApiError> {
    match value {
        Some(v) if !(v.is_finite() && (lo..=hi).contains(&v)) => Err(ApiError::invalid(
            Some(name.to_string()),
            format!("{name} must be between {lo} and {hi}, got {v}"),
        )),
        _ => Ok(()),
    }
}

/// The sampler's own check of parameters a request set.
pub fn checked(params: SamplingParams) -> Result<SamplingParams, ApiError> {
    params
        .validate()
        .map_err(|bad| ApiError::invalid(Some(bad.field.to_string()), bad.to_string()))?;
    Ok(params)
}

/// `top_k` as the sampler takes it (0 = off).
pub fn top_k(value: Option<i64>, default: usize) -> Result<usize, ApiError> {
    match value {
        Some(k) if k < 0 => Err(ApiError::invalid(
            Some("top_k".into()),
            format!("top_k must be >= 0, got {k}"),
        )),
        Some(k) => Ok(k as usize),
        None => Ok(default),
    }
}

/// The request's seed, or a different one for each request that names none.
pub fn seed(requested: Option<u64>) -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    requested.unwrap_or_else(|| {
        let nanos = unix_time().as_nanos() as u64;
        SamplingParams::OPENAI.seed
            ^ nanos
            ^ COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
    })
}

/// The request's stop sequences after `end_of_turn`, at most [`MAX_STOP_SEQUENCES`].
pub fn stop_sequences(
    mut end_of_turn: Vec<String>,
    requested: Vec<String>,
    field: &str,
) -> Result<Vec<String>, ApiError> {
    if requested.len() > MAX_STOP_SEQUENCES {
        return Err(ApiError::invalid(
            Some(field.into()),
            format!("at most {MAX_STOP_SEQUENCES} stop sequences"),
        ));
    }
    end_of_turn.extend(requested);
    Ok(end_of_turn)
}
