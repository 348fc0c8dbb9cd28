//! [`TrainConfig`]: a training run as one TOML file (`configs/*.toml`): data, model, optimiser,
//! schedule and loop settings. Unknown keys are errors, so a misspelt setting never goes unnoticed.

use std::path::{Path, PathBuf};

use claude_core::ModelConfig;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::schedule::Schedule;

/// Everything a training run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Where the tokens come from.
    #[serde(default)]
    pub data: DataConfig,
    /// The network (`vocab_size` may be left out: the tokenizer decides it).
    pub model: ModelConfig,
    /// AdamW settings.
    #[serde(default)]
    pub optim: OptimConfig,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Loop settings.
    pub train: LoopConfig,
}

/// The corpus: a raw text file (tokenized and prepared on the fly) or a prepared directory.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// A raw text file; prepared into `<out>/data` with `tokenizer`.
    #[serde(default)]
    pub text: Option<PathBuf>,
    /// A directory with `train.bin` and `val.bin` from `claude-rust prepare`.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// `"char"` for a character tokenizer learned from `text`, or a tokenizer directory. With
    /// `dir`, default `<dir>/tokenizer`.
    #[serde(default)]
    pub tokenizer: Option<String>,
    /// Fraction of `text` held out for validation.
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
}

fn default_val_fraction() -> f64 {
    0.1
}

/// AdamW settings. Weight decay applies to matrices only (not norms, biases or embeddings, unless
/// `decay_embeddings`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    /// Decoupled weight decay.
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    /// First-moment decay.
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    /// Second-moment decay.
    #[serde(default = "default_beta2")]
    pub beta2: f64,
    /// Denominator epsilon.
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Clip the global gradient norm to this value (`0` turns clipping off).
    #[serde(default = "default_grad_clip")]
    pub grad_clip: f64,
    /// Also decay the embedding tables.
    #[serde(default)]
    pub decay_embeddings: bool,
}

fn default_weight_decay() -> f64 {
    0.1
}
fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.95
}
fn default_eps() -> f64 {
    1e-8
}
fn default_grad_clip() -> f64 {
    1.0
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            weight_decay: default_weight_decay(),
            beta1: default_beta1(),
            beta2: default_beta2(),
            eps: default_eps(),
            grad_clip: default_grad_clip(),
            decay_embeddings: false,
        }
    }
}

/// The training loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopConfig {
    /// Optimiser steps.
    pub max_steps: usize,
    /// Sequences per micro-batch.
    pub batch_size: usize,
    /// Micro-batches whose gradients are summed per step.
    #[serde(default = "one")]
    pub grad_accum: usize,
    /// Evaluate on `val.bin` every this many steps (and at the end).
    #[serde(default = "default_eval_interval")]
    pub eval_interval: usize,
    /// Print a progress line every this many steps (and on every evaluation), without the
    /// dashboard.
    #[serde(default = "default_log_interval")]
    pub log_interval: usize,
    /// Batches per evaluation.
    #[serde(default = "default_eval_iters")]
    pub eval_iters: usize,
    /// Tokens of `val.bin`, read in order in whole windows, for the final evaluation (the
    /// periodic ones sample `eval_iters` batches, which is quick but noisy); 0 skips it.
    #[serde(default = "default_final_eval_tokens")]
    pub final_eval_tokens: usize,
    /// Write a checkpoint every this many steps (and at the end).
    #[serde(default = "default_eval_interval")]
    pub checkpoint_interval: usize,
    /// Step checkpoints to keep (the best by val loss is kept apart).
    #[serde(default = "default_keep_last")]
    pub keep_last: usize,
    /// Seed for initialisation, batches and dropout.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Floating-point types of the run: `f32`; `bf16-mixed` / `f16-mixed` (`bf16` / `f16`):
    /// activations and gradients in 16 bits, f32 master weights and optimizer state (with loss
    /// scaling for f16); `bf16-true` / `f16-true`: 16 bits everywhere. Meant for GPU backends.
    #[serde(default)]
    pub precision: Precision,
    /// Activation checkpointing (burn's balanced strategy): the backward pass recomputes the
    /// cheap operations' outputs (norms, activations, elementwise ops) instead of keeping them,
    /// keeping only the products and attention. It saves memory where the layers' activations
    /// dominate it (long rows, big batches); where the weights or the logits over a large
    /// vocabulary do, it does not (see docs/performance.md, "Fine-tuning").
    #[serde(default)]
    pub activation_checkpointing: bool,
}

