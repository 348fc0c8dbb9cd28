//! Q4_0 and Q4_1: blocks of 32 values as 4-bit codes with an f16 scale (and minimum).
//!
//! Both store the codes the same way: byte `j` of `qs` (0 <= j < 16) holds value `j` in its low
//! nibble and value `j + 16` in its high nibble.
//!
//! - Q4_0 (18 bytes): `d: f16`, `qs: [u8; 16]`; value = `(q - 8) * d`. GGML's reference picks the
//!   value of largest magnitude `max` (the first one on ties), sets `d = max / -8`, and codes
//!   `q = min(15, trunc(x / d + 8.5))`.
//! - Q4_1 (20 bytes): `d: f16`, `m: f16`, `qs: [u8; 16]`; value = `q * d + m`. The reference sets
//!   `m = min x`, `d = (max x - min x) / 15`, and codes `q = min(15, trunc((x - m) / d + 0.5))`.
//!
//! In both, `1 / d` is computed once in f32 (0 when `d` is 0) and multiplied in, and the codes
//! come from the f32 `d` and `m`; the stored fields are those rounded to f16. Decoding is exact
//! up to one rounding (code times f16 scale is exact in f32).
//!
//! One corner follows GGML's C code rather than the `gguf` Python port: for a Q4_0 block of
//! zeros, C starts its search from `max = +0.0` and stores `d = -0.0` (bytes `00 80`), while
//! numpy takes the first element, so a block starting with `-0.0` gets `d = +0.0` there. Both
//! decode to zeros.

use crate::float::{f16_to_f32, f32_to_f16};

/// Values per Q4_0 or Q4_1 block.
pub const BLOCK_SIZE: usize = 32;
/// Bytes per Q4_0 block.
pub const Q4_0_BLOCK_BYTES: usize = 18;
/// Bytes per Q4_1 block.
pub const Q4_1_BLOCK_BYTES: usize = 20;

/// Decodes one Q4_0 block into its 32 values.
pub fn dequantize_q4_0_block(block: &[u8; Q4_0_BLOCK_BYTES], out: &mut [f32; BLOCK_SIZE]) {
    let d = f16_to_f32([block[0], block[1]]);
    let (lo, hi) = out.split_at_mut(BLOCK_SIZE / 2);
    for (j, (l, h)) in lo.iter_mut().zip(hi).enumerate() {
        let q = block[2 + j];
        *l = f32::from(i16::from(q & 0x0f) - 8) * d;
        *h = f32::from(i16::from(q >> 4) - 8) * d;
    }
}

/// Encodes 32 values as one Q4_0 block, bit for bit as GGML's `quantize_row_q4_0_ref`.
pub fn quantize_q4_0_block(x: &[f32; BLOCK_SIZE], out: &mut [u8; Q4_0_BLOCK_BYTES]) {
    let (d, id) = signed_step(x, 8.0);
    [out[0], out[1]] = f32_to_f16(d);
    let (lo, hi) = x.split_at(BLOCK_SIZE / 2);
    for (o, (l, h)) in out[2..].iter_mut().zip(lo.iter().zip(hi)) {
        // x * id lies in [-8, 8]; `as u8` truncates (and saturates at 0 for rounding noise).
        let ql = ((l * id + 8.5) as u8).min(15);
        let qh = ((h * id + 8.5) as u8).min(15);
        *o = ql | (qh << 4);
    }
}

/// Decodes one Q4_1 block into its 32 values.
pub fn dequantize_q4_1_block(block: &[u8; Q4_1_BLOCK_BYTES], out: &mut [f32; BLOCK_SIZE]) {
    let d = f16_to_f32([block[0], block[1]]);
    let m = f16_to_f32([block[2], block[3]]);
    let (lo, hi) = out.split_at_mut(BLOCK_SIZE / 2);
    for (j, (l, h)) in lo.iter_mut().zip(hi).enumerate() {
        let q = block[4 + j];
        *l = f32::from(q & 0x0f) * d + m;
        *h = f32::from(q >> 4) * d + m;
    }
}

/// Encodes 32 values as one Q4_1 block, bit for bit as GGML's `quantize_row_q4_1_ref`.
pub fn quantize_q4_1_block(x: &[f32; BLOCK_SIZE], out: &mut [u8; Q4_1_BLOCK_BYTES]) {
    let (min, d, id) = min_and_step(x, 15.0);
    [out[0], out[1]] = f32_to_f16(d);
    [out[2], out[3]] = f32_to_f16(min);
    let (lo, hi) = x.split_at(BLOCK_SIZE / 2);
    for (o, (l, h)) in out[4..].iter_mut().zip(lo.iter().zip(hi)) {
        let ql = (((l - min) * id + 0.5) as u8).min(15);
        let qh = (((h - min) * id + 0.5) as u8).min(15);
        *o = ql | (qh << 4);
    }
}

/// A block's minimum, the step `d = (max - min) / levels` between its codes and `1 / d` (0 for
/// a constant block), computed as GGML's `_1` quantizers do (Q4_1, Q5_1).
pub(crate) fn min_and_step(x: &[f32; BLOCK_SIZE], levels: f32) -> (f32, f32, f32) {
    let mut min = f32::MAX;
    let mut max = -f32::MAX;
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    let d = (max - min) / levels;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    (min, d, id)
}

/// The step `d = max / -half` from the block's value of largest magnitude (sign kept), and
/// `1 / d` (0 for a block of zeros), as GGML's `_0` quantizers compute them (Q4_0, Q5_0).
pub(crate) fn signed_step(x: &[f32; BLOCK_SIZE], half: f32) -> (f32, f32) {
    let mut amax = 0.0f32;
    let mut max = 0.0f32;
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    let d = max / -half;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    (d, id)
}
