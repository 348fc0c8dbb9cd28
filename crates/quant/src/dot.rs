//! Dot products of a packed row with an f32 vector, without decoding the row to memory.
//!
//! The loops keep [`LANES`] independent partial sums and walk fixed-size chunks, so LLVM turns
//! them into SIMD multiply-adds with no `unsafe`. Summing in lanes reorders the additions, so a
//! result differs from a sequential dequantize-then-dot by rounding only: the tests hold it
//! within 1e-4 relative of an f64 dot of the decoded values (within 1e-6 of `sum |w_i x_i|`
//! where the sum cancels).

use crate::error::{Error, Result};
use crate::float::f16_to_f32;
use crate::types::{GgmlType, QK_K};
use crate::{codec, q4, q8_0};

/// Independent partial sums per dot product (one AVX register of f32, two NEON registers).
pub const LANES: usize = 8;

/// `sum_i w_i * x_i` for the row `row` of type `ty` (decoded values `w`) and the vector `x`.
///
/// Q8_0, Q4_0, Q4_1 and F32 have fused kernels; the other types decode 256 values at a time
/// into a stack buffer and reuse the f32 kernel.
///
/// # Errors
/// [`Error::ByteLength`] when `row` is not a whole number of blocks, [`Error::BufferLength`]
/// when `x.len()` differs from the number of values in `row`.
pub fn vec_dot_f32(ty: GgmlType, row: &[u8], x: &[f32]) -> Result<f32> {
    let n = ty.values_in(row.len())?;
    if x.len() != n {
        return Err(Error::BufferLength {
            what: "vec_dot_f32 vector (f32 values)",
            expected: n,
            got: x.len(),
        });
    }
    Ok(match ty {
        GgmlType::Q8_0 => dot_q8_0(row.as_chunks().0, x.as_chunks().0),
        GgmlType::Q4_0 => dot_q4_0(row.as_chunks().0, x.as_chunks().0),
        GgmlType::Q4_1 => dot_q4_1(row.as_chunks().0, x.as_chunks().0),
        GgmlType::F32 => dot_f32_bytes(row.as_chunks().0, x),
        GgmlType::F16
        | GgmlType::BF16
        | GgmlType::Q5_0
        | GgmlType::Q5_1
        | GgmlType::Q2_K
        | GgmlType::Q3_K
        | GgmlType::Q4_K
        | GgmlType::Q5_K
        | GgmlType::Q6_K
        | GgmlType::IQ4_NL
        | GgmlType::IQ4_XS => dot_decoded(ty, row, x)?,
    })
}

/// `scale * sum_i q_i * x_i` for one int8 row (see [`crate::Int8Matrix`]).
///
/// # Errors
/// [`Error::BufferLength`] when `q` and `x` differ in length.
pub fn vec_dot_i8(q: &[i8], scale: f32, x: &[f32]) -> Result<f32> {
    if q.len() != x.len() {
        return Err(Error::BufferLength {
            what: "int8 dot vector (f32 values)",
            expected: q.len(),
            got: x.len(),
        });
    }
    let (qc, qr) = q.as_chunks::<LANES>();
    let (xc, xr) = x.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (q, x) in qc.iter().zip(xc) {
        for k in 0..LANES {
            acc[k] += f32::from(q[k]) * x[k];
        }
    }
    let tail: f32 = qr.iter().zip(xr).map(|(q, x)| f32::from(*q) * x).sum();
    Ok(scale * (hsum(acc) + tail))
}

/// `sum_i a_i * b_i` over two f32 slices of equal length, in [`LANES`] partial sums.
///
/// # Errors
/// [`Error::BufferLength`] when the lengths differ.
pub fn dot_f32(a: &[f32], b: &[f32]) -> Result<f32> {
    if a.len() != b.len() {
        return Err(Error::BufferLength {
            what: "f32 dot vector (f32 values)",
            expected: a.len(),
            got: b.len(),
        });
    }
    Ok(dot_same_len(a, b))
}

/// The lane-summed dot product; the caller guarantees equal lengths (extra values are ignored).
fn dot_same_len(a: &[f32], b: &[f32]) -> f32 {
    let (ac, ar) = a.as_chunks::<LANES>();
    let (bc, br) = b.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (a, b) in ac.iter().zip(bc) {
        for k in 0..LANES {
            acc[k] += a[k] * b[k];
        }
    }
    let tail: f32 = ar.iter().zip(br).map(|(a, b)| a * b).sum();
    hsum(acc) + tail
}

