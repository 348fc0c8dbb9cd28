//! `claude-rust train`: run a training config (also what `examples/train.rs` calls).

use std::io::IsTerminal;
use std::path::PathBuf;

use claude_trainer::{
    DashboardReporter, GroupConfig, Reporter, RunOptions, RunSummary, TextReporter, TrainConfig,
    train,
};

/// Arguments of `claude-rust train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Run configuration (TOML), e.g. configs/shakespeare-char-small.toml.
    #[arg(long)]
    pub config: PathBuf,
    /// Output directory (default: out/<config name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Device: cpu, wgpu, wgpu:N, cuda:N; a comma-separated list (cuda:0,cuda:1)
    /// trains data parallel, splitting each step's micro-batches over the devices.
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
    /// Number of processes (usually one per machine) training together; each computes its
    /// share of every micro-batch and the gradients are summed over the network.
    #[arg(long, default_value_t = 1, requires = "coordinator")]
    pub world_size: usize,
    /// This process's index in 0..world-size; rank 0 is the coordinator.
    #[arg(long, default_value_t = 0, requires = "coordinator")]
    pub rank: usize,
    /// host:port where rank 0 listens and every other rank connects (same on every rank).
    #[arg(long)]
    pub coordinator: Option<String>,
}

/// Trains and prints a summary.
pub fn run(args: TrainArgs) -> anyhow::Result<RunSummary> {
    if !args.device.contains(',') {
        // One device: the loop's thread runs the ops (with several, worker threads do).
        claude_tensors::threads::main_thread_joins_pool();
    }
    let config = TrainConfig::load(&args.config)?;
    let out_dir = args.out.clone().unwrap_or_else(|| {
        let name = args
            .config
            .file_stem()
            .map_or("run".into(), |s| s.to_string_lossy().into_owned());
        PathBuf::from("out").join(name)
    });
    let options = RunOptions {
        out_dir,
        device: args.device.clone(),
        resume: args.resume,
        max_steps: args.max_steps,
        distributed: args.coordinator.clone().map(|coordinator| GroupConfig {
            rank: args.rank,
            world_size: args.world_size,
            coordinator,
        }),
    };
    let mut reporter: Box<dyn Reporter> = if args.no_tui || !std::io::stdout().is_terminal() {
        Box::new(TextReporter { every: 10 })
    } else {
        Box::new(DashboardReporter::new())
    };
    let summary = train(config, &options, reporter.as_mut())?;
    println!(
        "done: {} steps, val loss {} (best {}, full val {}), {:.0} tokens/s, peak memory {}, checkpoint {}",
        summary.steps,
        format_loss(summary.val_loss),
        format_loss(summary.best_val_loss),
        format_loss(summary.full_val_loss),
        summary.tokens_per_sec,
        summary
            .peak_memory_bytes
            .map_or("unknown".into(), |b| format!(
                "{:.0} MiB",
                b as f64 / (1 << 20) as f64
            )),
        summary.checkpoint.display()
    );
    Ok(summary)
}

/// A loss with four decimals, or `-` when there is none.
fn format_loss(loss: Option<f64>) -> String {
    loss.map_or("-".into(), |v| format!("{v:.4}"))
}
