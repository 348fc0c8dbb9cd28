//! `finetune.json` in every fine-tuning checkpoint: the base model and how it was adapted, so
//! that the checkpoint can be exported or served without repeating the command line.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use claude_core::{Gpt, LoraSettings, MODEL_FILE};
use serde::{Deserialize, Serialize};

use crate::config::Method;
use crate::error::{Error, Result};

/// The checkpoint file naming the base model.
pub const ORIGIN_FILE: &str = "finetune.json";
/// The PEFT adapter folder of a LoRA checkpoint.
pub const ADAPTER_DIR: &str = "adapter";
/// The llama.cpp LoRA file of a LoRA checkpoint.
pub const ADAPTER_GGUF: &str = "adapter.gguf";

/// Where a fine-tuned checkpoint came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// The base model's file or folder.
    pub base: PathBuf,
    /// How it was adapted.
    pub method: Method,
    /// The adapters' shape (LoRA, QLoRA).
    pub lora: Option<LoraSettings>,
}

impl Origin {
    /// Writes `finetune.json` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(ORIGIN_FILE);
        let json = serde_json::to_string_pretty(self).expect("the origin serializes");
        std::fs::write(&path, json).map_err(|e| Error::io(&path, e))
    }

    /// Reads `dir`'s `finetune.json`, `None` when there is none (not a fine-tuning checkpoint).
    pub fn of_checkpoint(dir: &Path) -> Result<Option<Origin>> {
        let path = dir.join(ORIGIN_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let origin = serde_json::from_str(&text)
            .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        Ok(Some(origin))
    }

    /// The fine-tuned model of checkpoint `dir` on `device`, as one plain model: the base with
    /// the checkpoint's adapters merged into its weights (a LoRA checkpoint), or the
    /// checkpoint's own model file (full fine-tuning).
    pub fn load_merged(&self, dir: &Path, device: &Device) -> Result<Gpt> {
        if self.method == Method::Full {
            return Ok(Gpt::load(&dir.join(MODEL_FILE), device)?);
        }
        let mut model = Gpt::load(&self.base, device)?;
        model.load_adapter(&dir.join(ADAPTER_DIR), device)?;
        model.merge_lora(device);
        Ok(model)
    }
}
