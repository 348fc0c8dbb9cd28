//! Errors of the tokenizer crate. Every variant names the file, line, offset or field at fault.

use std::path::PathBuf;

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong while training, loading, encoding, decoding or preparing data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A corpus holds bytes that are not valid UTF-8 (and the policy is to fail).
    #[error(
        "{path}: invalid UTF-8 at byte offset {offset} (choose the replace or skip UTF-8 policy to continue)"
    )]
    InvalidUtf8 {
        /// The corpus file.
        path: PathBuf,
        /// Byte offset of the first invalid byte in the file.
        offset: u64,
    },
    /// A tokenizer file is malformed.
    #[error("{path}:{line}: {message}")]
    BadFile {
        /// The file at fault.
        path: PathBuf,
        /// 1-based line number (0 when the whole file is at fault).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A JSON file could not be parsed.
    #[error("{path}: {source}")]
    Json {
        /// The file at fault.
        path: PathBuf,
        /// The parser's error (it carries line and column).
        source: serde_json::Error,
    },
    /// A directory holds neither our tokenizer files nor GPT-2's.
    #[error(
        "{0}: no tokenizer found (expected vocab.json + merges.txt, GPT-2's encoder.json + vocab.bpe, or tokenizer.json)"
    )]
    NoTokenizer(PathBuf),
    /// The requested vocabulary size cannot hold the base alphabet.
    #[error(
        "vocab size {requested} is too small: it must be at least {minimum} (256 bytes + {specials} special tokens)"
    )]
    VocabTooSmall {
        /// Requested vocabulary size.
        requested: usize,
        /// Smallest acceptable size.
        minimum: usize,
        /// Number of special tokens.
        specials: usize,
    },
    /// A tokenizer inside a GGUF file could not be read or used.
    #[error(transparent)]
    Gguf(Box<crate::gguf::GgufError>),
    /// A training or configuration argument is invalid.
    #[error("invalid {field}: {message}")]
    InvalidArgument {
        /// The argument or field at fault.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A token id is not in the vocabulary.
    #[error("token id {id} at position {position} is out of range (vocab size {vocab_size})")]
    IdOutOfRange {
        /// The offending id.
        id: u32,
        /// Its index in the input sequence.
        position: usize,
        /// Vocabulary size.
        vocab_size: usize,
    },
    /// A character-level tokenizer met a character that is not in its vocabulary.
    #[error("character {ch:?} at byte offset {offset} is not in the character vocabulary")]
    UnknownChar {
        /// The character.
        ch: char,
        /// Its byte offset in the text.
        offset: usize,
    },
    /// A corpus holds a character outside a character-level tokenizer's alphabet.
    #[error("{path}: character {ch:?} is not in the tokenizer's alphabet")]
    UnknownCharIn {
        /// The corpus file.
        path: PathBuf,
        /// The character.
        ch: char,
    },
    /// A token file (`.bin`) disagrees with its sidecar or its expected tokenizer.
    #[error("{path}: {message}")]
    BadTokenFile {
        /// The `.bin` or sidecar file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A malformed line in a tokenizer file.
    pub fn bad_file(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        Error::BadFile {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}

impl From<crate::gguf::GgufError> for Error {
    fn from(error: crate::gguf::GgufError) -> Self {
        Error::Gguf(Box::new(error))
    }
}
