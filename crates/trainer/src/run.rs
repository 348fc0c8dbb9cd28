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

use crate::config::TrainConfig;
use crate::distributed::GroupConfig;
use crate::error::Result;
use crate::metrics::{Reporter, peak_memory_bytes};
use crate::setup::Run;

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
    /// This process's place in a multi-process (multi-machine) run; `None` trains alone.
    pub distributed: Option<GroupConfig>,
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
            distributed: None,
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
}

/// Set by Ctrl-C; the loop checkpoints and stops at the next step boundary.
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

/// Trains as `config` says; `reporter` shows progress.
///
/// The loop, as in nanoGPT's `train.py`: set up (or resume), then step, evaluate and checkpoint
/// until `max_steps` or a stop request (Ctrl-C, the dashboard's `q`, or any rank's).
pub fn train(
    config: TrainConfig,
    options: &RunOptions,
    reporter: &mut dyn Reporter,
) -> Result<RunSummary> {
    let (mut run, mut model) = Run::start(config, options, reporter)?;
    let interrupt = interrupt_flag();
    interrupt.store(false, Ordering::SeqCst);
    let mut interrupted = false;
    while run.state.step < run.config.train.max_steps {
        let outcome;
        (model, outcome) = run.train_step(model, reporter)?;
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
        let tokens = trained_steps * self.config.tokens_per_step();
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
        })
    }
}
