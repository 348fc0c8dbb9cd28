//! `claude-rust finetune`: adapt a pretrained model to chat data (full, LoRA or QLoRA) through
//! the training loop.

use std::path::PathBuf;
use std::sync::Arc;

use claude_finetune::{FinetuneConfig, FinetuneJob, finetune};
use claude_trainer::Mpi;

use super::model_args::resolve_model;
use super::train::{LoopArgs, as_mpi_rank, reporter_for, summary_line};

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
    /// Devices, progress, resume and MPI, as `train` takes them (QLoRA trains on the CPU).
    #[command(flatten)]
    pub run: LoopArgs,
}

/// Fine-tunes and prints a summary.
pub fn run(args: FinetuneArgs) -> anyhow::Result<()> {
    let mpi = args.run.mpi;
    as_mpi_rank(mpi, |mpi| finetune_as_rank(args, mpi))
}

/// Fine-tunes as this process's rank (the only one without MPI).
fn finetune_as_rank(args: FinetuneArgs, mpi: Option<Arc<Mpi>>) -> anyhow::Result<()> {
    let config = FinetuneConfig::load(&args.config)?;
    let every = config.train.log_interval;
    let job = FinetuneJob {
        model: resolve_model(&args.model)?,
        data: args.data,
        val: args.val,
        config,
    };
    let options = args.run.options(args.out, mpi);
    let (rank, _) = options.rank_and_world_size();
    let mut reporter = reporter_for(rank, args.run.no_tui, every);
    let summary = finetune(job, &options, reporter.as_mut())?;
    drop(reporter);
    if rank == 0 {
        println!("{}", summary_line(&summary.run, ""));
    }
    Ok(())
}
