//! `claude-rust prepare`: text files -> `train.bin` + `val.bin`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use claude_tokenizer::data::{PrepareOptions, prepare};
use claude_tokenizer::{Tokenizer, Utf8Policy};

/// Arguments of `claude-rust prepare`.
#[derive(Debug, clap::Args)]
pub struct PrepareArgs {
    /// Tokenizer directory (ours, Hugging Face's vocab.json + merges.txt, or GPT-2's files).
    #[arg(long)]
    tokenizer: PathBuf,
    /// Text files, read in order as one stream.
    #[arg(long, num_args = 1.., required = true)]
    input: Vec<PathBuf>,
    /// Output directory for train.bin, val.bin and their .json sidecars.
    #[arg(long)]
    out: PathBuf,
    /// Fraction of the corpus (from its end) that becomes val.bin.
    #[arg(long, default_value_t = 0.1)]
    val_fraction: f64,
    /// What to do with invalid UTF-8: error, replace or skip.
    #[arg(long, default_value = "error")]
    invalid_utf8: Utf8Policy,
}

/// Runs `prepare`.
pub fn run(args: PrepareArgs) -> anyhow::Result<()> {
    let tokenizer = Tokenizer::load(&args.tokenizer)
        .with_context(|| format!("loading tokenizer from {}", args.tokenizer.display()))?;
    let options = PrepareOptions {
        val_fraction: args.val_fraction,
        utf8_policy: args.invalid_utf8,
        show_progress: std::io::stderr().is_terminal(),
    };
    let report = prepare(&tokenizer, &args.input, &args.out, &options)?;
    println!(
        "wrote {} ({} tokens) and {} ({} tokens) from {} bytes, vocab {}",
        report.train_path.display(),
        report.train_tokens,
        report.val_path.display(),
        report.val_tokens,
        report.bytes,
        tokenizer.vocab_size()
    );
    Ok(())
}
