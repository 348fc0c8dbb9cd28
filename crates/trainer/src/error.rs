//! Errors of the trainer. Each names the file, step or setting at fault.

use std::path::PathBuf;

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What can stop a training run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A config file is invalid.
    #[error("{path}: {cause}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong (in the message, so not also a `source`).
        cause: crate::config::RunConfigError,
    },
    /// The model configuration is impossible.
    #[error(transparent)]
    Model(#[from] claude_core::ConfigError),
    /// A model file could not be written or read.
    #[error(transparent)]
    ModelFile(#[from] claude_core::ModelFileError),
    /// Tokenizer or token data problem.
    #[error(transparent)]
    Data(#[from] claude_tokenizer::Error),
    /// The device string is unusable.
    #[error(transparent)]
    Device(#[from] claude_tensors::DeviceError),
    /// The config's text file does not exist.
    #[error("no training data: data.text {0} does not exist")]
    NoData(PathBuf),
    /// No corpus was named, and the default one is neither on disk nor downloadable.
    #[error(
        "no training data: the config names none, and the default corpus could not be downloaded \
         from {url} ({reason}); download it to {destination}, point CLAUDE_RUST_DATA at the shared \
         data, or set data.text or data.dir in the config"
    )]
    Download {
        /// The address tried.
        url: String,
        /// Why it failed.
        reason: String,
        /// Where the file belongs.
        destination: PathBuf,
    },
    /// A run setting does not fit the data or model.
    #[error("{0}")]
    Invalid(String),
    /// A checkpoint is missing, truncated or corrupt.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint file or directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The process group of a multi-process run could not form or lost a rank.
    #[error("distributed training: {0}")]
    Distributed(String),
    /// The loss became NaN or infinite.
    #[error("loss is {loss} at step {step}; the last good checkpoint is {last_checkpoint}")]
    NonFiniteLoss {
        /// The step.
        step: usize,
        /// The loss value.
        loss: f32,
        /// The newest checkpoint written before it, or "none".
        last_checkpoint: String,
    },
}

impl Error {
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A checkpoint problem.
    pub fn checkpoint(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Checkpoint {
            path: path.into(),
            message: message.into(),
        }
    }
}
