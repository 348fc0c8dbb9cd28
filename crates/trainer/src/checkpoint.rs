//! Checkpoints.
//!
//! Each checkpoint is a directory `<out>/checkpoints/step-00000250/` holding
//! - the files to share, generate from or convert, as the [`Trainee`] writes them: the model
//!   file `model.safetensors` ([`Gpt::save`]) of a model trained whole, the adapter of one
//!   trained with LoRA;
//! - `model.bpk` and `optim.bpk`: burnpack files of the trained weights (the whole model, or
//!   only its adapters) and AdamW moments (burnpack keeps the parameter ids that the optimizer
//!   state is keyed by), for `--resume`;
//! - `state.json`: step, losses and tokens seen.
//!
//! A checkpoint is written into a temporary directory and renamed into place, so a crash never
//! leaves a half-written one; only the newest `keep_last` are kept, plus `best/` (lowest val loss).

use std::path::{Path, PathBuf};

use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use claude_core::Gpt;
use claude_files::AtomicDir;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::precision::LossScaler;
use crate::trainee::Trainee;

/// Weights with parameter ids, for resuming.
const RESUME_MODEL_FILE: &str = "model.bpk";
/// Optimizer state, for resuming.
const OPTIM_FILE: &str = "optim.bpk";
/// Progress, for resuming.
const STATE_FILE: &str = "state.json";

/// Where a run stands; saved with each checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimizer steps completed.
    pub step: usize,
    /// Tokens consumed so far.
    pub tokens_seen: u64,
    /// Validation loss at this step, if evaluated.
    pub val_loss: Option<f64>,
    /// Lowest validation loss so far.
    pub best_val_loss: Option<f64>,
    /// Wall-clock seconds of training so far.
    pub elapsed_s: f64,
    /// The f16 loss scale, under `f16-mixed` precision.
    #[serde(default)]
    pub loss_scaler: Option<LossScaler>,
}

/// The checkpoints of one run.
pub struct Checkpoints {
    root: PathBuf,
    keep_last: usize,
}

impl Checkpoints {
    /// The checkpoints under `<out>/checkpoints`.
    pub fn new(out_dir: &Path, keep_last: usize) -> Self {
        Checkpoints {
            root: out_dir.join("checkpoints"),
            keep_last: keep_last.max(1),
        }
    }

    /// The directory of the best checkpoint (lowest validation loss).
    pub fn best(&self) -> PathBuf {
        self.root.join("best")
    }

    /// Writes a checkpoint for `state.step`; also replaces `best/` when `is_best`.
    pub fn save(
        &self,
        model: &Gpt,
        trainee: &dyn Trainee,
        optim: &ModuleOptimizer,
        state: &TrainState,
        is_best: bool,
    ) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.root).map_err(|e| Error::io(&self.root, e))?;
        let dir = self.root.join(format!("step-{:08}", state.step));
        let checkpoint = Checkpoint {
            model,
            trainee,
            optim,
            state,
        };
        checkpoint.write_atomically(&dir)?;
        if is_best {
            checkpoint.write_atomically(&self.best())?;
        }
        self.prune()?;
        Ok(dir)
    }

    /// Step checkpoints, oldest first.
    fn steps(&self) -> Result<Vec<(usize, PathBuf)>> {
        let mut steps = Vec::new();
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(steps),
            Err(e) => return Err(Error::io(&self.root, e)),
        };
        for entry in entries {
            let path = entry.map_err(|e| Error::io(&self.root, e))?.path();
            let step = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("step-"))
                .and_then(|n| n.parse::<usize>().ok());
            if let Some(step) = step {
                steps.push((step, path));
            }
        }
        steps.sort();
        Ok(steps)
    }

    fn prune(&self) -> Result<()> {
        let steps = self.steps()?;
        let excess = steps.len().saturating_sub(self.keep_last);
        for (_, dir) in &steps[..excess] {
            std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        Ok(())
    }

    /// The newest step checkpoint, if any.
    pub fn latest(&self) -> Result<Option<PathBuf>> {
        Ok(self.steps()?.pop().map(|(_, dir)| dir))
    }

    /// Restores the weights (with their parameter ids) and progress from a checkpoint directory.
    pub fn restore_model(dir: &Path, model: Gpt) -> Result<(Gpt, TrainState)> {
        let state_path = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&state_path).map_err(|e| Error::io(&state_path, e))?;
        let state: TrainState = serde_json::from_str(&text)
            .map_err(|e| Error::checkpoint(&state_path, e.to_string()))?;
        let bpk = dir.join(RESUME_MODEL_FILE);
        let fail = |e: burn::store::RecordError| Error::checkpoint(&bpk, e.to_string());
        let model = if model.has_adapters() {
            let mut model = model;
            let adapters = model.adapter_modules().try_load_file(&bpk).map_err(fail)?;
            model.set_adapter_modules(adapters);
            model
        } else {
            model.try_load_file(&bpk).map_err(fail)?
        };
        Ok((model, state))
    }

    /// Restores the optimizer state. The optimizer must have been built for the restored model:
    /// its state and parameter groups are keyed by the model's parameter ids.
    pub fn restore_optimizer(dir: &Path, optim: ModuleOptimizer) -> Result<ModuleOptimizer> {
        let path = dir.join(OPTIM_FILE);
        optim
            .load(&path)
            .map_err(|e| Error::checkpoint(&path, e.to_string()))
    }
}

/// What one checkpoint holds.
struct Checkpoint<'a> {
    model: &'a Gpt,
    trainee: &'a dyn Trainee,
    optim: &'a ModuleOptimizer,
    state: &'a TrainState,
}

impl Checkpoint<'_> {
    /// Writes the checkpoint into `.tmp-NAME` beside `dir`, then renames it over `dir`.
    fn write_atomically(&self, dir: &Path) -> Result<()> {
        let staging = AtomicDir::create(dir).map_err(|e| Error::io(dir, e))?;
        let tmp = staging.path();
        self.trainee.write_files(self.model, tmp)?;
        let bpk = tmp.join(RESUME_MODEL_FILE);
        let saved = if self.model.has_adapters() {
            // Only the adapters train: the frozen base is rebuilt, not saved.
            self.model.adapter_modules().save_file(&bpk)
        } else {
            self.model.clone().save_file(&bpk)
        };
        saved.map_err(|e| Error::checkpoint(&bpk, e.to_string()))?;
        let optim_path = tmp.join(OPTIM_FILE);
        (self.optim)
            .save(&optim_path)
            .map_err(|e| Error::checkpoint(&optim_path, e.to_string()))?;
        let json = serde_json::to_string_pretty(self.state).expect("state serializes");
        let state_path = tmp.join(STATE_FILE);
        std::fs::write(&state_path, json).map_err(|e| Error::io(&state_path, e))?;
        staging.commit().map_err(|e| Error::io(dir, e))
    }
}
