//! `claude-rust embed`: sentence vectors for ad-hoc texts, as JSON lines.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use claude_retrieval::SentenceEmbedder;
use claude_tensors::parse_device;

/// Arguments of `claude-rust embed`.
#[derive(Debug, clap::Args)]
pub struct EmbedArgs {
    /// A sentence-transformers model directory (e.g. all-minilm-l6-v2: config.json,
    /// model.safetensors, tokenizer files).
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
    let embedder = SentenceEmbedder::load(&args.model, &parse_device(&args.device)?)?;
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
    for (i, embedding) in embedder.embed(&texts).into_iter().enumerate() {
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
