//! Q8_0: blocks of 32 values as one f16 scale and 32 signed bytes.
//!
//! Layout (34 bytes): `d: f16` (little-endian), `qs: [i8; 32]`; value `i` is `qs[i] * d`.
//!
//! Quantization follows GGML's `quantize_row_q8_0_ref`: `d = max|x| / 127`, `id = 1 / d` (0 when
//! `d` is 0), `qs[i] = round(x[i] * id)` with halves rounded away from zero. The codes come from
//! the f32 `d`; the stored scale is `d` rounded to f16.

use crate::float::{f16_to_f32, f32_to_f16};

/// Values per Q8_0 block.
pub const BLOCK_SIZE: usize = 32;
/// Bytes per Q8_0 block.
pub const BLOCK_BYTES: usize = 34;

/// The scale `d` of a block.
#[inline(always)]
pub(crate) fn scale(block: &[u8; BLOCK_BYTES]) -> f32 {
    f16_to_f32([block[0], block[1]])
}

/// Decodes one block into its 32 values.
pub fn dequantize_block(block: &[u8; BLOCK_BYTES], out: &mut [f32; BLOCK_SIZE]) {
    let d = scale(block);
    for (i, o) in out.iter_mut().enumerate() {
        *o = f32::from(block[2 + i] as i8) * d;
    }
}

/// Encodes 32 values as one block, bit for bit as GGML's reference quantizer.
pub fn quantize_block(x: &[f32; BLOCK_SIZE], out: &mut [u8; BLOCK_BYTES]) {
    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    [out[0], out[1]] = f32_to_f16(d);
    for (o, v) in out[2..].iter_mut().zip(x) {
        // |v * id| <= 127 up to rounding; `as` saturates anyway.
        *o = (v * id).round() as i8 as u8;
    }
}
