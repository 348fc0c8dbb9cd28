//! Why an index cannot be built, opened, changed or searched; each names the file at fault.

use std::path::{Path, PathBuf};

use crate::dense::IndexError;
use crate::text_embedder::EmbedderIdentity;

/// An index operation that failed. A failed change leaves the index as it was.
#[derive(Debug, thiserror::Error)]
pub enum DocumentIndexError {
    /// A file could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// A file is damaged, foreign, or of another version.
    #[error("{path}: {message}")]
    Invalid {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The index's vectors were made by another model.
    #[error(
        "the index was built with embedder {built}, not {given}; query it with that model, or build a new index"
    )]
    OtherEmbedder {
        /// The model named in the manifest.
        built: EmbedderIdentity,
        /// The model given.
        given: EmbedderIdentity,
    },
    /// `index remove` of a source the index does not hold.
    #[error("the index holds no document {0} (nor any under it)")]
    NoSuchSource(String),
    /// The vector or BM25 index failed.
    #[error(transparent)]
    Search(#[from] IndexError),
}

impl DocumentIndexError {
    pub(crate) fn io(path: &Path, cause: std::io::Error) -> Self {
        DocumentIndexError::Io {
            path: path.to_path_buf(),
            cause,
        }
    }

    pub(crate) fn invalid(path: &Path, message: impl Into<String>) -> Self {
        DocumentIndexError::Invalid {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}
