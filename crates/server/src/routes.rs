//! The handlers: parse and check a request, queue it on the engine, answer in OpenAI's format.

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::openai::{
    ChatRequest, CompletionRequest, Extensions, GenerationFields, Head, Model, ModelList, Prompt,
    Usage,
};
use crate::rag::ground_conversation;
use crate::respond::{Endpoint, ResponseMeta};
use crate::stream::sse_response;
use crate::{AppState, unix_time};
use claude_inference::ChatTemplate;
use claude_inference::GenerateError;
use claude_inference::SamplingParams;
use claude_inference::engine::{EngineEvent, EngineStats, Events, SubmitError, panic_text};
use claude_inference::{OverflowPolicy, SequenceRequest};

/// The chat page.
const CHAT_PAGE: &str = include_str!("chat.html");

/// Most stop sequences per request (OpenAI's limit).
const MAX_STOP_SEQUENCES: usize = 4;

/// `GET /`: the built-in chat page.
pub async fn chat_page() -> Html<&'static str> {
    Html(CHAT_PAGE)
}

/// The answer of `GET /health`.
#[derive(Debug, Serialize)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
    /// The language model's name; `null` on a server of embeddings only.
    model: Option<String>,
    /// Requests waiting for a batch slot.
    queued: usize,
    /// Sequences being decoded.
    active: usize,
}

/// `GET /health`.
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    let generation = state.inner.generation.as_ref();
    let (queued, active) = generation.map_or((0, 0), |g| {
        let stats = g.engine.stats();
        (
            stats.queued.load(Ordering::SeqCst),
            stats.active.load(Ordering::SeqCst),
        )
    });
    Json(Health {
        status: "ok",
        model: generation.map(|_| state.inner.config.model_name.clone()),
        queued,
        active,
    })
}

/// `GET /metrics`: Prometheus text.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let idle = EngineStats::default();
    let stats = (state.inner.generation.as_ref()).map_or(&idle, |g| g.engine.stats());
    let text = state.inner.metrics.render(stats);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// `GET /v1/models`.
pub async fn models(State(state): State<AppState>) -> Json<ModelList> {
    let created = state.inner.started.as_secs();
    let config = &state.inner.config;
    let language = (state.inner.generation.as_ref())
        .map(|_| Model::language(&config.model_name, created, config.context_length));
    let embedding = (state.inner.embedder.as_ref()).map(|served| {
        Model::embedding(&served.name, created, served.embedder.identity().dimension)
    });
    Json(ModelList {
        data: language.into_iter().chain(embedding).collect(),
    })
}

/// Any other path.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(uri.path())
}

/// `POST /v1/completions`.
pub async fn completions(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: CompletionRequest = parse_body(&state, body)?;
    check_model(&state, &request.model)?;
    let prompt = match request.prompt {
        Prompt::Text(text) => encode(&state, &text)?,
        Prompt::Tokens(ids) => ids,
        Prompt::Texts(mut texts) if texts.len() == 1 => encode(&state, &texts.remove(0))?,
        Prompt::Texts(_) => {
            return Err(ApiError::invalid(
                Some("prompt".into()),
                "only one prompt per request is supported",
            ));
        }
    };
    generate(
        state,
        Endpoint::Completions,
        prompt,
        request.fields,
        Vec::new(),
        Extensions::default(),
    )
    .await
}

/// `POST /v1/chat/completions`.
pub async fn chat_completions(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: ChatRequest = parse_body(&state, body)?;
    check_model(&state, &request.model)?;
    if request.messages.is_empty() {
        return Err(ApiError::invalid(
            Some("messages".into()),
            "messages must not be empty",
        ));
    }
    let mut messages = request
        .messages
        .iter()
        .map(|m| Ok((m.role.clone(), m.content.text()?)))
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| ApiError::invalid(Some("messages".into()), e))?;
    let template = &state.inner.config.chat_template;
    let (mut prompt, mut truncated) =
        fit_conversation(&state, template, &messages, &request.fields)?;
    let (wanted_room, _) = reply_room(&request.fields, &state.inner.config);
    let sources = ground_conversation(
        &state,
        &mut messages,
        &request.retrieval,
        prompt.len(),
        wanted_room,
    )
    .await?;
    if !sources.is_empty() {
        (prompt, truncated) = fit_conversation(&state, template, &messages, &request.fields)?;
    }
    let end_of_turn = template.stop_sequences();
    let extensions = Extensions {
        truncated_messages: truncated,
        sources,
    };
    generate(
        state,
        Endpoint::Chat,
        prompt,
        request.fields,
        end_of_turn,
        extensions,
    )
    .await
}

