//! `claude-rust finetune`: adapt a pretrained model to chat data (full, LoRA or QLoRA) through
//! the training loop.

use std::path::PathBuf;

use claude_finetune::{FinetuneConfig, FinetuneJob, finetune};
use claude_trainer::RunOptions;

use super::model_args::resolve_model;
use super::train::{reporter_for, summary_line};

/// Arguments of `claude-rust finetune`.
#[derive(Debug, clap::Args)]
pub struct FinetuneArgs {
    /// The pretrained model: a GGUF file, a Hugging Face model folder, one of our checkpoints,
    /// or hf:OWNER/REPO[:FILE or quant] from the Hugging Face hub.
    #[arg(long)]
    pub model: PathBuf,
    /// Training data: JSON lines of {"messages": [...]} conversations (the loss counts the
    /// assistant's tokens) or {"text": "..."} documents.
    #[arg(long)]
    pub data: PathBuf,
    /// Validation data in the same form (default: every 10th training example, as the config's
    /// val_fraction says).
    #[arg(long)]
    pub val: Option<PathBuf>,
    /// Fine-tuning configuration (TOML), e.g. configs/finetune-lora.toml.
    #[arg(long)]
    pub config: PathBuf,
    /// Output directory: checkpoints (the adapter in PEFT's and llama.cpp's formats, or the
    /// whole model), metrics.jsonl.
    #[arg(long)]
    pub out: PathBuf,
    /// Device: cpu, wgpu, cuda:N (QLoRA trains on the CPU).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Print metric lines instead of the dashboard.
    #[arg(long)]
    pub no_tui: bool,
    /// Continue from the newest checkpoint in the output directory.
    #[arg(long)]
    pub resume: bool,
    /// Stop after this many steps (overrides train.max_steps).
    #[arg(long)]
    pub max_steps: Option<usize>,
}

/// Fine-tunes and prints a summary.
pub fn run(args: FinetuneArgs) -> anyhow::Result<()> {
    claude_tensors::threads::main_thread_joins_pool();
    let config = FinetuneConfig::load(&args.config)?;
    let every = config.train.log_interval;
    let job = FinetuneJob {
        model: resolve_model(&args.model)?,
        data: args.data,
        val: args.val,
        config,
    };
    let options = RunOptions {
        device: args.device,
        resume: args.resume,
        max_steps: args.max_steps,
        ..RunOptions::new(args.out)
    };
    let mut reporter = reporter_for(0, args.no_tui, every);
    let summary = finetune(job, &options, reporter.as_mut())?;
    drop(reporter);
    println!("{}", summary_line(&summary.run, ""));
    Ok(())
}
