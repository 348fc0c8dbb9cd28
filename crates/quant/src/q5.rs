//! Q5_0 and Q5_1: blocks of 32 values as 5-bit codes with an f16 scale (and minimum).
//!
//! Both store the low four bits of the codes as Q4_0 does (byte `j` of `qs`, 0 <= j < 16, holds
//! value `j` in its low nibble and value `j + 16` in its high nibble) and the fifth bits in a
//! little-endian `u32` `qh`: bit `i` of `qh` is bit 4 of value `i`.
//!
//! - Q5_0 (22 bytes): `d: f16`, `qh: u32`, `qs: [u8; 16]`; value = `(q - 16) * d`. GGML's
//!   reference picks the value of largest magnitude `max` (the first one on ties), sets
//!   `d = max / -16`, and codes `q = min(31, trunc(x / d + 16.5))`.
//! - Q5_1 (24 bytes): `d: f16`, `m: f16`, `qh: u32`, `qs: [u8; 16]`; value = `q * d + m`. The
//!   reference sets `m = min x`, `d = (max x - min x) / 31`, and codes
//!   `q = min(31, trunc((x - m) / d + 0.5))`.
//!
//! As for Q4_0 and Q4_1, `1 / d` is computed once in f32 (0 when `d` is 0) and multiplied in,
//! the codes come from the f32 `d` and `m`, and the stored fields are those rounded to f16. A
//! code times an f16 scale is exact in f32, so decoding is exact (Q5_0) or one rounding of the
//! sum (Q5_1), as in GGML's `dequantize_row_q5_0` / `_q5_1`. A Q5_0 block of zeros follows
//! GGML's C code (`d = -0.0`), as [`crate::q4`] describes for Q4_0.

use crate::float::{f16_to_f32, f32_to_f16};

/// Values per Q5_0 or Q5_1 block.
pub const BLOCK_SIZE: usize = 32;
/// Bytes per Q5_0 block.
pub const Q5_0_BLOCK_BYTES: usize = 22;
/// Bytes per Q5_1 block.
pub const Q5_1_BLOCK_BYTES: usize = 24;

/// The 32 five-bit codes of a block, from its fifth bits `qh` (4 bytes) and nibbles `qs`
/// (16 bytes).
#[inline(always)]
pub(crate) fn codes(qh: &[u8], qs: &[u8]) -> [u8; BLOCK_SIZE] {
    let high = u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]);
    let mut q = [0u8; BLOCK_SIZE];
    for (j, &byte) in qs.iter().take(BLOCK_SIZE / 2).enumerate() {
        let bit = |i: usize| (((high >> i) & 1) as u8) << 4;
        q[j] = (byte & 0x0f) | bit(j);
        q[j + 16] = (byte >> 4) | bit(j + 16);
    }
    q
}

/// Packs 32 five-bit codes into `qh` (4 bytes) and `qs` (16 bytes).
fn pack(q: &[u8; BLOCK_SIZE], out: &mut [u8]) {
    let mut high = 0u32;
    for (i, &q) in q.iter().enumerate() {
        high |= u32::from(q >> 4) << i;
    }
    out[..4].copy_from_slice(&high.to_le_bytes());
    for (j, o) in out[4..20].iter_mut().enumerate() {
        *o = (q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4);
    }
}

/// Decodes one Q5_0 block into its 32 values.
pub fn dequantize_q5_0_block(block: &[u8; Q5_0_BLOCK_BYTES], out: &mut [f32; BLOCK_SIZE]) {
    let d = f16_to_f32([block[0], block[1]]);
    for (o, q) in out.iter_mut().zip(codes(&block[2..6], &block[6..])) {
        *o = f32::from(i16::from(q) - 16) * d;
    }
}

/// Encodes 32 values as one Q5_0 block, bit for bit as GGML's `quantize_row_q5_0_ref`.
pub fn quantize_q5_0_block(x: &[f32; BLOCK_SIZE], out: &mut [u8; Q5_0_BLOCK_BYTES]) {
    let (d, id) = crate::q4::signed_step(x, 16.0);
    [out[0], out[1]] = f32_to_f16(d);
    // x * id lies in [-16, 16]; `as u8` truncates (and saturates at 0 for rounding noise).
    let q = x.map(|v| ((v * id + 16.5) as u8).min(31));
    pack(&q, &mut out[2..]);
}

/// Decodes one Q5_1 block into its 32 values.
pub fn dequantize_q5_1_block(block: &[u8; Q5_1_BLOCK_BYTES], out: &mut [f32; BLOCK_SIZE]) {
    let d = f16_to_f32([block[0], block[1]]);
    let m = f16_to_f32([block[2], block[3]]);
    for (o, q) in out.iter_mut().zip(codes(&block[4..8], &block[8..])) {
        *o = f32::from(q) * d + m;
    }
}

/// Encodes 32 values as one Q5_1 block, bit for bit as GGML's `quantize_row_q5_1_ref`.
pub fn quantize_q5_1_block(x: &[f32; BLOCK_SIZE], out: &mut [u8; Q5_1_BLOCK_BYTES]) {
    let (min, d, id) = crate::q4::min_and_step(x, 31.0);
    [out[0], out[1]] = f32_to_f16(d);
    [out[2], out[3]] = f32_to_f16(min);
    let q = x.map(|v| (((v - min) * id + 0.5) as u8).min(31));
    pack(&q, &mut out[4..]);
}
