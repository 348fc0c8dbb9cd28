//! Train a GPT from raw text, then sample from it: the whole path from corpus to generated text.
//!
//! Run with:
//!
//! ```text
//! cargo run --release --example train -- --config configs/shakespeare-char-small.toml --no-tui
//! cargo run --release --example train --features wgpu -- --config configs/shakespeare-char.toml --device wgpu
//! ```
//!
//! With no data named in the config, training reads tinyshakespeare from `$CLAUDE_RUST_DATA`
//! (else `../shared/data`), learns a character vocabulary, writes `out/<config>/data/{train,val}.bin`,
//! then trains. The small config takes about 2 minutes on a 2-core CPU and ends near val loss
//! 1.79 (nanoGPT publishes 1.88 for its configuration; see the README); the sample then reads
//! like (misspelt) Shakespeare:
//!
//! ```text
//! step   2000/2000 | loss 1.61.. | lr 1.00e-4 | ... | val loss 1.79.. (ppl 5.99) | full val loss 1.78..
//!
//! ROMEO:
//! Sir, hell aughter.
//!
//! DUKE VINCENTIO:
//! I the was natanede puse of Harry too end this son: I than then; pillation,
//! ```
//!
//! This runs exactly the code of `claude-rust train` and `claude-rust generate`.

use clap::Parser;
use claude_rust::cli::commands::{generate, train};

/// The allocator of the `claude-rust` binary (it keeps freed activation buffers for reuse).
#[global_allocator]
static ALLOCATOR: claude_rust::cli::allocator::Allocator = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    train: train::TrainArgs,
    /// Tokens to sample from the trained model afterwards.
    #[arg(long, default_value_t = 500)]
    sample_tokens: usize,
}

fn main() -> anyhow::Result<()> {
    claude_rust::cli::allocator::keep_freed_pages();
    let args = Args::parse();
    let device = args.train.device.clone();

    // 1. Prepare the data (if the config names raw text), train, evaluate, checkpoint.
    let summary = train::run(args.train)?;

    // 2. Sample from the newest checkpoint (its tokenizer sits in the run directory).
    generate::run(generate::GenerateArgs {
        checkpoint: summary.checkpoint,
        prompt: "\n".into(),
        max_new_tokens: args.sample_tokens,
        temperature: 0.8,
        top_k: 200,
        top_p: 1.0,
        min_p: 0.0,
        repetition_penalty: 1.0,
        stop: Vec::new(),
        // nanoGPT's sample.py feeds the last `context` tokens; with the cache, a full context
        // restarts from its last half.
        context_overflow: claude_rust::inference::OverflowPolicy::SlidingWindow,
        seed: 1337,
        tokenizer: None,
        device,
    })
}
