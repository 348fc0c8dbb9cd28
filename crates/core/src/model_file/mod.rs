//! Model files, read in one place for training, generation, serving and conversion:
//! [`Gpt::load`] tells the format from the file and reads
//!
//! - our `.safetensors` files ([`safetensors`]: GPT-2-style tensor names, the [`ModelConfig`] in
//!   the header), the only format [`Gpt::save`] writes, float or with packed projections
//!   ([`quantized`]);
//! - GGUF files ([`gguf`]: llama.cpp's format; the `llama`, `gpt2`, `starcoder2`, `qwen2`, `qwen3`, `gemma3` and `phi3`
//!   architectures, every block type `claude-quant` decodes), which [`Gpt::save_gguf`] also
//!   writes;
//! - llama2.c checkpoints ([`llama2c`]: Karpathy's `run.c` format, float32);
//! - Hugging Face model folders ([`hf`]: `config.json` and safetensors weights, as
//!   `save_pretrained` writes them: Llama, Mistral, Qwen2, Qwen3, Gemma 3, Phi-3).
//!
//! LoRA adapters alone are read and written by [`adapter`]: PEFT folders and llama.cpp's GGUF
//! LoRA files ([`Gpt::load_adapter`], [`Gpt::save_adapter_peft`], [`Gpt::save_adapter_gguf`]).
//!
//! [`ModelConfig`]: crate::ModelConfig

mod adapter;
mod error;
pub(crate) mod gguf;
mod hf;
mod llama2c;
mod quantized;
mod safetensors;
pub(crate) mod weights;

use std::io::Read;
use std::path::{Path, PathBuf};

use burn::prelude::*;

use crate::config::{ModelConfig, Positions};
use crate::transformer::Gpt;

pub use adapter::{AdapterFormat, AdapterInfo, PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE};
pub use error::{InvalidModelFile, ModelFileError, UnsupportedModelFile};
pub use hf::{HF_CONFIG_FILE, HfModel};
pub use safetensors::{MODEL_FILE, read_config};

/// The formats [`Gpt::load`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFormat {
    /// Our `.safetensors` model file.
    Safetensors,
    /// A GGUF file (magic `GGUF`).
    Gguf,
    /// A llama2.c checkpoint (`.bin`: seven `i32` sizes, then float32 weights).
    Llama2c,
    /// A Hugging Face model folder (`config.json` beside safetensors weights).
    HfFolder,
}

impl ModelFormat {
    /// The format of the model file at `path` (a file, or a checkpoint directory holding our
    /// `model.safetensors`), from its first bytes, else from its extension (`.safetensors`, and
    /// `.bin` for llama2.c's headerless format); a directory holding `config.json` is a Hugging
    /// Face model folder.
    pub fn of(path: &Path) -> Result<ModelFormat, ModelFileError> {
        if hf::is_folder(path) {
            return Ok(ModelFormat::HfFolder);
        }
        let file = model_file(path);
        let mut head = [0u8; 9];
        let mut reader = std::fs::File::open(&file).map_err(|e| ModelFileError::io(&file, e))?;
        let read = reader
            .read(&mut head)
            .map_err(|e| ModelFileError::io(&file, e))?;
        let head = &head[..read];
        let extension = file.extension().and_then(|e| e.to_str()).unwrap_or("");
        if head.starts_with(b"GGUF") {
            Ok(ModelFormat::Gguf)
        } else if (head.len() == 9 && head[8] == b'{') || extension == "safetensors" {
            // safetensors: a little-endian header length, then the JSON header (a damaged file
            // named .safetensors is reported by the safetensors reader).
            Ok(ModelFormat::Safetensors)
        } else if extension == "bin" {
            Ok(ModelFormat::Llama2c)
        } else {
            Err(ModelFileError::unsupported(
                &file,
                UnsupportedModelFile::Format,
            ))
        }
    }
}

/// The model file of `path`: `path` itself (a file, or a Hugging Face model folder), or
/// `path/model.safetensors` for our checkpoint directory.
pub fn model_file(path: &Path) -> PathBuf {
    if path.is_dir() && !hf::is_folder(path) {
        path.join(MODEL_FILE)
    } else {
        path.to_path_buf()
    }
}

/// Builds a fresh model of `config` on `device` for a loader to fill, its context capped at
/// `context` positions when given (see [`Gpt::from_file_limited`]). The cap is left off for
/// learned positions, whose table the file holds at the model's own length.
fn init_capped(config: &ModelConfig, context: Option<usize>, device: &Device) -> Gpt {
    match context {
        Some(context) if config.positions != Positions::Learned => {
            let mut capped = config.clone();
            capped.context_length = config.context_length.min(context.max(1));
            capped.init(device)
        }
        _ => config.init(device),
    }
}

/// A model file whose format is known, opened once: a GGUF file is mapped and its header parsed
/// here, so the model, its tokenizer and its chat template are all read from one parse.
#[derive(Debug)]
pub enum ModelFile {
    /// Our `.safetensors` model file, at this path.
    Safetensors(PathBuf),
    /// A GGUF file, mapped, with its header parsed.
    Gguf(Box<claude_gguf::GgufFile>),
    /// A llama2.c checkpoint, at this path.
    Llama2c(PathBuf),
    /// A Hugging Face model folder, its config read and its weights mapped.
    HfFolder(Box<HfModel>),
}

