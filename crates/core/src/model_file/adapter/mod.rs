//! LoRA adapter files, read and written without the base model's weights:
//!
//! - Hugging Face PEFT's folder ([`peft`]: `adapter_config.json` and
//!   `adapter_model.safetensors`), which `PeftModel.from_pretrained(base, dir)` loads onto the
//!   Hugging Face model of the same weights ([`Gpt::save_adapter_peft`]);
//! - llama.cpp's GGUF LoRA file ([`gguf`]), which `llama-cli --lora FILE` loads onto the GGUF
//!   model of the same weights that [`Gpt::save_gguf`] writes ([`Gpt::save_adapter_gguf`]).
//!
//! [`Gpt::load_adapter`] reads either back onto a model (see [`crate::lora`] for what an
//! adapter computes). Both formats store `A` as `[r, in]` and `B` as `[out, r]`, with the query
//! and key rows of `B` in the order the format's base model stores its own ([`pairs`]), and one
//! `alpha` for all: adapters of several scales are written with their `B` rescaled so that every
//! product stays as it was.

mod gguf;
mod pairs;
mod peft;
mod peft_config;

use std::path::Path;

use burn::prelude::*;

pub use peft::{PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE};

use crate::model_file::{ModelFileError, UnsupportedModelFile};
use crate::transformer::Gpt;

/// What PEFT's `adapter_config.json` records beside the adapters themselves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdapterInfo {
    /// `base_model_name_or_path`: the Hugging Face model the adapters were trained on (a hub id
    /// or a folder; may be empty).
    pub base_model_name_or_path: String,
    /// `lora_dropout`: the dropout they were trained with (PEFT applies none in inference).
    pub lora_dropout: f64,
}

/// The adapter file formats [`Gpt::load_adapter`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterFormat {
    /// A Hugging Face PEFT folder.
    Peft,
    /// A llama.cpp GGUF LoRA file.
    Gguf,
}

impl AdapterFormat {
    /// The format at `path`: a folder holding [`PEFT_CONFIG_FILE`] or [`PEFT_WEIGHTS_FILE`] is
    /// PEFT's; a file starting with `GGUF` is llama.cpp's.
    pub fn of(path: &Path) -> Result<AdapterFormat, ModelFileError> {
        if path.is_dir() {
            let peft = [PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE];
            if peft.iter().any(|name| path.join(name).exists()) {
                return Ok(AdapterFormat::Peft);
            }
        } else {
            let mut head = [0u8; 4];
            let mut file = std::fs::File::open(path).map_err(|e| ModelFileError::io(path, e))?;
            let read = std::io::Read::read(&mut file, &mut head)
                .map_err(|e| ModelFileError::io(path, e))?;
            if head[..read] == *b"GGUF" {
                return Ok(AdapterFormat::Gguf);
            }
        }
        Err(ModelFileError::unsupported(
            path,
            UnsupportedModelFile::AdapterFormat,
        ))
    }
}

impl Gpt {
    /// Writes the attached adapters as a Hugging Face PEFT folder `dir` (`adapter_config.json`
    /// and `adapter_model.safetensors`, f32), for the Hugging Face model of the same weights.
    /// A `dir` that holds nothing else is replaced whole, atomically; one that holds other files
    /// keeps them, and gets each of the two files atomically.
    ///
    /// # Errors
    /// [`ModelFileError::Unsupported`] when the model has no adapters, or adapters of several
    /// ranks (the config holds one `r`).
    pub fn save_adapter_peft(&self, dir: &Path, info: &AdapterInfo) -> Result<(), ModelFileError> {
        peft::save(self, dir, info)
    }

    /// Writes the attached adapters as a llama.cpp LoRA file at `path` (f32, atomically), for
    /// the GGUF model [`Gpt::save_gguf`] writes of the same weights, with `metadata` (such as
    /// `general.name`) beside its own; returns the architecture named (as `save_gguf`'s).
    ///
    /// # Errors
    /// [`ModelFileError::Unsupported`] when the model has no adapters, no llama.cpp
    /// architecture computes it, or an adapter sits on a module the architecture fuses with
    /// others (`gpt2`'s query, key and value).
    pub fn save_adapter_gguf(
        &self,
        path: &Path,
        metadata: Vec<(String, claude_gguf::Value)>,
    ) -> Result<&'static str, ModelFileError> {
        gguf::save(self, path, metadata)
    }

    /// Attaches the adapters of the file at `path` (a PEFT folder or a llama.cpp GGUF LoRA
    /// file, see [`AdapterFormat::of`]) on `device`, replacing any attached to the same modules;
    /// returns the format read and how many adapters it held. On an error the model is left as
    /// it was.
    ///
    /// # Errors
    /// Each names the file and what is wrong: a setting whose computation is not LoRA's plain
    /// `scale · x A B` (PEFT's `use_rslora`, `fan_in_fan_out`, DoRA, `modules_to_save`...), an
    /// adapter made for another architecture, a tensor name or shape that does not fit the
    /// model.
    pub fn load_adapter(
        &mut self,
        path: &Path,
        device: &Device,
    ) -> Result<(AdapterFormat, usize), ModelFileError> {
        let format = AdapterFormat::of(path)?;
        let count = match format {
            AdapterFormat::Peft => peft::load(self, path, device)?,
            AdapterFormat::Gguf => gguf::load(self, path, device)?,
        };
        Ok((format, count))
    }
}
