//! The k-quants Q4_K, Q5_K and Q6_K: super-blocks of 256 values (decode only).
//!
//! Q4_K and Q5_K split a super-block into 8 sub-blocks of 32 values. Each sub-block has a 6-bit
//! scale `sc` and a 6-bit minimum `mn`, packed into 12 bytes; value = `d * sc * q - dmin * mn`.
//! With `s` the 12 scale bytes, sub-block `j` has
//!
//! - `j < 4`: `sc = s[j] & 63`, `mn = s[j + 4] & 63`;
//! - `j >= 4`: `sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4`,
//!   `mn = (s[j + 4] >> 4) | (s[j] >> 6) << 4`.
//!
//! - Q4_K (144 bytes): `d: f16`, `dmin: f16`, `scales: [u8; 12]`, `qs: [u8; 128]`. Sub-blocks
//!   `2c` and `2c + 1` share bytes `qs[32c..32c + 32]`: low nibbles, then high nibbles.
//! - Q5_K (176 bytes): `d`, `dmin`, `scales: [u8; 12]`, `qh: [u8; 32]`, `qs: [u8; 128]`. The
//!   low four bits are laid out as in Q4_K; bit `j` of `qh[l]` is the fifth bit of value `l` of
//!   sub-block `j`.
//! - Q6_K (210 bytes): `ql: [u8; 128]`, `qh: [u8; 64]`, `scales: [i8; 16]`, `d: f16`; 16
//!   sub-blocks of 16 values, value `i` = `d * scales[i / 16] * (q - 32)` with a 6-bit `q`. Each
//!   half `h` of 128 values uses `ql[64h..64h + 64]` and `qh[32h..32h + 32]`: its value
//!   `32t + l` (`t < 4`, `l < 32`) takes its low four bits from nibble `t / 2` of
//!   `ql[64h + 32 (t % 2) + l]` and its top two from bits `2t..2t + 2` of `qh[32h + l]`.
//!
//! Every product here is exact in f32 (an f16 times a 6- or 8-bit scale times a code of at most
//! 6 bits needs at most 24 significant bits), so each value is the correctly rounded
//! `d * sc * q - dmin * mn`, whatever the order of the products or a fused multiply-add: the
//! results are bit-identical to GGML's `dequantize_row_q4_K` and friends.

use crate::float::f16_to_f32;
use crate::types::QK_K;

/// Bytes per Q4_K super-block.
pub const Q4_K_BLOCK_BYTES: usize = 2 + 2 + 12 + QK_K / 2;
/// Bytes per Q5_K super-block.
pub const Q5_K_BLOCK_BYTES: usize = 2 + 2 + 12 + QK_K / 8 + QK_K / 2;
/// Bytes per Q6_K super-block.
pub const Q6_K_BLOCK_BYTES: usize = QK_K / 2 + QK_K / 4 + QK_K / 16 + 2;

/// The 6-bit scale and minimum of sub-block `j` (0..8) from the 12 packed bytes `s`.
#[inline(always)]
pub(crate) fn scale_min(j: usize, s: &[u8]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}

/// Decodes one Q4_K super-block into its 256 values.
pub fn dequantize_q4_k_block(block: &[u8; Q4_K_BLOCK_BYTES], out: &mut [f32; QK_K]) {
    let d = f16_to_f32([block[0], block[1]]);
    let dmin = f16_to_f32([block[2], block[3]]);
    let scales = &block[4..16];
    let qs = &block[16..];
    for (c, (chunk, out)) in qs
        .chunks_exact(32)
        .zip(out.chunks_exact_mut(64))
        .enumerate()
    {
        let (sc0, mn0) = scale_min(2 * c, scales);
        let (sc1, mn1) = scale_min(2 * c + 1, scales);
        let (d0, m0) = (d * f32::from(sc0), dmin * f32::from(mn0));
        let (d1, m1) = (d * f32::from(sc1), dmin * f32::from(mn1));
        let (lo, hi) = out.split_at_mut(32);
        for ((l, h), &q) in lo.iter_mut().zip(hi).zip(chunk) {
            *l = d0 * f32::from(q & 0x0f) - m0;
            *h = d1 * f32::from(q >> 4) - m1;
        }
    }
}

/// Decodes one Q5_K super-block into its 256 values.
pub fn dequantize_q5_k_block(block: &[u8; Q5_K_BLOCK_BYTES], out: &mut [f32; QK_K]) {
    let d = f16_to_f32([block[0], block[1]]);
    let dmin = f16_to_f32([block[2], block[3]]);
    let scales = &block[4..16];
    let qh = &block[16..48];
    let qs = &block[48..];
    for (c, (chunk, out)) in qs
        .chunks_exact(32)
        .zip(out.chunks_exact_mut(64))
        .enumerate()
    {
        let (j0, j1) = (2 * c, 2 * c + 1);
        let (sc0, mn0) = scale_min(j0, scales);
        let (sc1, mn1) = scale_min(j1, scales);
        let (d0, m0) = (d * f32::from(sc0), dmin * f32::from(mn0));
        let (d1, m1) = (d * f32::from(sc1), dmin * f32::from(mn1));
        let (lo, hi) = out.split_at_mut(32);
        for (((l, h), &q), &high) in lo.iter_mut().zip(hi).zip(chunk).zip(qh) {
            let q0 = (q & 0x0f) | (((high >> j0) & 1) << 4);
            let q1 = (q >> 4) | (((high >> j1) & 1) << 4);
            *l = d0 * f32::from(q0) - m0;
            *h = d1 * f32::from(q1) - m1;
        }
    }
}

/// Decodes one Q6_K super-block into its 256 values.
pub fn dequantize_q6_k_block(block: &[u8; Q6_K_BLOCK_BYTES], out: &mut [f32; QK_K]) {
    let (ql, rest) = block.split_at(QK_K / 2);
    let (qh, rest) = rest.split_at(QK_K / 4);
    let (scales, d) = rest.split_at(QK_K / 16);
    let d = f16_to_f32([d[0], d[1]]);
    for (h, out) in out.chunks_exact_mut(128).enumerate() {
        let ql = &ql[64 * h..64 * h + 64];
        let qh = &qh[32 * h..32 * h + 32];
        for (t, out) in out.chunks_exact_mut(32).enumerate() {
            let low = &ql[32 * (t % 2)..32 * (t % 2) + 32];
            let shift_low = 4 * (t / 2);
            let shift_high = 2 * t;
            for (l, o) in out.iter_mut().enumerate() {
                let q = ((low[l] >> shift_low) & 0x0f) | (((qh[l] >> shift_high) & 3) << 4);
                let sc = scales[8 * h + 2 * t + l / 16] as i8;
                *o = d * f32::from(sc) * f32::from(i16::from(q) - 32);
            }
        }
    }
}
