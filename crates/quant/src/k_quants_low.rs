//! The low-bit k-quants Q2_K and Q3_K: super-blocks of 256 values in 16 sub-blocks of 16
//! (decode only).
//!
//! Both walk their 2-bit codes the same way: the super-block is two halves of 128 values, half
//! `h` using the 32 bytes `qs[32h..32h + 32]`; value `128h + 32s + l` (`s < 4`, `l < 32`) takes
//! bits `2s..2s + 2` of `qs[32h + l]`, and belongs to sub-block `(128h + 32s + l) / 16`, that is
//! `8h + 2s + l / 16`.
//!
//! - Q2_K (84 bytes): `scales: [u8; 16]`, `qs: [u8; 64]`, `d: f16`, `dmin: f16` (the f16 fields
//!   come last). Sub-block `k` has scale `sc = scales[k] & 15` and minimum `mn = scales[k] >> 4`;
//!   value = `d * sc * q - dmin * mn` with a 2-bit `q`.
//! - Q3_K (110 bytes): `hmask: [u8; 32]`, `qs: [u8; 64]`, `scales: [u8; 12]`, `d: f16`. A value's
//!   third bit is a mask bit: value `128h + 32s + l` has it in bit `4h + s` of `hmask[l]`, and
//!   its code is `q = (2 low bits) - (mask bit ? 0 : 4)`, in -4..=3. Sub-block `k` has a 6-bit
//!   scale, stored biased by 32: its low four bits are nibble `k / 8` of `scales[k % 8]`, its top
//!   two bits are bits `2 (k / 4)..2 (k / 4) + 2` of `scales[8 + k % 4]`; value =
//!   `d * (scale - 32) * q`.
//!
//! Every product is exact in f32 (an f16 times a scale of at most 6 bits times a code of at most
//! 3 bits), so each value is the correctly rounded `d * sc * q - dmin * mn` (Q2_K) or the exact
//! `d * sc * q` (Q3_K): bit-identical to GGML's `dequantize_row_q2_K` / `_q3_K`.

use crate::float::f16_to_f32;
use crate::types::QK_K;

/// Bytes per Q2_K super-block.
pub const Q2_K_BLOCK_BYTES: usize = QK_K / 16 + QK_K / 4 + 2 + 2;
/// Bytes per Q3_K super-block.
pub const Q3_K_BLOCK_BYTES: usize = QK_K / 8 + QK_K / 4 + 12 + 2;

/// Offset of a Q2_K block's `qs`.
pub(crate) const Q2_K_QS: usize = QK_K / 16;
/// Offset of a Q2_K block's `d` (`dmin` follows).
pub(crate) const Q2_K_D: usize = Q2_K_QS + QK_K / 4;
/// Offset of a Q3_K block's `qs` (`hmask` is at 0).
pub(crate) const Q3_K_QS: usize = QK_K / 8;
/// Offset of a Q3_K block's 12 scale bytes.
pub(crate) const Q3_K_SCALES: usize = Q3_K_QS + QK_K / 4;
/// Offset of a Q3_K block's `d`.
pub(crate) const Q3_K_D: usize = Q3_K_SCALES + 12;

/// The 16 signed sub-block scales (`scale - 32`, in -32..=31) of a Q3_K block from its 12
/// packed scale bytes.
#[inline(always)]
pub(crate) fn q3_k_scales(s: &[u8]) -> [i8; 16] {
    std::array::from_fn(|k| {
        let low = (s[k % 8] >> (4 * (k / 8))) & 0x0f;
        let high = (s[8 + k % 4] >> (2 * (k / 4))) & 3;
        (low | (high << 4)) as i8 - 32
    })
}

/// Decodes one Q2_K super-block into its 256 values.
pub fn dequantize_q2_k_block(block: &[u8; Q2_K_BLOCK_BYTES], out: &mut [f32; QK_K]) {
    let scales = &block[..Q2_K_QS];
    let qs = &block[Q2_K_QS..Q2_K_D];
    let d = f16_to_f32([block[Q2_K_D], block[Q2_K_D + 1]]);
    let dmin = f16_to_f32([block[Q2_K_D + 2], block[Q2_K_D + 3]]);
    for (i, o) in out.iter_mut().enumerate() {
        let (h, s, l) = (i / 128, i / 32 % 4, i % 32);
        let q = (qs[32 * h + l] >> (2 * s)) & 3;
        let sc = scales[i / 16];
        let (dl, ml) = (d * f32::from(sc & 0x0f), dmin * f32::from(sc >> 4));
        *o = dl * f32::from(q) - ml;
    }
}

/// Decodes one Q3_K super-block into its 256 values.
pub fn dequantize_q3_k_block(block: &[u8; Q3_K_BLOCK_BYTES], out: &mut [f32; QK_K]) {
    let hmask = &block[..Q3_K_QS];
    let qs = &block[Q3_K_QS..Q3_K_SCALES];
    let scales = q3_k_scales(&block[Q3_K_SCALES..Q3_K_D]);
    let d = f16_to_f32([block[Q3_K_D], block[Q3_K_D + 1]]);
    for (i, o) in out.iter_mut().enumerate() {
        let (h, s, l) = (i / 128, i / 32 % 4, i % 32);
        let low = (qs[32 * h + l] >> (2 * s)) & 3;
        let high = (hmask[l] >> (4 * h + s)) & 1;
        let q = i16::from(low) - if high == 1 { 0 } else { 4 };
        *o = d * f32::from(scales[i / 16]) * f32::from(q);
    }
}