impl ModelFile {
    /// Opens the model file at `path` (a file, or a checkpoint directory holding our
    /// `model.safetensors`, or a Hugging Face model folder): tells its [`ModelFormat`] and, for
    /// GGUF, maps and parses it; a folder's config is read and its weights mapped.
    pub fn open(path: &Path) -> Result<ModelFile, ModelFileError> {
        if hf::is_folder(path) {
            return Ok(ModelFile::HfFolder(Box::new(hf::open(path)?)));
        }
        let file = model_file(path);
        Ok(match ModelFormat::of(&file)? {
            ModelFormat::Safetensors => ModelFile::Safetensors(file),
            ModelFormat::Gguf => ModelFile::Gguf(Box::new(gguf::open(&file)?)),
            ModelFormat::Llama2c => ModelFile::Llama2c(file),
            ModelFormat::HfFolder => ModelFile::HfFolder(Box::new(hf::open(path)?)),
        })
    }

    /// The file's format.
    pub fn format(&self) -> ModelFormat {
        match self {
            ModelFile::Safetensors(_) => ModelFormat::Safetensors,
            ModelFile::Gguf(_) => ModelFormat::Gguf,
            ModelFile::Llama2c(_) => ModelFormat::Llama2c,
            ModelFile::HfFolder(_) => ModelFormat::HfFolder,
        }
    }

    /// The file's path (for a checkpoint directory, its `model.safetensors`; for a Hugging Face
    /// folder, the folder).
    pub fn path(&self) -> &Path {
        match self {
            ModelFile::Safetensors(path) | ModelFile::Llama2c(path) => path,
            ModelFile::Gguf(file) => file.path(),
            ModelFile::HfFolder(folder) => folder.dir(),
        }
    }

    /// The opened Hugging Face folder, for one.
    pub fn hf_folder(&self) -> Option<&HfModel> {
        match self {
            ModelFile::HfFolder(folder) => Some(folder.as_ref()),
            _ => None,
        }
    }

    /// The parsed GGUF file, for a GGUF model file.
    pub fn gguf(&self) -> Option<&claude_gguf::GgufFile> {
        match self {
            ModelFile::Gguf(file) => Some(file.as_ref()),
            _ => None,
        }
    }
}

impl Gpt {
    /// Loads a model from a model file of any [`ModelFormat`], or a checkpoint directory
    /// holding our `model.safetensors` (opens it with [`ModelFile::open`], then
    /// [`Gpt::from_file`]).
    pub fn load(path: &Path, device: &Device) -> Result<Gpt, ModelFileError> {
        Gpt::from_file(&ModelFile::open(path)?, device)
    }

    /// Builds the model that the opened model file `file` holds, at its own context length.
    pub fn from_file(file: &ModelFile, device: &Device) -> Result<Gpt, ModelFileError> {
        Gpt::from_file_limited(file, device, None)
    }

    /// Builds the model that the opened model file `file` holds, its context capped at
    /// `context` positions when given (as [`Gpt::limit_context`]: at least 1, at most the
    /// model's own). The cap applies from the start: the rotary and sinusoidal tables are built
    /// for the capped length only (32,768 positions of a 256-wide head's rotary table are
    /// 64 MiB), not built whole and capped afterwards. Learned position tables are read whole
    /// (they are weights of the file) and the context capped after.
    pub fn from_file_limited(
        file: &ModelFile,
        device: &Device,
        context: Option<usize>,
    ) -> Result<Gpt, ModelFileError> {
        let mut model = match file {
            ModelFile::Safetensors(path) => safetensors::load(path, device, context),
            ModelFile::Gguf(gguf) => gguf::load(gguf, device, context),
            ModelFile::Llama2c(path) => llama2c::load(path, device, context),
            ModelFile::HfFolder(folder) => hf::load(folder, device, context),
        }?;
        if let Some(context) = context {
            model.limit_context(context);
        }
        Ok(model)
    }

    /// Writes the model to `path` as our `.safetensors` model file, with its config in the
    /// header. The file is written beside `path` under a temporary name and renamed into place,
    /// so `path` is never half-written.
    pub fn save(&self, path: &Path) -> Result<(), ModelFileError> {
        safetensors::save(self, path)
    }

    /// Writes the model to `path` as a GGUF file llama.cpp runs, with `metadata` (such as a
    /// tokenizer's `tokenizer.ggml.*` and `general.name`) beside the architecture's own; returns
    /// the architecture written (`llama`, `gpt2` or `starcoder2`, whichever computes what the
    /// config does). Float weights are written as F32, packed ones in their GGML blocks; the file
    /// is written under a temporary name and renamed into place.
    ///
    /// # Errors
    /// [`ModelFileError::Unsupported`] when no llama.cpp architecture computes the config (such
    /// as sinusoidal positions) or a weight has no GGML type (int8 rows).
    pub fn save_gguf(
        &self,
        path: &Path,
        metadata: Vec<(String, claude_gguf::Value)>,
    ) -> Result<&'static str, ModelFileError> {
        gguf::save(self, path, metadata)
    }
}