/// Training precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Precision {
    /// 32-bit floats everywhere.
    #[default]
    #[serde(rename = "f32")]
    F32,
    /// bfloat16 forward and backward passes, f32 master weights and optimizer state.
    #[serde(rename = "bf16-mixed", alias = "bf16")]
    Bf16Mixed,
    /// float16 forward and backward passes with dynamic loss scaling, f32 master weights and
    /// optimizer state.
    #[serde(rename = "f16-mixed", alias = "f16")]
    F16Mixed,
    /// bfloat16 weights, activations and optimizer state.
    #[serde(rename = "bf16-true")]
    Bf16True,
    /// float16 weights, activations and optimizer state.
    #[serde(rename = "f16-true")]
    F16True,
}

impl Precision {
    /// The device's float type for activations (`None`: the backend default, f32).
    pub fn float_dtype(self) -> Option<burn::tensor::FloatDType> {
        use burn::tensor::FloatDType;
        match self {
            Precision::F32 => None,
            Precision::Bf16Mixed | Precision::Bf16True => Some(FloatDType::BF16),
            Precision::F16Mixed | Precision::F16True => Some(FloatDType::F16),
        }
    }

    /// Whether the weights the optimizer updates are kept in f32 apart from the 16-bit copy
    /// that runs the passes.
    pub fn has_master_weights(self) -> bool {
        matches!(self, Precision::Bf16Mixed | Precision::F16Mixed)
    }

    /// Whether the loss is scaled so that small f16 gradients do not flush to zero.
    pub fn scales_loss(self) -> bool {
        self == Precision::F16Mixed
    }
}

fn one() -> usize {
    1
}
fn default_eval_interval() -> usize {
    250
}
fn default_log_interval() -> usize {
    10
}
fn default_eval_iters() -> usize {
    20
}
fn default_final_eval_tokens() -> usize {
    1 << 20
}
fn default_keep_last() -> usize {
    2
}
fn default_seed() -> u64 {
    1337
}

/// What is wrong with a run configuration's text.
#[derive(Debug, thiserror::Error)]
pub enum RunConfigError {
    /// Not TOML, or not a run configuration: the TOML parser's words, which name the line and
    /// the key (an unknown or misspelt key, a wrong type).
    #[error("{0}")]
    Toml(toml::de::Error),
    /// A count that must be at least 1 is 0 (the key).
    #[error("{0} must be positive")]
    NotPositive(&'static str),
    /// `schedule.lr` is zero, negative or not finite.
    #[error("schedule.lr must be positive, not {0}")]
    LearningRate(f64),
    /// Both `data.text` and `data.dir` are given.
    #[error("data.text and data.dir are exclusive: give one")]
    TextAndDir,
}

impl TrainConfig {
    /// Reads a TOML config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text).map_err(|cause| Error::Config {
            path: path.to_path_buf(),
            cause,
        })
    }

    /// Parses TOML text; the error names the line and the key.
    pub fn parse(text: &str) -> std::result::Result<Self, RunConfigError> {
        let config: TrainConfig = toml::from_str(text).map_err(RunConfigError::Toml)?;
        config.check_loop()?;
        Ok(config)
    }

    fn check_loop(&self) -> std::result::Result<(), RunConfigError> {
        let t = &self.train;
        for (name, value) in [
            ("train.max_steps", t.max_steps),
            ("train.batch_size", t.batch_size),
            ("train.grad_accum", t.grad_accum),
            ("train.eval_interval", t.eval_interval),
            ("train.log_interval", t.log_interval),
            ("train.eval_iters", t.eval_iters),
            ("train.checkpoint_interval", t.checkpoint_interval),
            ("train.keep_last", t.keep_last),
        ] {
            if value == 0 {
                return Err(RunConfigError::NotPositive(name));
            }
        }
        if !(self.schedule.lr > 0.0 && self.schedule.lr.is_finite()) {
            return Err(RunConfigError::LearningRate(self.schedule.lr));
        }
        if self.data.text.is_some() && self.data.dir.is_some() {
            return Err(RunConfigError::TextAndDir);
        }
        Ok(())
    }

    /// Tokens consumed per optimiser step.
    pub fn tokens_per_step(&self) -> usize {
        self.train.batch_size * self.train.grad_accum * self.model.context_length
    }
}
