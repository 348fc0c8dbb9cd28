//! Errors of the quant crate. Every variant names the format and the lengths at fault.

use crate::GgmlType;

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong while decoding, encoding or multiplying quantized data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A GGML type id that ggml.h defines but this crate does not decode.
    #[error(
        "GGML type {name} (id {id}) is not supported; supported types: F32, F16, BF16, Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K"
    )]
    UnsupportedType {
        /// The type id as stored in a GGUF file.
        id: u32,
        /// Its name in ggml.h.
        name: &'static str,
    },
    /// A type id that ggml.h does not define (or no longer defines under any name we know).
    #[error("unknown GGML type id {id}")]
    UnknownType {
        /// The type id as stored in a GGUF file.
        id: u32,
    },
    /// A type name that is not one of ggml.h's type names.
    #[error("unknown GGML type name {0:?}")]
    UnknownTypeName(String),
    /// Encoded data that is not a whole number of blocks.
    #[error("{ty} data is {len} bytes, not a whole number of {block_bytes}-byte blocks")]
    ByteLength {
        /// The format.
        ty: GgmlType,
        /// Length of the data in bytes.
        len: usize,
        /// Bytes per block of the format.
        block_bytes: usize,
    },
    /// A row of values that is not a whole number of blocks.
    #[error("{ty} row has {len} values, not a multiple of the block size {block_size}")]
    RowLength {
        /// The format.
        ty: GgmlType,
        /// Number of values in the row.
        len: usize,
        /// Values per block of the format.
        block_size: usize,
    },
    /// A buffer whose length does not fit the data it goes with.
    #[error("{what}: expected {expected}, got {got}")]
    BufferLength {
        /// Which buffer, and in which unit its length is counted.
        what: &'static str,
        /// The length the data calls for.
        expected: usize,
        /// The length of the buffer given.
        got: usize,
    },
    /// A format this crate decodes but cannot (yet) encode.
    #[error("quantizing to {0} is not implemented: it is decode-only (see GgmlType::can_quantize)")]
    QuantizeUnsupported(GgmlType),
    /// An int8 matrix whose parts disagree about its shape.
    #[error("int8 matrix of {rows} x {cols}: {what}")]
    Shape {
        /// Rows of the matrix.
        rows: usize,
        /// Columns of the matrix.
        cols: usize,
        /// What does not fit.
        what: String,
    },
}
