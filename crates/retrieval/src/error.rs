//! Errors of the retrieval crate; each names the file at fault.

use std::path::{Path, PathBuf};

/// A sentence model that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum EmbedderError {
    /// A file could not be read.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause (in the message, so not also a `source`).
        cause: std::io::Error,
    },
    /// A file is damaged or does not describe a model this crate runs.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The tokenizer could not be loaded.
    #[error("tokenizer: {0}")]
    Tokenizer(#[from] claude_tokenizer::Error),
}

impl EmbedderError {
    pub(crate) fn io(path: &Path, cause: std::io::Error) -> Self {
        EmbedderError::Io {
            path: path.to_path_buf(),
            cause,
        }
    }

    pub(crate) fn invalid(path: &Path, message: impl Into<String>) -> Self {
        EmbedderError::Invalid {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}
