//! `claude-rust perplexity`: a model's perplexity on a text file, computed as llama.cpp's
//! `llama-perplexity` computes it (so the numbers compare directly).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use claude_inference::PerplexityOptions;

use super::model_args::ModelArgs;

/// Arguments of `claude-rust perplexity`.
#[derive(Debug, clap::Args)]
pub struct PerplexityArgs {
    /// The model, its tokenizer, device and context.
    #[command(flatten)]
    pub model: ModelArgs,
    /// UTF-8 text to score (e.g. wikitext-2-raw's wiki.test.raw).
    #[arg(long)]
    pub file: PathBuf,
    /// Tokens per chunk; the second half of each chunk is scored (llama.cpp's -c).
    #[arg(long, default_value_t = 512)]
    pub ctx: usize,
    /// Score at most this many chunks (default: every whole chunk of the file).
    #[arg(long)]
    pub chunks: Option<usize>,
}

/// Prints the running perplexity after each chunk, as llama.cpp does, then the final estimate.
pub fn run(args: PerplexityArgs) -> anyhow::Result<()> {
    let bytes = std::fs::read(&args.file).with_context(|| format!("{}", args.file.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| anyhow::anyhow!("{}: not UTF-8 text ({e})", args.file.display()))?;
    let generator = args
        .model
        .load_for_this_thread(&args.model.path()?)?
        .generator;
    let options = PerplexityOptions {
        ctx: args.ctx,
        max_chunks: args.chunks,
    };
    let mut stdout = std::io::stdout();
    let result = generator.perplexity(&text, options, |chunk, ppl| {
        let _ = write!(stdout, "[{}]{ppl:.4},", chunk + 1);
        let _ = stdout.flush();
    })?;
    println!();
    println!(
        "{} tokens, {} chunks of {}, {} tokens scored",
        result.text_tokens, result.chunks, args.ctx, result.scored
    );
    println!(
        "Final estimate: PPL = {:.4} +/- {:.5}",
        result.ppl, result.error
    );
    Ok(())
}