/// Share of the context a chat reply without `max_tokens` is kept room for (1/4), where
/// dropping old messages can make it.
const CHAT_REPLY_SHARE: usize = 4;

/// The chat prompt's tokens and how many of the oldest messages were left out to fit the
/// context (see the module docs). Under the reject policy, a conversation that leaves less than
/// [`reply_room`]'s wanted room loses its oldest droppable messages ([`ChatTemplate::droppable`]),
/// as few as leave that room, else as few as leave the needed room; when even the system
/// messages and the latest user message leave too little, the answer is
/// `context_length_exceeded`. Under the sliding-window policy nothing is dropped.
fn fit_conversation(
    state: &AppState,
    template: &ChatTemplate,
    messages: &[(String, String)],
    fields: &GenerationFields,
) -> Result<(Vec<u32>, usize), ApiError> {
    let config = &state.inner.config;
    let droppable = ChatTemplate::droppable(messages);
    // The prompt with the oldest `dropped` droppable messages left out.
    let encode_without = |dropped: usize| -> Result<Vec<u32>, ApiError> {
        let gone = &droppable[..dropped];
        let kept: Vec<(String, String)> = messages
            .iter()
            .enumerate()
            .filter(|(index, _)| gone.binary_search(index).is_err())
            .map(|(_, message)| message.clone())
            .collect();
        let text = template
            .render(&kept)
            .map_err(|e| ApiError::invalid(Some("messages".into()), e.to_string()))?;
        let tokenizer = &state.generation()?.tokenizer;
        template.encode(tokenizer, &text).map_err(cannot_tokenize)
    };
    let full = encode_without(0)?;
    if config.overflow != OverflowPolicy::Reject || droppable.is_empty() {
        // Nothing to drop (or the engine slides its window): the engine judges the prompt.
        return Ok((full, 0));
    }
    let context = config.context_length;
    let fits = |prompt: &[u32], room: usize| prompt.len().saturating_add(room) <= context;
    let (wanted, needed) = reply_room(fields, config);
    if fits(&full, wanted) {
        return Ok((full, 0));
    }
    let most = droppable.len();
    let shortest = encode_without(most)?;
    // The fewest drops that leave `room`, given that `most` drops do: a binary search, as more
    // drops never lengthen the prompt (and only a prompt seen to fit is returned).
    let fewest = |room: usize, shortest: Vec<u32>| -> Result<(Vec<u32>, usize), ApiError> {
        let (mut lo, mut hi, mut best) = (1, most, shortest);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let prompt = encode_without(mid)?;
            if fits(&prompt, room) {
                (hi, best) = (mid, prompt);
            } else {
                lo = mid + 1;
            }
        }
        Ok((best, hi))
    };
    if fits(&shortest, wanted) {
        fewest(wanted, shortest)
    } else if fits(&full, needed) {
        Ok((full, 0))
    } else if fits(&shortest, needed) {
        fewest(needed, shortest)
    } else {
        let error = if shortest.len() >= context {
            GenerateError::PromptTooLong {
                prompt: shortest.len(),
                context,
            }
        } else {
            GenerateError::RequestTooLong {
                prompt: shortest.len(),
                max_new: needed,
                context,
            }
        };
        let mut error = ApiError::from(error);
        error.message.push_str(&format!(
            " (even with all {most} earlier messages dropped: the system messages and the \
             latest user message must fit)"
        ));
        Err(error)
    }
}

/// The room a chat prompt must leave for the reply, as (wanted, needed). With a valid
/// `max_tokens`, both are it. Without, the reply gets what is left of the context; old
/// messages are dropped so that this is at least a quarter of the context (at most the cap)
/// where that is possible, else at least 1 token. (An invalid `max_tokens` counts as absent
/// here; [`max_new_tokens`] refuses it.)
fn reply_room(fields: &GenerationFields, config: &crate::ServerConfig) -> (usize, usize) {
    let cap = config.max_tokens_cap;
    match fields.max_tokens {
        Some(n) if n >= 1 && n as u64 <= cap as u64 => (n as usize, n as usize),
        _ => (
            (config.context_length / CHAT_REPLY_SHARE).min(cap).max(1),
            1,
        ),
    }
}

