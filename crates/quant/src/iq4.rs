//! IQ4_NL and IQ4_XS: 4-bit indices into a fixed non-linear table of 16 codes (decode only).
//!
//! Both map a 4-bit index `q` to the signed code [`KVALUES`]`[q]` (from -127 to 113, denser
//! near zero) and store the indices of 32 values as Q4_0 does: byte `j` of a 16-byte group holds
//! value `j` in its low nibble and value `j + 16` in its high nibble.
//!
//! - IQ4_NL (18 bytes, 32 values): `d: f16`, `qs: [u8; 16]`; value = `d * KVALUES[q]`.
//! - IQ4_XS (136 bytes, 256 values in 8 sub-blocks of 32): `d: f16`, `scales_h: u16`
//!   (little-endian), `scales_l: [u8; 4]`, `qs: [u8; 128]`. Sub-block `j` has the 6-bit scale
//!   `ls` whose low four bits are nibble `j % 2` of `scales_l[j / 2]` and whose top two are bits
//!   `2j..2j + 2` of `scales_h`, stored biased by 32; its indices are `qs[16j..16j + 16]`;
//!   value = `d * (ls - 32) * KVALUES[q]`.
//!
//! The products are exact in f32 (an f16 times a 6-bit scale times a 7-bit code), so decoding
//! is bit-identical to GGML's `dequantize_row_iq4_nl` / `_iq4_xs`.

use crate::float::f16_to_f32;
use crate::types::QK_K;

/// The 16 codes a 4-bit index stands for (GGML's `kvalues_iq4nl`).
pub const KVALUES: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// Values per IQ4_NL block.
pub const IQ4_NL_BLOCK_SIZE: usize = 32;
/// Bytes per IQ4_NL block.
pub const IQ4_NL_BLOCK_BYTES: usize = 2 + IQ4_NL_BLOCK_SIZE / 2;
/// Bytes per IQ4_XS super-block.
pub const IQ4_XS_BLOCK_BYTES: usize = 2 + 2 + QK_K / 64 + QK_K / 2;

/// Offset of an IQ4_XS block's `qs`.
pub(crate) const IQ4_XS_QS: usize = 8;

/// The eight signed sub-block scales (`ls - 32`, in -32..=31) of an IQ4_XS block.
#[inline(always)]
pub(crate) fn iq4_xs_scales(block: &[u8]) -> [i8; 8] {
    let high = u16::from_le_bytes([block[2], block[3]]);
    std::array::from_fn(|j| {
        let low = (block[4 + j / 2] >> (4 * (j % 2))) & 0x0f;
        let top = ((high >> (2 * j)) & 3) as u8;
        (low | (top << 4)) as i8 - 32
    })
}

/// Decodes 16 index bytes into 32 values, `scale * KVALUES[q]`.
#[inline(always)]
fn decode_group(qs: &[u8], scale: f32, out: &mut [f32]) {
    let (lo, hi) = out.split_at_mut(16);
    for ((l, h), &q) in lo.iter_mut().zip(hi).zip(qs) {
        *l = scale * f32::from(KVALUES[usize::from(q & 0x0f)]);
        *h = scale * f32::from(KVALUES[usize::from(q >> 4)]);
    }
}

/// Decodes one IQ4_NL block into its 32 values.
pub fn dequantize_iq4_nl_block(
    block: &[u8; IQ4_NL_BLOCK_BYTES],
    out: &mut [f32; IQ4_NL_BLOCK_SIZE],
) {
    decode_group(&block[2..], f16_to_f32([block[0], block[1]]), out);
}

/// Decodes one IQ4_XS super-block into its 256 values.
pub fn dequantize_iq4_xs_block(block: &[u8; IQ4_XS_BLOCK_BYTES], out: &mut [f32; QK_K]) {
    let d = f16_to_f32([block[0], block[1]]);
    let scales = iq4_xs_scales(block);
    for ((qs, out), &ls) in block[IQ4_XS_QS..]
        .chunks_exact(16)
        .zip(out.chunks_exact_mut(32))
        .zip(&scales)
    {
        decode_group(qs, d * f32::from(ls), out);
    }
}
