//! Errors of the GGUF crate. Every variant names the file and, where there is one, the key, the
//! tensor and the byte offset at fault.

use std::path::PathBuf;

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong while reading or writing a GGUF file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened, mapped, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file does not start with the bytes `GGUF`.
    #[error("{path}: not a GGUF file (it starts with {found:02x?}, expected the magic \"GGUF\")")]
    BadMagic {
        /// The file at fault.
        path: PathBuf,
        /// The first four bytes found.
        found: [u8; 4],
    },
    /// The header names a GGUF version this reader does not read.
    #[error(
        "{path}: GGUF version {version} is not supported (this reader reads versions 2 and 3){hint}"
    )]
    UnsupportedVersion {
        /// The file at fault.
        path: PathBuf,
        /// The version found.
        version: u32,
        /// Extra explanation (such as a big-endian file), empty when there is none.
        hint: &'static str,
    },
    /// The file ends before something it announces.
    #[error(
        "{path}: truncated: {what} at byte offset {offset} needs {needed} bytes, but only {available} remain (file size {file_size})"
    )]
    Truncated {
        /// The file at fault.
        path: PathBuf,
        /// What was being read, e.g. `string length of metadata key "general.name"`.
        what: String,
        /// Byte offset where it starts.
        offset: u64,
        /// Bytes it needs.
        needed: u64,
        /// Bytes left in the file from `offset`.
        available: u64,
        /// Size of the file.
        file_size: u64,
    },
    /// A field holds a value that cannot be right (a bad type id, an absurd count, bad UTF-8...).
    #[error("{path}: {what} at byte offset {offset}: {message}")]
    Malformed {
        /// The file at fault.
        path: PathBuf,
        /// The field, e.g. `value type of metadata key "general.name"`.
        what: String,
        /// Byte offset of the field.
        offset: u64,
        /// What is wrong with it.
        message: String,
    },
    /// A tensor's description or data does not fit the file.
    #[error("{path}: tensor {name:?}: {message}")]
    BadTensor {
        /// The file at fault.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A metadata key the caller asked for is absent.
    #[error("{path}: metadata key {key:?} is missing")]
    MissingKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// A metadata key holds a value of another type than the caller asked for.
    #[error("{path}: metadata key {key:?} holds {found}, expected {expected}")]
    WrongType {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// The type asked for, e.g. `u32` or `array of string`.
        expected: &'static str,
        /// The type found.
        found: String,
    },
    /// A metadata value is of the right type but unusable (e.g. an alignment that is not a power
    /// of two).
    #[error("{path}: metadata key {key:?}: {message}")]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A tensor the caller asked for is absent.
    #[error("{path}: no tensor named {name:?}")]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor name.
        name: String,
    },
    /// What a writer was given cannot be written as GGUF.
    #[error("{path}: cannot write GGUF: {message}")]
    BadWrite {
        /// The target file.
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

    /// Prefixes the description of the field at fault with `context` (e.g. the metadata key
    /// being read), for truncation and malformed-field errors: contexts added later are outer,
    /// so they come first (`metadata key "x", array element 5, string length`).
    pub(crate) fn in_context(mut self, context: &str) -> Self {
        if let Error::Truncated { what, .. } | Error::Malformed { what, .. } = &mut self {
            *what = format!("{context}, {what}");
        }
        self
    }
}
