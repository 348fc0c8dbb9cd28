//! `claude-rust train`: run a training config (also what `examples/train.rs` calls).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use claude_trainer::{
    BackgroundReporter, DashboardReporter, Mpi, Reporter, RunOptions, RunSummary, SilentReporter,
    TextReporter, TrainConfig, train,
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
    /// Devices, progress, resume and MPI.
    #[command(flatten)]
    pub run: LoopArgs,
}

/// How a training loop runs: shared by `train` and `finetune`.
#[derive(Debug, clap::Args)]
pub struct LoopArgs {
    /// Device: cpu, wgpu, wgpu:N, cuda:N; a comma-separated list (cuda:0,cuda:1)
    /// trains data parallel, splitting each step's micro-batches over the devices. Under
    /// --mpi, `{local_rank}` stands for the rank's index on its machine (cuda:{local_rank}).
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
    /// Train as one rank of an MPI job (`mpirun ... claude-rust train --mpi`, `srun ...`):
    /// rank, world size and local rank come from MPI; each rank computes its share of every
    /// micro-batch and the gradients are summed. Rank 0 writes to --out, rank r to
    /// --out/rank-r. Needs a build with `--features mpi`.
    #[arg(long)]
    pub mpi: bool,
    /// Seconds a rank waits for the others' gradients before it aborts the job (a rank is
    /// stuck or stopped); must exceed the slowest step.
    #[arg(long, default_value_t = 600, requires = "mpi")]
    pub mpi_timeout: u64,
}

/// Trains and prints a summary.
pub fn run(args: TrainArgs) -> anyhow::Result<RunSummary> {
    let mpi = args.run.mpi;
    as_mpi_rank(mpi, |mpi| train_as_rank(args, mpi))
}

/// Runs `job` as this process's rank of an MPI job when `mpi` (else alone); an error on a rank
/// of a job of several ends the whole job, as the other ranks may be waiting for this one in a
/// collective.
pub(super) fn as_mpi_rank<T>(
    mpi: bool,
    job: impl FnOnce(Option<Arc<Mpi>>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mpi = mpi.then(Mpi::initialize).transpose()?.map(Arc::new);
    let result = job(mpi.clone());
    match (&result, &mpi) {
        (Err(err), Some(mpi)) if mpi.world_size() > 1 => {
            mpi.abort(1, &format!("error: rank {}: {err:#}", mpi.rank()))
        }
        _ => result,
    }
}

impl LoopArgs {
    /// The run's options, writing to `out_dir`, as rank `mpi` of a job (or alone). With one
    /// device, the calling thread (which runs the loop) joins rayon's pool and runs its share
    /// of the ops (with several, worker threads do).
    pub(super) fn options(&self, out_dir: PathBuf, mpi: Option<Arc<Mpi>>) -> RunOptions {
        let device = match &mpi {
            Some(mpi) => (self.device).replace("{local_rank}", &mpi.local_rank().to_string()),
            None => self.device.clone(),
        };
        if !device.contains(',') {
            claude_tensors::threads::main_thread_joins_pool();
        }
        RunOptions {
            out_dir,
            device,
            resume: self.resume,
            max_steps: self.max_steps,
            mpi_timeout: Duration::from_secs(self.mpi_timeout),
            mpi,
        }
    }
}

/// Trains as this process's rank (the only one without MPI) and prints a summary.
fn train_as_rank(args: TrainArgs, mpi: Option<Arc<Mpi>>) -> anyhow::Result<RunSummary> {
    let config = TrainConfig::load(&args.config)?;
    let out_dir = args.out.clone().unwrap_or_else(|| {
        let name = args
            .config
            .file_stem()
            .map_or("run".into(), |s| s.to_string_lossy().into_owned());
        PathBuf::from("out").join(name)
    });
    let options = args.run.options(out_dir, mpi);
    let (rank, world_size) = options.rank_and_world_size();
    let reporter = reporter_for(rank, args.run.no_tui, config.train.log_interval);
    let mut reporter = super::fault_injection::panic_after_step(reporter)?;
    let summary = train(config, &options, reporter.as_mut())?;
    // Shows what is still queued before the summary line.
    drop(reporter);
    if rank > 0 {
        return Ok(summary);
    }
    let communication = if world_size > 1 {
        format!(
            ", {world_size} ranks ({:.1}% of each step summing gradients)",
            100.0 * summary.communication_share
        )
    } else {
        String::new()
    };
    println!("{}", summary_line(&summary, &communication));
    Ok(summary)
}

/// How rank `rank` reports: rank 0 speaks for the job (the other ranks' losses are the same
/// reduced numbers), from a thread of its own, so that a console that stops reading (as
/// `mpirun`'s does while it stops a job) cannot hold training back; the dashboard on a terminal
/// unless `no_tui`, else a line every `every` steps.
pub(super) fn reporter_for(rank: usize, no_tui: bool, every: usize) -> Box<dyn Reporter> {
    if rank > 0 {
        return Box::new(SilentReporter);
    }
    let text = no_tui || !std::io::stdout().is_terminal();
    Box::new(BackgroundReporter::spawn(move || -> Box<dyn Reporter> {
        if text {
            Box::new(TextReporter { every })
        } else {
            Box::new(DashboardReporter::new())
        }
    }))
}

/// The summary line of a finished run.
pub(super) fn summary_line(summary: &RunSummary, communication: &str) -> String {
    format!(
        "done: {} steps, val loss {} (best {}, full val {}), {:.0} tokens/s, {:.1} ms/step{communication}, peak memory {}, checkpoint {}",
        summary.steps,
        format_loss(summary.val_loss),
        format_loss(summary.best_val_loss),
        format_loss(summary.full_val_loss),
        summary.tokens_per_sec,
        1e3 * summary.step_seconds,
        summary
            .peak_memory_bytes
            .map_or("unknown".into(), |b| format!(
                "{:.0} MiB",
                b as f64 / (1 << 20) as f64
            )),
        summary.checkpoint.display()
    )
}

/// A loss with four decimals, or `-` when there is none.
fn format_loss(loss: Option<f64>) -> String {
    loss.map_or("-".into(), |v| format!("{v:.4}"))
}
