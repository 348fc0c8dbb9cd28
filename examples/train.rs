//! Train a GPT from raw text, then sample from it: the whole path from corpus to generated text,
//! through the library API.
//!
//! Run with:
//!
//! ```text
//! cargo run --release --example train -- --config configs/shakespeare-char-small.toml --no-tui
//! cargo run --release --example train --features wgpu -- --config configs/shakespeare-char.toml --device wgpu
//! ```
//!
//! With no data named in the config, training reads tinyshakespeare from the shared data
//! (`$CLAUDE_RUST_DATA`, else `../shared/data`), or downloads it once into `~/.cache/claude-rust`;
//! learns a character vocabulary, writes `out/<config>/data/{train,val}.bin`, then trains. The
//! small config takes about 2 minutes on a 2-core CPU and ends near val loss 1.79 (nanoGPT
//! publishes 1.88 for its configuration; see the README); the sample then reads like (misspelt)
//! Shakespeare:
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

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Parser;
use claude_rust::inference::{Generator, OverflowPolicy, SamplingParams, SequenceRequest};
use claude_rust::tensors::allocator::{self, Allocator};
use claude_rust::tensors::{parse_device, threads};
use claude_rust::trainer::{
    DashboardReporter, Reporter, RunOptions, TextReporter, TrainConfig, train,
};

/// The allocator of the `claude-rust` binary (it keeps freed activation buffers for reuse).
#[global_allocator]
static ALLOCATOR: Allocator = Allocator;

#[derive(Debug, Parser)]
struct Args {
    /// Run configuration (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Output directory (default: out/<config name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Device: cpu, wgpu, cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Print metric lines instead of the dashboard.
    #[arg(long)]
    no_tui: bool,
    /// Tokens to sample from the trained model afterwards.
    #[arg(long, default_value_t = 500)]
    sample_tokens: usize,
    /// Stop after this many steps (overrides train.max_steps; CI runs the quick start this way).
    #[arg(long)]
    max_steps: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    allocator::keep_freed_pages();
    // The training loop runs every op itself, as one of rayon's threads.
    threads::main_thread_joins_pool();
    let args = Args::parse();

    // 1. Train: prepare the data (if the config names raw text), train, evaluate, checkpoint.
    let config = TrainConfig::load(&args.config)?;
    let name = args
        .config
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy();
    let options = RunOptions {
        device: args.device.clone(),
        max_steps: args.max_steps,
        ..RunOptions::new(
            args.out
                .unwrap_or_else(|| PathBuf::from("out").join(&*name)),
        )
    };
    let mut reporter: Box<dyn Reporter> = if args.no_tui || !std::io::stdout().is_terminal() {
        Box::new(TextReporter {
            every: config.train.log_interval,
        })
    } else {
        Box::new(DashboardReporter::new())
    };
    let summary = train(config, &options, reporter.as_mut())?;
    println!(
        "trained {} steps: val loss {:?}, checkpoint {}",
        summary.steps,
        summary.val_loss,
        summary.checkpoint.display()
    );

    // 2. Generate from the newest checkpoint; its tokenizer sits in the run directory.
    let device = parse_device(&args.device)?;
    // nanoGPT's sample.py feeds the last `context` tokens; with the cache, a full context
    // restarts from its last half.
    let generator = Generator::load(&summary.checkpoint, None, &device)?
        .with_overflow(OverflowPolicy::SlidingWindow);
    let request = SequenceRequest {
        prompt: generator.tokenizer().encode("\n")?,
        max_new_tokens: args.sample_tokens,
        sampling: SamplingParams::NANOGPT,
        stop: Vec::new(),
        ..Default::default()
    };
    let mut out = std::io::stdout().lock();
    generator.generate(request, |event| {
        out.write_all(event.text.as_bytes())
            .and_then(|()| out.flush())
            .is_ok()
    })?;
    writeln!(out)?;
    Ok(())
}
