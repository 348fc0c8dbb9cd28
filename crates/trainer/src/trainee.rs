//! What a run trains: a fresh GPT built from its config (pretraining), or a model someone else
//! supplies (a pretrained one, whole or with adapters: fine-tuning), and the files its
//! checkpoints share.

use std::path::Path;

use burn::prelude::*;
use claude_core::{Gpt, MODEL_FILE, ModelConfig};

use crate::error::Result;

/// The model a run trains.
pub trait Trainee: Send + Sync {
    /// The model to train, on `device` (an autodiff device), for the run's model `config`.
    /// Parameters that must not train are built frozen (`require_grad` off).
    fn build(&self, config: &ModelConfig, device: &Device) -> Result<Gpt>;

    /// Writes the files a checkpoint shares (a model file; an adapter) into the checkpoint
    /// directory `dir` (a staging directory: it appears whole or not at all).
    fn write_files(&self, model: &Gpt, dir: &Path) -> Result<()>;
}

/// A fresh model initialised from the run's config; checkpoints share its model file.
pub struct FreshModel;

impl Trainee for FreshModel {
    fn build(&self, config: &ModelConfig, device: &Device) -> Result<Gpt> {
        Ok(config.init(device))
    }

    fn write_files(&self, model: &Gpt, dir: &Path) -> Result<()> {
        Ok(model.save(&dir.join(MODEL_FILE))?)
    }
}
