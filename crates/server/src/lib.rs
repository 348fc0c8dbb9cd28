//! An OpenAI- and Anthropic-compatible HTTP server (axum + tokio) in front of
//! claude-inference's [engine](claude_inference::engine).
//!
//! Routes: `POST /v1/completions`, `POST /v1/chat/completions` (both with `"stream": true` as
//! Server-Sent Events ending in `data: [DONE]`), `POST /v1/messages` and
//! `POST /v1/messages/count_tokens` (Anthropic's Messages API, [`anthropic`]),
//! `POST /v1/embeddings` (with an embedding model, [`AppState::with_embedder`]),
//! `GET /v1/models`, `GET /health`, `GET /metrics` (Prometheus text) and a chat page at `/`. With
//! an index ([`AppState::with_index`]), chat answers are grounded in retrieved chunks and return
//! their sources (see [`rag`]). The wire formats are serde types, in [`openai`] and
//! [`anthropic`].
//!
//! Chat requests of either API become one conversation (messages with tool calls and results,
//! the tools offered, whether a call is forced), rendered by the model's chat template; a forced
//! call or a JSON `response_format` becomes a grammar every sampled token must follow
//! (llguidance, through [`claude_inference::constraint`]); the reply's tool-call markup is parsed
//! as it streams into calls; each API renders the same reply in its own format. A request field
//! the server does not know is refused by name.
//!
//! Safe defaults: the CLI binds 127.0.0.1; an optional API key guards `/v1/*`; bodies are
//! limited in size; `max_tokens` is capped; each request has a deadline; a panic while serving
//! answers 500 and the server keeps running.
//!
//! # Length
//!
//! Without `max_tokens` a request may generate what is left of the context (at most
//! [`ServerConfig::max_tokens_cap`]). With the reject overflow policy (the default), a prompt
//! that leaves no room, or less than an explicit `max_tokens`, is refused with 400
//! `context_length_exceeded`.
//!
//! A chat conversation that is too long loses its oldest turns instead: the oldest messages
//! before the latest user message, except system (and developer) messages, are dropped (a
//! dropped tool call takes its results along), as few as make the rendered prompt leave room for
//! the reply. That room is `max_tokens` when given;
//! without it, a quarter of the context (at most the cap) where dropping can make that much,
//! else at least 1 token. Only when the system messages plus the latest user message (and
//! anything after it) leave too little is the request refused with `context_length_exceeded`.
//! How many messages were dropped is reported as a top-level `"truncated_messages": N` in the
//! chat completion and in every chunk of its stream, present only when N > 0 (an extension to
//! OpenAI's format, which its clients ignore). `usage.prompt_tokens` counts the prompt as
//! sent, without the dropped messages. With the sliding-window policy nothing is dropped; the
//! engine keeps the last tokens of the prompt instead.

pub mod anthropic;
mod conversation;
mod embeddings;
mod error;
mod logprobs;
mod metrics;
pub mod openai;
pub mod rag;
mod reply;
mod respond;
mod routes;
mod stream;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use claude_retrieval::TextEmbedder;
use claude_tokenizer::Tokenizer;
use tower_http::catch_panic::CatchPanicLayer;

pub use error::ApiError;
pub use metrics::HttpMetrics;
pub use openai::Usage;

use self::rag::ServedIndex;
use claude_inference::OverflowPolicy;
use claude_inference::engine::EngineHandle;
use claude_inference::{ChatTemplate, CompiledConstraint, Constraint, ConstraintCompiler};

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The name clients must pass as `model`.
    pub model_name: String,
    /// Required `Authorization: Bearer` key for `/v1/*`, if any.
    pub api_key: Option<String>,
    /// Largest `max_tokens` a request may ask for (also the default, within the context).
    pub max_tokens_cap: usize,
    /// Largest request body in bytes.
    pub body_limit: usize,
    /// Chat prompt format.
    pub chat_template: ChatTemplate,
    /// What happens when prompt plus new tokens exceed the context.
    pub overflow: OverflowPolicy,
    /// The model's context length.
    pub context_length: usize,
}

