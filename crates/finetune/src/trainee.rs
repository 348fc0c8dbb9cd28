//! The pretrained model as the trainer's [`Trainee`]: decoded and trained whole, or frozen with
//! LoRA adapters on a float (LoRA) or packed (QLoRA) base; and what its checkpoints share.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use burn::module::Module;
use burn::prelude::*;
use claude_core::{AdapterInfo, Gpt, LoraSettings, MODEL_FILE, ModelConfig, PackedArithmetic};
use claude_trainer::Trainee;

use crate::config::Method;
use crate::origin::{ADAPTER_DIR, ADAPTER_GGUF, Origin};

/// A pretrained model, adapted as its [`Method`] says.
pub struct Pretrained {
    /// The model as loaded (on the CPU, without autodiff), until the run takes it.
    loaded: Mutex<Option<Gpt>>,
    /// Where it came from and how it is adapted, written into every checkpoint.
    origin: Origin,
}

impl Pretrained {
    /// `model`, loaded from `base`, to adapt with `method` (and `lora`'s adapters).
    pub fn new(model: Gpt, base: PathBuf, method: Method, lora: Option<LoraSettings>) -> Self {
        Pretrained {
            loaded: Mutex::new(Some(model)),
            origin: Origin { base, method, lora },
        }
    }
}

impl Trainee for Pretrained {
    fn build(&self, _: &ModelConfig, device: &Device) -> claude_trainer::Result<Gpt> {
        let model = self
            .loaded
            .lock()
            .expect("the loaded model's lock")
            .take()
            .ok_or_else(|| claude_trainer::Error::Invalid("the model was already built".into()))?;
        let mut model = model.fork(device);
        let lora = |model: Gpt| {
            let settings =
                (self.origin.lora.as_ref()).expect("LoRA methods have settings (validated)");
            model
                .with_lora(settings, device)
                .map_err(|e| claude_trainer::Error::Invalid(e.to_string()))
        };
        Ok(match self.origin.method {
            Method::Full => {
                model.dequantize(device);
                model
            }
            Method::Lora => {
                model.dequantize(device);
                lora(model)?
            }
            Method::Qlora => {
                // The gradient flows through the exactly decoded weights: the forward pass
                // multiplies them too (not llama.cpp's 8-bit activations).
                model.set_packed_arithmetic(PackedArithmetic::Exact);
                lora(model)?
            }
        })
    }

    fn write_files(&self, model: &Gpt, dir: &Path) -> claude_trainer::Result<()> {
        if model.has_adapters() {
            let info = AdapterInfo {
                base_model_name_or_path: self.origin.base.display().to_string(),
                lora_dropout: self.origin.lora.as_ref().map_or(0.0, |lora| lora.dropout),
            };
            model.save_adapter_peft(&dir.join(ADAPTER_DIR), &info)?;
            model.save_adapter_gguf(&dir.join(ADAPTER_GGUF), Vec::new())?;
        } else {
            model.save(&dir.join(MODEL_FILE))?;
        }
        self.origin
            .save(dir)
            .map_err(|e| claude_trainer::Error::Invalid(e.to_string()))
    }
}
