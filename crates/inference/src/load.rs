//! Building a [`Generator`] from files on disk: a model file and its tokenizer. The one loader
//! that the CLI's `generate` and `serve`, the examples and the benchmarks share.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use claude_core::{Gpt, ModelFileError, ModelFormat, model_file};
use claude_tokenizer::Tokenizer;

use crate::generate::Generator;

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
    /// `tokenizer/` directory for our checkpoints ([`find_tokenizer`]).
    pub fn load(
        model: &Path,
        tokenizer: Option<&Path>,
        device: &Device,
    ) -> Result<Self, LoadError> {
        let gpt = Gpt::load(model, device)?;
        let (dir, tokenizer) = match tokenizer {
            Some(dir) => (dir.to_path_buf(), Tokenizer::load(dir)),
            None if ModelFormat::of(model)? == ModelFormat::Gguf => {
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