/// Checks the fields, queues the request and answers, streaming or not.
async fn generate(
    state: AppState,
    endpoint: Endpoint,
    prompt: Vec<u32>,
    fields: GenerationFields,
    mut stop: Vec<String>,
    extensions: Extensions,
) -> Result<Response, ApiError> {
    let config = &state.inner.config;
    let max_new_tokens = max_new_tokens(&fields, prompt.len(), config.max_tokens_cap, config)?;
    let sampling = sampling_params(&fields)?;
    let user_stop = fields
        .stop
        .clone()
        .map(|s| s.into_vec())
        .unwrap_or_default();
    if user_stop.len() > MAX_STOP_SEQUENCES {
        return Err(ApiError::invalid(
            Some("stop".into()),
            format!("at most {MAX_STOP_SEQUENCES} stop sequences"),
        ));
    }
    stop.extend(user_stop);
    let prompt_tokens = prompt.len();
    let request = SequenceRequest {
        prompt,
        max_new_tokens,
        sampling,
        stop,
    };
    let mut events = state
        .generation()?
        .engine
        .submit(request)
        .map_err(|e| match e {
            SubmitError::QueueFull => ApiError::busy(),
            SubmitError::Stopped => ApiError::unavailable(),
        })?;
    let meta = response_meta(&state, endpoint, extensions);
    // Wait for the first event: a refusal still gets its own status before any stream starts.
    let first = first_token(&mut events).await?;
    let include_usage = fields
        .stream_options
        .as_ref()
        .is_some_and(|o| o.include_usage);
    if fields.stream {
        return Ok(sse_response(
            meta,
            first,
            events,
            prompt_tokens,
            include_usage,
        ));
    }
    let mut text = first.text;
    let mut completion_tokens = 1;
    let mut finish = first.finish;
    while finish.is_none() {
        match events.recv_async().await.ok() {
            Some(EngineEvent::Token(event)) => {
                text.push_str(&event.text);
                completion_tokens += 1;
                finish = event.finish;
            }
            Some(EngineEvent::Failed(message)) => return Err(ApiError::internal(message)),
            Some(EngineEvent::Rejected(error)) => return Err(error.into()),
            None => return Err(ApiError::unavailable()),
        }
    }
    let finish = finish.expect("loop ends on a finish").into();
    let usage = Usage::new(prompt_tokens, completion_tokens);
    Ok(Json(meta.response(text, finish, usage)).into_response())
}

/// The first event of a request: its first token, or the reason it was refused.
async fn first_token(events: &mut Events) -> Result<claude_inference::TokenEvent, ApiError> {
    match events.recv_async().await.ok() {
        Some(EngineEvent::Token(event)) => Ok(event),
        Some(EngineEvent::Rejected(error)) => Err(error.into()),
        Some(EngineEvent::Failed(message)) => Err(ApiError::internal(message)),
        None => Err(ApiError::unavailable()),
    }
}

