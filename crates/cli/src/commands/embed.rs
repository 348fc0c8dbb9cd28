//! `claude-rust embed`: sentence vectors for ad-hoc texts, as JSON lines.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;

use super::embedder::load_embedder;

/// Arguments of `claude-rust embed`.
#[derive(Debug, clap::Args)]
pub struct EmbedArgs {
    /// A sentence-transformers model directory (e.g. all-minilm-l6-v2: config.json,
    /// model.safetensors, tokenizer files), or one of our models (mean-pooled final states).
    #[arg(long)]
    pub model: PathBuf,
    /// Texts to embed; with none, one text per line of standard input.
    pub texts: Vec<String>,
    /// Device: cpu, wgpu, cuda:N, ...
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Prints one JSON object per text: its vector, its token count, and how many tokens the
/// length limit cut (also said on standard error).
pub fn run(args: EmbedArgs) -> anyhow::Result<()> {
    let embedder = load_embedder(&args.model, &args.device)?;
    let texts = if args.texts.is_empty() {
        std::io::stdin()
            .lock()
            .lines()
            .collect::<Result<Vec<_>, _>>()
            .context("reading standard input")?
    } else {
        args.texts
    };
    let mut out = std::io::stdout().lock();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    for (i, embedding) in embedder.embed_texts(&texts).into_iter().enumerate() {
        if embedding.dropped > 0 {
            eprintln!(
                "text {}: {} tokens beyond the model's {} were cut",
                i + 1,
                embedding.dropped,
                embedder.max_tokens().unwrap_or(0)
            );
        }
        let line = serde_json::json!({
            "embedding": embedding.vector,
            "tokens": embedding.tokens,
            "truncated": embedding.dropped > 0,
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}
