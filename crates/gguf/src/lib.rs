//! GGUF files, the format llama.cpp stores models and vocabularies in: a reader and a small
//! writer, versions 2 and 3, little-endian.
//!
//! A file is a header (magic `GGUF`, version, tensor count, metadata count), metadata key/value
//! pairs (integers, floats, bools, strings and arrays of them, arrays of arrays too), a tensor
//! index (name, shape, ggml type id, offset) and the tensor data, each tensor aligned to
//! `general.alignment` (default 32) bytes from the start of the data section.
//!
//! - [`GgufFile::open`] memory-maps a file, parses and checks its header and hands out each
//!   tensor's data as a borrowed `&[u8]` of the mapping (no copy). Corrupt or truncated files are
//!   errors naming the file, the field and its offset; counts and lengths are checked against the
//!   file's size before anything is allocated for them.
//! - [`Metadata`] has typed accessors (`get_u32`, `get_str`, `get_str_array`, ...) whose errors
//!   name the key and the file.
//! - [`GgufWriter`] writes metadata and tensors, aligned, atomically.
//!
//! The ggml tensor type is kept as its raw `u32` id; [`type_layout`] knows the block sizes of
//! the standard types, enough to delimit each tensor's bytes.
//!
//! ```no_run
//! let file = claude_gguf::GgufFile::open("model.gguf")?;
//! let arch = file.metadata().get_str("general.architecture")?;
//! for tensor in file.tensors() {
//!     let bytes: &[u8] = file.data_of(tensor)?;
//!     println!("{arch} {} {:?} {} ({} bytes)", tensor.name, tensor.dims, tensor.type_name(), bytes.len());
//! }
//! # Ok::<(), claude_gguf::Error>(())
//! ```

mod cursor;
mod error;
mod file;
mod metadata;
mod parse;
mod tensor;
mod value;
mod writer;

pub use error::{Error, Result};
pub use file::GgufFile;
pub use metadata::Metadata;
pub use parse::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, Header, MAGIC, MAX_ARRAY_DEPTH};
pub use tensor::{MAX_DIMS, TensorInfo, TypeLayout, type_layout};
pub use value::{Array, Value, ValueType};
pub use writer::{GgufWriter, WRITE_VERSION};