/// Sum of the lanes, pairwise.
#[inline(always)]
fn hsum(acc: [f32; LANES]) -> f32 {
    let [a, b, c, d, e, f, g, h] = acc;
    ((a + e) + (c + g)) + ((b + f) + (d + h))
}

fn dot_q8_0(blocks: &[[u8; q8_0::BLOCK_BYTES]], x: &[[f32; q8_0::BLOCK_SIZE]]) -> f32 {
    let mut acc = [0.0f32; LANES];
    for (block, x) in blocks.iter().zip(x) {
        let d = q8_0::scale(block);
        let mut s = [0.0f32; LANES];
        for (q, x) in block[2..]
            .as_chunks::<LANES>()
            .0
            .iter()
            .zip(x.as_chunks::<LANES>().0)
        {
            for k in 0..LANES {
                s[k] += f32::from(q[k] as i8) * x[k];
            }
        }
        for k in 0..LANES {
            acc[k] += d * s[k];
        }
    }
    hsum(acc)
}

/// The 16 code bytes of a Q4 block with the two halves of its 32 values, in lane chunks:
/// byte `j` codes value `j` (low nibble) and value `j + 16` (high nibble).
#[inline(always)]
fn q4_chunks<'a>(
    qs: &'a [u8],
    x: &'a [f32; q4::BLOCK_SIZE],
) -> impl Iterator<Item = ((&'a [u8; LANES], &'a [f32; LANES]), &'a [f32; LANES])> {
    let (lo, hi) = x.split_at(q4::BLOCK_SIZE / 2);
    let chunks = qs.as_chunks::<LANES>().0.iter();
    chunks
        .zip(lo.as_chunks::<LANES>().0)
        .zip(hi.as_chunks::<LANES>().0)
}

fn dot_q4_0(blocks: &[[u8; q4::Q4_0_BLOCK_BYTES]], x: &[[f32; q4::BLOCK_SIZE]]) -> f32 {
    let mut acc = [0.0f32; LANES];
    for (block, x) in blocks.iter().zip(x) {
        let d = f16_to_f32([block[0], block[1]]);
        let mut s = [0.0f32; LANES];
        for ((q, lo), hi) in q4_chunks(&block[2..], x) {
            for k in 0..LANES {
                let ql = f32::from(q[k] & 0x0f) - 8.0;
                let qh = f32::from(q[k] >> 4) - 8.0;
                s[k] += ql * lo[k] + qh * hi[k];
            }
        }
        for k in 0..LANES {
            acc[k] += d * s[k];
        }
    }
    hsum(acc)
}

fn dot_q4_1(blocks: &[[u8; q4::Q4_1_BLOCK_BYTES]], x: &[[f32; q4::BLOCK_SIZE]]) -> f32 {
    let mut acc = [0.0f32; LANES];
    for (block, x) in blocks.iter().zip(x) {
        let d = f16_to_f32([block[0], block[1]]);
        let m = f16_to_f32([block[2], block[3]]);
        let mut sq = [0.0f32; LANES];
        let mut sx = [0.0f32; LANES];
        for ((q, lo), hi) in q4_chunks(&block[4..], x) {
            for k in 0..LANES {
                sq[k] += f32::from(q[k] & 0x0f) * lo[k] + f32::from(q[k] >> 4) * hi[k];
                sx[k] += lo[k] + hi[k];
            }
        }
        for k in 0..LANES {
            acc[k] += d * sq[k] + m * sx[k];
        }
    }
    hsum(acc)
}

fn dot_f32_bytes(row: &[[u8; 4]], x: &[f32]) -> f32 {
    let (rc, rr) = row.as_chunks::<LANES>();
    let (xc, xr) = x.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (w, x) in rc.iter().zip(xc) {
        for k in 0..LANES {
            acc[k] += f32::from_le_bytes(w[k]) * x[k];
        }
    }
    let tail: f32 = rr
        .iter()
        .zip(xr)
        .map(|(w, x)| f32::from_le_bytes(*w) * x)
        .sum();
    hsum(acc) + tail
}

/// Decodes `row` a piece of [`QK_K`] values at a time and dots each piece with `x`.
fn dot_decoded(ty: GgmlType, row: &[u8], x: &[f32]) -> Result<f32> {
    let piece_bytes = QK_K / ty.block_size() * ty.block_bytes();
    let mut buf = [0.0f32; QK_K];
    let mut sum = 0.0;
    for (bytes, x) in row.chunks(piece_bytes).zip(x.chunks(QK_K)) {
        let w = &mut buf[..x.len()];
        codec::dequantize(ty, bytes, w)?;
        sum += dot_same_len(w, x);
    }
    Ok(sum)
}
