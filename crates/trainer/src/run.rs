//! The training loop: micro-batches with gradient accumulation, global-norm clipping, AdamW,
//! warmup + cosine schedule, periodic evaluation and checkpoints, resume, Ctrl-C and NaN handling.
//!
//! Written by hand rather than with burn-train's `Learner`: the Learner is epoch-based (its
//! checkpoints, validation and resume work per epoch) and clips gradients per tensor, while a GPT
//! run is counted in steps, evaluates and checkpoints every N steps, clips the global norm, and must
//! resume mid-run on exactly the batches it would have drawn. The pieces come from burn: AdamW and
//! its parameter groups, `GradientsAccumulator`, autodiff, burnpack/safetensors storage.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::config::TrainConfig;
use crate::distributed::Mpi;
use crate::error::Result;
use crate::metrics::{Reporter, peak_memory_bytes};
use crate::rows::TrainingRows;
use crate::setup::Run;
use crate::trainee::{FreshModel, Trainee};

/// How to run a config.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Output directory: checkpoints, `metrics.jsonl`, tokenizer, prepared data.
    pub out_dir: PathBuf,
    /// Device string (`cpu`, `wgpu`, `cuda:0`, ...), or a comma-separated list for data
    /// parallel training (the first device holds the model and the optimizer).
    pub device: String,
    /// Continue from the newest checkpoint in `out_dir`.
    pub resume: bool,
    /// Override of `train.max_steps`.
    pub max_steps: Option<usize>,
    /// The MPI job this process is a rank of (launched by `mpirun` or `srun`); `None` trains
    /// alone. Every rank runs the same options; rank 0 writes to `out_dir` and rank `r` to
    /// `out_dir/rank-r` (see [`RunOptions::rank_dir`]).
    pub mpi: Option<Arc<Mpi>>,
    /// How long a rank waits for the others' gradients before it aborts the job (a rank is
    /// stuck, stopped or far slower): longer than the slowest rank's step.
    pub mpi_timeout: Duration,
}

impl RunOptions {
    /// A new run (not resumed) on the CPU, alone, writing to `out_dir`, for as many steps as its
    /// config says.
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        RunOptions {
            out_dir: out_dir.into(),
            device: "cpu".into(),
            resume: false,
            max_steps: None,
            mpi: None,
            mpi_timeout: Duration::from_secs(600),
        }
    }

    /// This rank's rank and the world size (`(0, 1)` alone).
    pub fn rank_and_world_size(&self) -> (usize, usize) {
        self.mpi
            .as_ref()
            .map_or((0, 1), |mpi| (mpi.rank(), mpi.world_size()))
    }

    /// Where this process writes its data, tokenizer, config, metrics and checkpoints: `out_dir`
    /// for rank 0 (and a run alone), `out_dir/rank-r` for rank `r`. Every rank keeps its own
    /// replica's checkpoints, so `--resume` works whether or not the machines share a file
    /// system, and ranks of one machine never write over each other.
    pub fn rank_dir(&self) -> PathBuf {
        match self.rank_and_world_size() {
            (0, _) => self.out_dir.clone(),
            (rank, _) => self.out_dir.join(format!("rank-{rank}")),
        }
    }
}

/// What a finished (or interrupted) run reports.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Steps completed.
    pub steps: usize,
    /// Last validation loss.
    pub val_loss: Option<f64>,
    /// Best validation loss.
    pub best_val_loss: Option<f64>,
    /// Validation loss over the first `train.final_eval_tokens` of `val.bin` in order, when the
    /// run reached its last step.
    pub full_val_loss: Option<f64>,
    /// Mean training throughput in tokens per second.
    pub tokens_per_sec: f64,
    /// Peak resident memory of the process, in bytes.
    pub peak_memory_bytes: Option<u64>,
    /// The newest checkpoint.
    pub checkpoint: PathBuf,
    /// Whether Ctrl-C stopped the run early.
    pub interrupted: bool,
    /// Mean seconds per step of this process (evaluation and checkpoints excluded).
    pub step_seconds: f64,
    /// Share of the steps' time spent summing gradients over the ranks (0 alone).
    pub communication_share: f64,
}

/// Set by Ctrl-C or SIGTERM (what `mpirun` and Slurm send to stop a job); the loop checkpoints and stops at the next step boundary.
pub(crate) fn interrupt_flag() -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let handler_flag = flag.clone();
        // Fails only if another handler is installed (e.g. by an embedding program): then that
        // program owns Ctrl-C and we simply never see it.
        let _ = ctrlc::set_handler(move || handler_flag.store(true, Ordering::SeqCst));
        flag
    })
    .clone()
}

/// A run: its settings, its rows and what it trains.
pub struct Job {
    /// The settings (`config.data` is read only when `data` is `None`).
    pub config: TrainConfig,
    /// The rows; `None`: windows of the token files `config.data` names.
    pub data: Option<Box<dyn TrainingRows>>,
    /// The model trained, and what its checkpoints share.
    pub trainee: Box<dyn Trainee>,
}

/// Trains a fresh model as `config` says; `reporter` shows progress.
///
/// The loop, as in nanoGPT's `train.py`: set up (or resume), then step, evaluate and checkpoint
/// until `max_steps` or a stop request (Ctrl-C, the dashboard's `q`, or any rank's).
pub fn train(
    config: TrainConfig,
    options: &RunOptions,
    reporter: &mut dyn Reporter,
) -> Result<RunSummary> {
    let job = Job {
        config,
        data: None,
        trainee: Box::new(FreshModel),
    };
    run_job(job, options, reporter)
}

/// Runs `job` ([`train`] with its rows and model given: fine-tuning a pretrained model on
/// chat data goes through the same loop).
pub fn run_job(job: Job, options: &RunOptions, reporter: &mut dyn Reporter) -> Result<RunSummary> {
    let (mut run, mut model) = Run::start(job, options, reporter)?;
    let interrupt = interrupt_flag();
    interrupt.store(false, Ordering::SeqCst);
    let mut interrupted = false;
    while run.state.step < run.config.train.max_steps {
        let outcome;
        (model, outcome) = run.train_step(model, reporter)?;
        run.stepping_s += outcome.seconds;
        run.evaluate_and_checkpoint(&model, &outcome, reporter)?;
        if outcome.stop_requested {
            interrupted = true;
            reporter.note(&format!(
                "interrupted: checkpoint written at step {}",
                run.state.step
            ));
            break;
        }
    }
    run.summary(interrupted)
}

impl Run {
    /// What the run reports when it ends.
    fn summary(self, interrupted: bool) -> Result<RunSummary> {
        let trained_steps = self.state.step - self.first_step;
        let seconds = self.started.elapsed().as_secs_f64();
        let communication_share = if self.stepping_s > 0.0 {
            self.group.communicating().as_secs_f64() / self.stepping_s
        } else {
            0.0
        };
        let tokens = self.state.tokens_seen - self.first_tokens_seen;
        Ok(RunSummary {
            steps: self.state.step,
            val_loss: self.state.val_loss,
            best_val_loss: self.state.best_val_loss,
            full_val_loss: self.full_val_loss,
            tokens_per_sec: if trained_steps > 0 {
                tokens as f64 / seconds
            } else {
                0.0
            },
            peak_memory_bytes: peak_memory_bytes(),
            checkpoint: match self.last_checkpoint {
                Some(dir) => dir,
                None => self
                    .checkpoints
                    .latest()?
                    .unwrap_or_else(|| self.checkpoints.best()),
            },
            interrupted,
            step_seconds: self.stepping_s / trained_steps.max(1) as f64,
            communication_share,
        })
    }
}
