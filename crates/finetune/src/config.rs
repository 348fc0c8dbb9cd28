//! [`FinetuneConfig`]: a fine-tuning run as one TOML file (`configs/finetune-*.toml`): the
//! method, the data's limits, and the trainer's optimiser, schedule and loop settings. The model
//! comes from the command line; its architecture is its own. Unknown keys are errors.

use std::path::Path;

use claude_core::LoraSettings;
use claude_trainer::{LoopConfig, OptimConfig, Schedule};
use serde::{Deserialize, Serialize};

use crate::data::Overlong;
use crate::error::{Error, Result};

/// How the model is adapted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Every weight trains (a quantized model's weights are decoded to f32 first).
    Full,
    /// The weights are decoded to f32 and frozen; LoRA adapters train.
    Lora,
    /// The weights stay packed in their GGML blocks, frozen; LoRA adapters train through the
    /// packed products (QLoRA).
    Qlora,
}

/// A fine-tuning run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneConfig {
    /// Full fine-tuning, LoRA or QLoRA.
    pub method: Method,
    /// The adapters' shape (LoRA and QLoRA).
    #[serde(default)]
    pub lora: Option<LoraSettings>,
    /// The most tokens of an example (the context trained).
    pub max_length: usize,
    /// What happens to a longer example: `truncate` (its first `max_length` tokens) or `skip`.
    #[serde(default)]
    pub overlong: Overlong,
    /// The share of the examples held out for validation when no validation file is given
    /// (every `1 / val_fraction`-th example).
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
    /// AdamW settings.
    #[serde(default)]
    pub optim: OptimConfig,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Loop settings.
    pub train: LoopConfig,
}

fn default_val_fraction() -> f64 {
    0.1
}

impl FinetuneConfig {
    /// Reads a TOML config file; the error names the file, the line and the key.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let config: FinetuneConfig = toml::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        config.validate().map_err(|message| Error::Config {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(config)
    }

    /// Checks what TOML's types cannot.
    pub fn validate(&self) -> std::result::Result<(), String> {
        match (self.method, &self.lora) {
            (Method::Lora | Method::Qlora, None) => {
                return Err(format!("method {:?} needs a [lora] table", self.method));
            }
            (Method::Full, Some(_)) => {
                return Err("[lora] is given but method is \"full\"".into());
            }
            _ => {}
        }
        if self.max_length < 2 {
            return Err("max_length must be at least 2".into());
        }
        if !(0.0..1.0).contains(&self.val_fraction) {
            return Err(format!(
                "val_fraction {} is not in [0, 1)",
                self.val_fraction
            ));
        }
        Ok(())
    }
}