/// `max_tokens` checked against the cap and the context; by default as many as fit.
fn max_new_tokens(
    fields: &GenerationFields,
    prompt: usize,
    cap: usize,
    config: &crate::ServerConfig,
) -> Result<usize, ApiError> {
    let param = || Some("max_tokens".to_string());
    match fields.max_tokens {
        Some(n) if n < 1 => Err(ApiError::invalid(
            param(),
            format!("max_tokens must be at least 1, got {n}"),
        )),
        Some(n) if n as u64 > cap as u64 => Err(ApiError::invalid(
            param(),
            format!("max_tokens must be at most {cap} on this server, got {n}"),
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

/// OpenAI's ranges first (they are narrower than the sampler's), then the sampler's own check.
fn sampling_params(fields: &GenerationFields) -> Result<SamplingParams, ApiError> {
    let in_range = |name: &str, value: Option<f64>, lo: f64, hi: f64| -> Result<(), ApiError> {
        match value {
            Some(v) if !(v.is_finite() && (lo..=hi).contains(&v)) => Err(ApiError::invalid(
                Some(name.to_string()),
                format!("{name} must be between {lo} and {hi}, got {v}"),
            )),
            _ => Ok(()),
        }
    };
    in_range("temperature", fields.temperature, 0.0, 2.0)?;
    in_range("top_p", fields.top_p, 0.0, 1.0)?;
    if fields.top_p == Some(0.0) {
        return Err(ApiError::invalid(
            Some("top_p".into()),
            "top_p must be greater than 0",
        ));
    }
    in_range("min_p", fields.min_p, 0.0, 1.0)?;
    in_range("frequency_penalty", fields.frequency_penalty, -2.0, 2.0)?;
    in_range("presence_penalty", fields.presence_penalty, -2.0, 2.0)?;
    if let Some(n) = fields.n.filter(|&n| n != 1) {
        return Err(ApiError::invalid(
            Some("n".into()),
            format!("only n = 1 is supported, got {n}"),
        ));
    }
    if let Some(k) = fields.top_k.filter(|&k| k < 0) {
        return Err(ApiError::invalid(
            Some("top_k".into()),
            format!("top_k must be >= 0, got {k}"),
        ));
    }
    let defaults = SamplingParams::OPENAI;
    let float = |field: Option<f64>, default: f32| field.map_or(default, |v| v as f32);
    let params = SamplingParams {
        temperature: float(fields.temperature, defaults.temperature),
        top_k: fields.top_k.map_or(defaults.top_k, |k| k as usize),
        top_p: float(fields.top_p, defaults.top_p),
        min_p: float(fields.min_p, defaults.min_p),
        repetition_penalty: float(fields.repetition_penalty, defaults.repetition_penalty),
        frequency_penalty: float(fields.frequency_penalty, defaults.frequency_penalty),
        presence_penalty: float(fields.presence_penalty, defaults.presence_penalty),
        seed: fields.seed.unwrap_or_else(|| fresh_seed(defaults.seed)),
    };
    params
        .validate()
        .map_err(|bad| ApiError::invalid(Some(bad.field.to_string()), bad.to_string()))?;
    Ok(params)
}

/// A different seed for each request that names none.
fn fresh_seed(base: u64) -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = unix_time().as_nanos() as u64;
    base ^ nanos ^ COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
}

/// Reads a JSON body: 413 when too large, 400 when not UTF-8 or not JSON, 422 when JSON of the
/// wrong shape.
pub(super) fn parse_body<T: DeserializeOwned>(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(state.inner.config.body_limit)
        } else {
            ApiError::malformed(rejection.body_text())
        }
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        ApiError::malformed(format!(
            "the body is not valid UTF-8 (byte {})",
            e.valid_up_to()
        ))
    })?;
    serde_json::from_str(text).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::unprocessable(format!("invalid request: {e}")),
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::malformed(format!("the body is not valid JSON: {e}"))
            }
        }
    })
}

fn check_model(state: &AppState, model: &str) -> Result<(), ApiError> {
    state.generation()?;
    let served = &state.inner.config.model_name;
    if model == served {
        Ok(())
    } else {
        Err(ApiError::unknown_model(model, served))
    }
}

/// Encodes a completion prompt; special-token text is ordinary text.
fn encode(state: &AppState, text: &str) -> Result<Vec<u32>, ApiError> {
    state
        .generation()?
        .tokenizer
        .encode(text)
        .map_err(cannot_tokenize)
}

/// The answer to a prompt the tokenizer refuses.
fn cannot_tokenize(error: claude_tokenizer::Error) -> ApiError {
    ApiError::invalid(
        Some("prompt".into()),
        format!("cannot tokenize the prompt: {error}"),
    )
}

fn response_meta(state: &AppState, endpoint: Endpoint, extensions: Extensions) -> ResponseMeta {
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

/// Middleware: `/v1/*` needs `Authorization: Bearer <key>` when the server has a key.
pub async fn require_api_key(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Some(key) = &state.inner.config.api_key {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given.map(str::trim) != Some(key.as_str()) {
            return Err(ApiError::unauthorized());
        }
    }
    Ok(next.run(request).await)
}

/// Middleware: counts every answer by route and status for `/metrics`.
pub async fn count_request(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("other", |p| p.as_str())
        .to_string();
    let response = next.run(request).await;
    state
        .inner
        .metrics
        .record(&route, response.status().as_u16());
    response
}

/// The answer when a handler panics: a 500 in OpenAI's format; the server keeps running.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    ApiError::internal(format!("internal error: {}", panic_text(&panic))).into_response()
}
