//! Errors of loading a tokenizer from GGUF metadata and of decoding with it.

use std::path::PathBuf;

/// Result type of the GGUF tokenizer.
pub type GgufResult<T> = std::result::Result<T, GgufError>;

/// Everything that can go wrong while building a tokenizer from a GGUF file or decoding ids.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The file could not be read, or a `tokenizer.ggml.*` key is missing or of the wrong type
    /// (the error names the file and key).
    #[error(transparent)]
    File(#[from] claude_gguf::Error),
    /// A `tokenizer.ggml.*` value is present but unusable.
    #[error("{path}: {key}: {message}")]
    Vocab {
        /// The GGUF file.
        path: PathBuf,
        /// The metadata key at fault.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// `tokenizer.ggml.model` names a tokenizer this crate does not build.
    #[error(
        "{path}: tokenizer.ggml.model {model:?} is not supported (supported: \"gpt2\" byte-level BPE, \"llama\" SentencePiece BPE)"
    )]
    UnsupportedModel {
        /// The GGUF file.
        path: PathBuf,
        /// The model name found.
        model: String,
    },
    /// `tokenizer.ggml.pre` names a pre-tokenizer this crate does not implement.
    #[error("{path}: tokenizer.ggml.pre {pre:?} is not supported (supported: {supported})")]
    UnsupportedPre {
        /// The GGUF file.
        path: PathBuf,
        /// The pre-tokenizer name found.
        pre: String,
        /// The names that are supported.
        supported: String,
    },
    /// A Hugging Face `tokenizer.json` (or `tokenizer_config.json`) that is not JSON, lacks a
    /// field, or describes a tokenizer this crate does not build.
    #[error("{path}: {field}: {message}")]
    HfTokenizer {
        /// The JSON file.
        path: PathBuf,
        /// The field at fault (`model.type`, `pre_tokenizer`...), or `(file)`.
        field: String,
        /// What is wrong, or what is supported instead.
        message: String,
    },
    /// An error of the tokenizer proper (such as an id out of range while decoding).
    #[error(transparent)]
    Tokenizer(#[from] crate::Error),
}
