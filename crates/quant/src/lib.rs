//! GGML's quantized block formats in pure Rust, bit-exact with GGML's reference code.
//!
//! A GGUF tensor is a sequence of blocks; each block packs [`GgmlType::block_size`] values into
//! [`GgmlType::block_bytes`] bytes. This crate decodes every format in the table
//! ([`dequantize`]), encodes the ones GGML's reference quantizers cover ([`quantize`]), and dots
//! a packed row with an f32 vector without decoding it to memory ([`vec_dot_f32`]). Results match
//! GGML's `dequantize_row_*` and `quantize_row_*_ref` bit for bit, as reproduced by the `gguf`
//! Python package (`gguf.quants`); the tests check this against vectors that package wrote, and
//! the k-quant encoders, which `gguf` lacks, against vectors GGML's own C wrote.
//!
//! | type | id | values / block | bytes / block | bits / value | layout (little-endian) | value |
//! |---|---|---|---|---|---|---|
//! | F32  | 0  | 1   | 4   | 32   | `f32` | itself |
//! | F16  | 1  | 1   | 2   | 16   | `f16` | itself |
//! | BF16 | 30 | 1   | 2   | 16   | upper half of an `f32` | itself |
//! | Q8_0 | 8  | 32  | 34  | 8.5  | `d: f16, qs: [i8; 32]` | `q * d` |
//! | Q4_0 | 2  | 32  | 18  | 4.5  | `d: f16, qs: [u8; 16]` (value `j` low nibble, `j + 16` high) | `(q - 8) * d` |
//! | Q4_1 | 3  | 32  | 20  | 5    | `d: f16, m: f16, qs: [u8; 16]` | `q * d + m` |
//! | Q5_0 | 6  | 32  | 22  | 5.5  | `d: f16, qh: u32, qs: [u8; 16]` (bit `i` of `qh`: bit 4 of value `i`) | `(q - 16) * d` |
//! | Q5_1 | 7  | 32  | 24  | 6    | `d: f16, m: f16, qh: u32, qs: [u8; 16]` | `q * d + m` |
//! | IQ4_NL | 20 | 32 | 18 | 4.5  | `d: f16, qs: [u8; 16]` (as Q4_0) | `d * KVALUES[q]` |
//! | Q2_K | 10 | 256 | 84  | 2.625 | `scales: [u8; 16], qs: [u8; 64], d, dmin: f16` | `d * sc * q - dmin * mn` |
//! | Q3_K | 11 | 256 | 110 | 3.4375 | `hmask: [u8; 32], qs: [u8; 64], scales: [u8; 12], d: f16` | `d * (sc - 32) * q` |
//! | Q4_K | 12 | 256 | 144 | 4.5  | `d, dmin: f16, scales: [u8; 12], qs: [u8; 128]` | `d * sc * q - dmin * mn` |
//! | Q5_K | 13 | 256 | 176 | 5.5  | `d, dmin: f16, scales: [u8; 12], qh: [u8; 32], qs: [u8; 128]` | `d * sc * q - dmin * mn` |
//! | Q6_K | 14 | 256 | 210 | 6.5625 | `ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16` | `d * sc * (q - 32)` |
//! | IQ4_XS | 23 | 256 | 136 | 4.25 | `d: f16, scales_h: u16, scales_l: [u8; 4], qs: [u8; 128]` | `d * (ls - 32) * KVALUES[q]` |
//!
//! The modules [`q8_0`], [`q4`], [`q5`], [`k_quants`], [`k_quants_low`] and [`iq4`] document
//! each layout in full. Quantization is implemented for F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0
//! and Q5_1 (the formats GGML has simple reference quantizers for) and for Q4_K, Q5_K and Q6_K
//! ([`k_quantize`]: GGML's scale searches); Q2_K, Q3_K and the IQ formats decode only. Other
//! GGML types (Q8_1, the other IQ formats, ...) are named by [`GgmlType::from_id`]'s error and
//! not decoded.
//!
//! Round-trip error of `dequantize(quantize(w))`, per value, with `amax` the block's largest
//! magnitude and `e(v) = max(2^-11 abs(v), 2^-25)` the error of storing `v` as f16 (tested):
//!
//! | type | error bound |
//! |---|---|
//! | Q8_0 | `d / 2 + 127 e(d)` with `d = amax / 127` |
//! | Q4_0 | `d + 8 e(d)` with `d = amax / 8` (a value near `-max` clips to code 15, a full step off) |
//! | Q4_1 | `d / 2 + 15 e(d) + e(min)` with `d = (max - min) / 15` |
//! | Q5_0 | `d + 16 e(d)` with `d = amax / 16` (as Q4_0: a value near `-max` clips to code 31) |
//! | Q5_1 | `d / 2 + 31 e(d) + e(min)` with `d = (max - min) / 31` |
//! | Q4_K, Q5_K | `R / N + (N d + dmin) / 2 + 63 (N e(d) + e(dmin))` with `N` = 15, 31, `R = max(max, 0) - min(min, 0)` of the sub-block, `d`, `dmin` as stored ([`k_quantize`]) |
//! | Q6_K | `R / 63 + 16 abs(d) + 4096 e(d)` with `R = 2 amax` of the sub-block, `d` as stored |
//! | F16  | `e(w)` |
//! | BF16 | `2^-8 abs(w)` |
//!
//! [`Int8Matrix`] is a separate, non-GGML format: symmetric int8 with one f32 scale per output
//! channel, for weight matrices.
//!
//! Bad input never panics: every length that does not fit is an [`Error`] naming the format
//! and the lengths.
//!
//! ```
//! use claude_quant::{GgmlType, dequantize_to_vec, quantize_to_vec, vec_dot_f32};
//!
//! let w: Vec<f32> = (0..64).map(|i| (i as f32 - 32.0) / 8.0).collect();
//! let packed = quantize_to_vec(GgmlType::Q8_0, &w)?;
//! assert_eq!(packed.len(), 2 * 34);
//! let back = dequantize_to_vec(GgmlType::Q8_0, &packed)?;
//! assert!(w.iter().zip(&back).all(|(a, b)| (a - b).abs() <= 4.0 / 127.0));
//! let x = vec![1.0f32; 64];
//! let dot = vec_dot_f32(GgmlType::Q8_0, &packed, &x)?;
//! assert!((dot - back.iter().sum::<f32>()).abs() < 1e-4);
//! # Ok::<(), claude_quant::Error>(())
//! ```

mod codec;
pub mod dot;
pub mod dot_q8;
mod error;
mod float;
mod int8;
pub mod interleaved;
pub mod iq4;
pub mod k_quantize;
pub mod k_quants;
pub mod k_quants_low;
mod matrix;
mod page_out;
pub mod q4;
pub mod q5;
pub mod q8_0;
mod types;

pub use codec::{dequantize, dequantize_to_vec, quantize, quantize_to_vec};
pub use dot::{dot_f32, vec_dot_f32, vec_dot_i8};
pub use dot_q8::Q8Activations;
pub use error::{Error, Result};
pub use float::{bf16_bits_to_f32, f32_to_bf16_bits};
pub use int8::Int8Matrix;
pub use interleaved::InterleavedMatrix;
pub use matrix::{PackedMatrix, RowFormat, SegmentView};
pub use types::{GgmlType, QK_K, ggml_type_name};