impl ServerConfig {
    /// Defaults for a model: 256 tokens per request at most, 1 MiB bodies, no key, the plain
    /// chat template, and rejection of requests beyond the context.
    pub fn new(model_name: impl Into<String>, context_length: usize) -> Self {
        ServerConfig {
            model_name: model_name.into(),
            api_key: None,
            max_tokens_cap: 256,
            body_limit: 1 << 20,
            chat_template: ChatTemplate::Plain,
            overflow: OverflowPolicy::Reject,
            context_length,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    config: ServerConfig,
    /// The language model's side; `None` on a server of embeddings only.
    generation: Option<Generation>,
    metrics: HttpMetrics,
    started: Duration,
    embedder: Option<ServedEmbedder>,
    index: Option<Arc<ServedIndex>>,
}

/// What generating needs: the model's tokenizer and the engine running it, and the grammar
/// compiler for constrained requests (built on first use: it indexes the vocabulary).
struct Generation {
    tokenizer: Tokenizer,
    engine: EngineHandle,
    constraints: OnceLock<Result<ConstraintCompiler, String>>,
}

/// The embedding model of `/v1/embeddings`, with the name clients pass as `model`.
#[derive(Clone)]
struct ServedEmbedder {
    name: String,
    embedder: Arc<dyn TextEmbedder>,
}

impl AppState {
    /// State for a server in front of `engine`, tokenizing with `tokenizer`.
    pub fn new(config: ServerConfig, tokenizer: Tokenizer, engine: EngineHandle) -> Self {
        let generation = Generation {
            tokenizer,
            engine,
            constraints: OnceLock::new(),
        };
        Self::with_generation(config, Some(generation))
    }

    /// State for a server of embeddings only (give it its model with
    /// [`with_embedder`](Self::with_embedder)); `config.model_name` is not served, and the
    /// generation endpoints answer that there is no language model.
    pub fn embeddings_only(config: ServerConfig) -> Self {
        Self::with_generation(config, None)
    }

    fn with_generation(config: ServerConfig, generation: Option<Generation>) -> Self {
        AppState {
            inner: Arc::new(Shared {
                config,
                generation,
                metrics: HttpMetrics::default(),
                started: unix_time(),
                embedder: None,
                index: None,
            }),
        }
    }

    /// Serves `embedder` as `name` on `POST /v1/embeddings` (and lists it in `/v1/models`).
    ///
    /// # Panics
    /// If the state was cloned already (call it right after [`AppState::new`]).
    pub fn with_embedder(
        mut self,
        name: impl Into<String>,
        embedder: Arc<dyn TextEmbedder>,
    ) -> Self {
        let shared =
            Arc::get_mut(&mut self.inner).expect("with_embedder before the state is shared");
        shared.embedder = Some(ServedEmbedder {
            name: name.into(),
            embedder,
        });
        self
    }

    /// The tokenizer and engine, or the error a generation request gets without them.
    fn generation(&self) -> Result<&Generation, ApiError> {
        self.inner.generation.as_ref().ok_or_else(|| {
            ApiError::invalid(
                Some("model".to_string()),
                "this server serves embeddings only (start it with --model to generate)",
            )
        })
    }

    /// `constraint` compiled for this server's model: a 400 naming what cannot be compiled
    /// (such as an unsupported JSON-schema feature). Runs off the async workers: the first
    /// call also indexes the vocabulary (up to a second for 262k tokens).
    async fn compile_constraint(
        &self,
        constraint: Constraint,
    ) -> Result<CompiledConstraint, ApiError> {
        let state = self.clone();
        tokio::task::spawn_blocking(move || state.compile_now(&constraint))
            .await
            .map_err(|_| ApiError::internal("compiling the constraint failed"))?
    }

    fn compile_now(&self, constraint: &Constraint) -> Result<CompiledConstraint, ApiError> {
        let param = match constraint {
            Constraint::Lark(_) => "tool_choice",
            Constraint::JsonObject | Constraint::JsonSchema(_) => "response_format",
        };
        let generation = self.generation()?;
        let compiler = (generation.constraints)
            .get_or_init(|| {
                ConstraintCompiler::new(&generation.tokenizer).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| {
                let message = format!("this model's output cannot be constrained: {e}");
                ApiError::invalid(Some(param.into()), message)
            })?;
        compiler
            .compile(constraint)
            .map_err(|e| ApiError::invalid(Some(param.into()), e.to_string()))
    }

    /// Grounds chat answers in `index` (see [`rag`]).
    ///
    /// # Panics
    /// If the state was cloned already (call it right after [`AppState::new`]).
    pub fn with_index(mut self, index: ServedIndex) -> Self {
        let shared = Arc::get_mut(&mut self.inner).expect("with_index before the state is shared");
        shared.index = Some(Arc::new(index));
        self
    }
}

/// Seconds since the Unix epoch.
fn unix_time() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// All routes with their layers.
pub fn router(state: AppState) -> Router {
    let body_limit = state.inner.config.body_limit;
    let api = Router::new()
        .route("/v1/completions", post(routes::completions))
        .route("/v1/chat/completions", post(routes::chat_completions))
        .route("/v1/messages", post(routes::messages))
        .route("/v1/messages/count_tokens", post(routes::count_tokens))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/v1/models", get(routes::models))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            routes::require_api_key,
        ));
    Router::new()
        .merge(api)
        .route("/", get(routes::chat_page))
        .route("/health", get(routes::health))
        .route("/metrics", get(routes::metrics))
        .fallback(routes::not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            routes::count_request,
        ))
        .layer(CatchPanicLayer::custom(routes::panic_response))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until Ctrl-C.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
