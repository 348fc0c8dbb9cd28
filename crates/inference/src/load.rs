//! Building a [`Generator`] from files on disk: a model file and its tokenizer. The one loader
//! that the CLI's `generate` and `serve`, the examples and the benchmarks share.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use claude_core::{Gpt, ModelFileError, ModelFormat, model_file};
use claude_tokenizer::Tokenizer;

use crate::generate::Generator;
use crate::server::ChatTemplate;

/// Why a generator could not be built from files.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The model file is missing or unreadable.
    #[error(transparent)]
    Model(#[from] ModelFileError),
    /// The tokenizer directory is missing or unreadable.
    #[error("tokenizer {dir}: {source}")]
    Tokenizer {
        /// The tokenizer directory.
        dir: PathBuf,
        /// The cause.
        source: claude_tokenizer::Error,
    },
    /// The model file's chat template does not compile.
    #[error("{file}: tokenizer.chat_template: {message}")]
    ChatTemplate {
        /// The model file.
        file: PathBuf,
        /// What is wrong with the template.
        message: String,
    },
    /// No tokenizer was named and none sits in the run directory above the model.
    #[error(
        "no tokenizer/ directory above {0}; name the tokenizer directory explicitly (training \
         writes it to <run>/tokenizer)"
    )]
    NoTokenizer(PathBuf),
}

/// The run directory's tokenizer for a model at `<run>/checkpoints/<name>[/model.safetensors]`:
/// the nearest `tokenizer/` directory above it.
pub fn find_tokenizer(model: &Path) -> Result<PathBuf, LoadError> {
    model
        .ancestors()
        .skip(1)
        .map(|dir| dir.join("tokenizer"))
        .find(|candidate| candidate.is_dir())
        .ok_or_else(|| LoadError::NoTokenizer(model.to_path_buf()))
}

impl Generator {
    /// The model of `model` (any model file [`Gpt::load`] reads, or a checkpoint directory) on
    /// `device`, with the tokenizer in `tokenizer`; else a GGUF file's own, or the run's
    /// `tokenizer/` directory above the model ([`find_tokenizer`]: our checkpoints, and GGUF
    /// files we exported without one).
    pub fn load(
        model: &Path,
        tokenizer: Option<&Path>,
        device: &Device,
    ) -> Result<Self, LoadError> {
        let gpt = Gpt::load(model, device)?;
        let (dir, tokenizer) = match tokenizer {
            Some(dir) => (dir.to_path_buf(), Tokenizer::load(dir)),
            None if gguf_with_tokenizer(model)? => {
                let file = model_file(model);
                (file.clone(), Tokenizer::from_gguf(&file))
            }
            None => {
                let dir = find_tokenizer(model)?;
                (dir.clone(), Tokenizer::load(&dir))
            }
        };
        let tokenizer = tokenizer.map_err(|source| LoadError::Tokenizer { dir, source })?;
        Ok(Generator::new(gpt, tokenizer, device.clone()))
    }
}

/// Whether `model` is a GGUF file with a tokenizer inside (`tokenizer.ggml.model`).
fn gguf_with_tokenizer(model: &Path) -> Result<bool, LoadError> {
    if ModelFormat::of(model)? != ModelFormat::Gguf {
        return Ok(false);
    }
    let file = model_file(model);
    let gguf = claude_gguf::GgufFile::open(&file).map_err(|e| ModelFileError::Invalid {
        path: file.clone(),
        message: e.to_string(),
    })?;
    Ok(gguf.metadata().contains(claude_tokenizer::gguf::MODEL_KEY))
}

/// The chat template a GGUF model file ships (`tokenizer.chat_template`), with its tokenizer's
/// BOS and EOS texts; `None` for other model files and GGUF files without one.
pub fn model_chat_template(
    model: &Path,
    tokenizer: &Tokenizer,
) -> Result<Option<ChatTemplate>, LoadError> {
    let Tokenizer::Gguf(gguf) = tokenizer else {
        return Ok(None);
    };
    if ModelFormat::of(model)? != ModelFormat::Gguf {
        return Ok(None);
    }
    let file = model_file(model);
    let invalid = |message: String| LoadError::ChatTemplate {
        file: file.clone(),
        message,
    };
    let gguf_file = claude_gguf::GgufFile::open(&file).map_err(|e| invalid(e.to_string()))?;
    let Some(source) = gguf_file
        .metadata()
        .opt_str("tokenizer.chat_template")
        .map_err(|e| invalid(e.to_string()))?
    else {
        return Ok(None);
    };
    let ids = gguf.special_ids();
    let text = |id: Option<u32>| id.and_then(|id| gguf.token_text(id)).unwrap_or("");
    ChatTemplate::jinja(source, text(ids.bos), text(ids.eos))
        .map(Some)
        .map_err(invalid)
}
