//! `claude-rust serve`: an OpenAI-compatible HTTP server on a checkpoint.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use claude_inference::OverflowPolicy;
use claude_inference::engine::{EngineConfig, spawn_engine};
use claude_server::{AppState, ServerConfig, serve};

use claude_retrieval::{DocumentIndex, SearchMode};
use claude_server::rag::ServedIndex;

use super::embedder::{embedder_path, load_embedder};
use super::model_args::{ChatTemplateArgs, ModelArgs};

/// Arguments of `claude-rust serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The model, its tokenizer, device and context.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Address to bind (loopback unless told otherwise).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port (0 picks a free one; the address is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Name clients pass as `model` (default: the checkpoint's run directory name).
    #[arg(long)]
    pub model_name: Option<String>,
    /// Require `Authorization: Bearer KEY` on /v1/* (also read from CLAUDE_RUST_API_KEY).
    #[arg(long, env = "CLAUDE_RUST_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Largest max_tokens a request may ask for.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: usize,
    /// Sequences decoded together.
    #[arg(long, default_value_t = 16)]
    pub max_batch: usize,
    /// Memory for recent prompts' keys and values, in MiB (0: no prompt caching). A prompt that
    /// shares a prefix with a cached one (a system prompt, a chat's earlier turns) feeds only
    /// the rest.
    #[arg(long, default_value_t = 256)]
    pub prompt_cache_mb: usize,
    /// Requests that may wait for a slot before the server answers 429.
    #[arg(long, default_value_t = 64)]
    pub queue: usize,
    /// Longest a request may generate, in seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub body_limit: usize,
    /// The chat template (`--chat-template`).
    #[command(flatten)]
    pub chat_template: ChatTemplateArgs,
    /// When prompt plus max_tokens exceed the context: reject (400) or sliding.
    #[arg(long, default_value = "reject")]
    pub context_overflow: OverflowPolicy,
    /// Also serve POST /v1/embeddings with this embedder (alone, without --model) (a sentence-transformers model
    /// directory such as all-minilm-l6-v2, or one of our models), named by its directory or file.
    #[arg(long, visible_alias = "embedder")]
    pub embedding_model: Option<PathBuf>,
    /// Ground chat answers in this index (built with `claude-rust index build`) and return
    /// their sources; its embedder (or --embedding-model) also serves /v1/embeddings.
    #[arg(long)]
    pub index: Option<PathBuf>,
    /// Chunks retrieved per chat request (a request may ask for others).
    #[arg(long, default_value_t = 4)]
    pub rag_k: usize,
    /// How chat requests are searched: dense, exact, bm25 or hybrid.
    #[arg(long, default_value = "hybrid")]
    pub rag_mode: SearchMode,
}

/// Loads the model (and the embedder and index, when given), starts the engine and serves
/// until Ctrl-C; with an embedder and no model, serves embeddings only.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let index = match &args.index {
        Some(dir) => Some(
            DocumentIndex::open(dir)
                .with_context(|| format!("opening the index {}", dir.display()))?,
        ),
        None => None,
    };
    let embedder = match &embedder_path(args.embedding_model.as_deref(), index.as_ref())? {
        Some(path) => Some(load_embedder(path, &args.model.device)?),
        None => None,
    };
    // What every server shares; the model fills in the rest.
    let mut config = ServerConfig::new(String::new(), 0);
    config.api_key = args.api_key.clone().filter(|key| !key.is_empty());
    config.body_limit = args.body_limit;
    let mut state = match (&args.model.path, &embedder) {
        (Some(_), _) => generation_state(&args, &args.model.path()?, &mut config)?,
        (None, Some(embedder)) if index.is_none() => {
            config.model_name = embedder.identity().name.clone();
            AppState::embeddings_only(config.clone())
        }
        (None, _) => anyhow::bail!(
            "--model is required (a chat model; to serve embeddings only, give just \
             --embedding-model)"
        ),
    };
    if let Some(embedder) = embedder {
        if let Some(index) = index {
            index.check_embedder(embedder.identity())?;
            state = state.with_index(ServedIndex {
                index,
                embedder: embedder.clone(),
                k: args.rag_k,
                mode: args.rag_mode,
            });
        }
        state = state.with_embedder(embedder.identity().name.clone(), embedder);
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((args.host, args.port))
            .await
            .with_context(|| format!("binding {}:{}", args.host, args.port))?;
        let address = listener.local_addr()?;
        let key_note = if config.api_key.is_some() {
            " (API key required on /v1/*)"
        } else {
            ""
        };
        // Whoever started us may stop reading stdout; that must not stop the server.
        let mut stdout = std::io::stdout();
        let _ = writeln!(
            stdout,
            "serving `{}`{key_note} on http://{address}",
            config.model_name
        )
        .and_then(|()| stdout.flush());
        serve(listener, state).await.context("serving")
    })
}

/// Loads the model at `model`, completes `config` for it and starts its engine: the state of a
/// server in front of it.
fn generation_state(
    args: &ServeArgs,
    model: &Path,
    config: &mut ServerConfig,
) -> anyhow::Result<AppState> {
    let loaded = args.model.load(model)?;
    let generator = (loaded.generator)
        .with_overflow(args.context_overflow)
        .with_prompt_cache(args.prompt_cache_mb << 20);
    config.model_name = (args.model_name.clone()).unwrap_or_else(|| default_model_name(model));
    config.context_length = generator.context_length();
    config.max_tokens_cap = args.max_tokens.max(1);
    config.chat_template = args.chat_template.choose(loaded.chat_template);
    config.overflow = args.context_overflow;
    let tokenizer = generator.tokenizer().clone();
    let (engine, _thread) = spawn_engine(
        generator,
        EngineConfig {
            max_batch: args.max_batch.max(1),
            queue_capacity: args.queue.max(1),
            request_timeout: Duration::from_secs(args.timeout_secs.max(1)),
        },
    );
    Ok(AppState::new(config.clone(), tokenizer, engine))
}

/// `out` for a checkpoint at `out/checkpoints/step-N`, else the file's name without its extension
/// (`SmolLM2-135M-Instruct.Q4_1` for `SmolLM2-135M-Instruct.Q4_1.gguf`) or the directory's.
fn default_model_name(checkpoint: &Path) -> String {
    let components: Vec<String> = checkpoint
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match components.iter().rposition(|c| c == "checkpoints") {
        Some(i) if i > 0 => components[i - 1].clone(),
        _ if checkpoint.is_file() => checkpoint.file_stem().map_or_else(
            || "model".into(),
            |stem| stem.to_string_lossy().into_owned(),
        ),
        _ => components.last().cloned().unwrap_or_else(|| "model".into()),
    }
}
