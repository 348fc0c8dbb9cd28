//! What can stop a fine-tuning run.

use std::path::{Path, PathBuf};

use crate::data::DataError;

/// A fine-tuning error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The config file is not a fine-tuning config.
    #[error("{}: {message}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong (the TOML parser names the line and key).
        message: String,
    },
    /// The data could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The model could not be opened.
    #[error(transparent)]
    Load(#[from] claude_inference::LoadError),
    /// A model or adapter file.
    #[error(transparent)]
    ModelFile(#[from] claude_core::ModelFileError),
    /// The adapters do not fit the model.
    #[error(transparent)]
    Lora(#[from] claude_core::LoraError),
    /// The training loop.
    #[error(transparent)]
    Train(#[from] claude_trainer::Error),
    /// Something else, said in words.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A fine-tuning result.
pub type Result<T> = std::result::Result<T, Error>;
