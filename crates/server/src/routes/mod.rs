//! The handlers: parse and check a request, queue it on the engine, answer in the format of
//! its API. The generating routes have a module each; the small ones live here.

mod chat;
mod completions;
pub(crate) mod generate;
mod messages;
mod prompt;

pub use chat::chat_completions;
pub use completions::completions;
pub use messages::{count_tokens, messages};

use std::any::Any;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiError;
use crate::openai::{Model, ModelList};
use claude_inference::engine::{EngineStats, panic_text};

/// The chat page.
const CHAT_PAGE: &str = include_str!("../chat.html");

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

/// Reads a JSON body: 413 when too large, 400 when not UTF-8, not JSON, or JSON of the wrong
/// shape (naming the field at fault: a top-level field not in `known`, when given, or the
/// path of a wrong value; nested types deny unknown fields themselves).
pub(super) fn parse_body<T: DeserializeOwned>(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
    known: Option<&[&str]>,
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
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| ApiError::malformed(format!("the body is not valid JSON: {e}")))?;
    if let (Some(known), Some(object)) = (known, value.as_object())
        && let Some(unknown) = object.keys().find(|key| !known.contains(&key.as_str()))
    {
        return Err(ApiError::invalid(
            Some(unknown.clone()),
            format!("unknown field `{unknown}`: this server does not support it"),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let param = (path != ".").then_some(path);
        let message = match &param {
            Some(path) => format!("invalid request: {path}: {}", e.inner()),
            None => format!("invalid request: {}", e.inner()),
        };
        ApiError::invalid(param, message)
    })
}

/// The request's model must be the served one.
pub(super) fn check_model(state: &AppState, model: &str) -> Result<(), ApiError> {
    state.generation()?;
    let served = &state.inner.config.model_name;
    if model == served {
        Ok(())
    } else {
        Err(ApiError::unknown_model(model, served))
    }
}

/// Encodes a completion prompt; special-token text is ordinary text.
pub(super) fn encode(state: &AppState, text: &str) -> Result<Vec<u32>, ApiError> {
    state
        .generation()?
        .tokenizer
        .encode(text)
        .map_err(cannot_tokenize)
}

/// The answer to a prompt the tokenizer refuses.
pub(super) fn cannot_tokenize(error: claude_tokenizer::Error) -> ApiError {
    ApiError::invalid(
        Some("prompt".into()),
        format!("cannot tokenize the prompt: {error}"),
    )
}

/// Middleware: `/v1/*` needs `Authorization: Bearer <key>` (or Anthropic's `x-api-key: <key>`)
/// when the server has a key.
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
            .and_then(|v| v.strip_prefix("Bearer "))
            .or_else(|| {
                let header = request.headers().get("x-api-key")?;
                header.to_str().ok()
            });
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
