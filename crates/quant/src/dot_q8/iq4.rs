//! IQ4_NL and IQ4_XS rows against 8-bit activations.
//!
//! The kernels look the 4-bit indices up in [`KVALUES`] (signed codes in -127..=113) and return
//! `sum_i KVALUES[q_i] x_i` per activation block of 32 values. An IQ4_NL block adds
//! `d * dx * sum` (the kernels take eight blocks at a time, a row's last blocks one by one); an
//! IQ4_XS super-block adds `d * sum_j dx_j * (ls_j - 32) * sum_j` over its eight sub-blocks (at
//! most `32 * 127 * 127 * 32 < 2^24`, exact in f32).

use super::{Path, Q8_BLOCK, Q8Activations, f16_at, fold8};
use crate::iq4::{IQ4_NL_BLOCK_BYTES, IQ4_XS_BLOCK_BYTES, IQ4_XS_QS, KVALUES, iq4_xs_scales};

/// Eight activation blocks.
type Codes = [[i8; Q8_BLOCK]; 8];

/// `row · x` for a row of IQ4_NL blocks.
pub(super) fn dot_iq4_nl(path: Path, row: &[u8], x: &Q8Activations) -> f32 {
    match path {
        Path::Portable => nl(
            row,
            x,
            |w| std::array::from_fn(|j| f16_at(&w[j], 0)),
            portable::nl_sums,
            fold8,
            |w, xq| portable::sum(&w[2..], xq),
        ),
        // SAFETY: `Path::Avx2` exists only where the CPU has the features.
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => unsafe { avx2::dot_iq4_nl(row, x) },
    }
}

/// `row · x` for a row of IQ4_XS super-blocks.
pub(super) fn dot_iq4_xs(path: Path, row: &[u8], x: &Q8Activations) -> f32 {
    match path {
        Path::Portable => xs(row, x, portable::xs_sums, fold8),
        // SAFETY: as in `dot_iq4_nl`.
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => unsafe { avx2::dot_iq4_xs(row, x) },
    }
}

/// Adds up IQ4_NL blocks: eight at a time with their scales widened by `f16x8`, their
/// integer sums `S` from `sums`, scaled by `fold`; a row's last blocks one by one with `sum`.
#[inline(always)]
fn nl<S>(
    row: &[u8],
    x: &Q8Activations,
    f16x8: impl Fn(&[[u8; IQ4_NL_BLOCK_BYTES]; 8]) -> [f32; 8],
    sums: impl Fn(&[[u8; IQ4_NL_BLOCK_BYTES]; 8], &Codes) -> S,
    fold: impl Fn(&[f32; 8], S) -> f32,
    sum: impl Fn(&[u8; IQ4_NL_BLOCK_BYTES], &[i8; Q8_BLOCK]) -> i32,
) -> f32 {
    let (groups, rest) = row.as_chunks().0.as_chunks::<8>();
    let mut acc = 0.0f32;
    for (w, (xq, dx, _)) in groups.iter().zip(x.super_blocks()) {
        let d = f16x8(w);
        acc += fold(&std::array::from_fn(|j| d[j] * dx[j]), sums(w, xq));
    }
    for (w, (xq, dx, _)) in rest.iter().zip(x.blocks().skip(8 * groups.len())) {
        acc += f16_at(w, 0) * dx * sum(w, xq) as f32;
    }
    acc
}

/// Adds up IQ4_XS super-blocks: `sums` gets the decoded sub-block scales and gives the scaled
/// integer sums `S`, `fold` scales them by the activation scales.
#[inline(always)]
fn xs<S>(
    row: &[u8],
    x: &Q8Activations,
    sums: impl Fn(&[u8; IQ4_XS_BLOCK_BYTES], &[i8; 8], &Codes) -> S,
    fold: impl Fn(&[f32; 8], S) -> f32,
) -> f32 {
    let mut acc = 0.0f32;
    for (w, (xq, dx, _)) in row.as_chunks().0.iter().zip(x.super_blocks()) {
        let scales = iq4_xs_scales(w);
        acc += f16_at(w, 0) * fold(dx, sums(w, &scales, xq));
    }
    acc
}

/// The integer sums in plain Rust.
pub(super) mod portable {
    use super::*;

    /// `sum KVALUES[q] x` for the 32 indices in the first 16 bytes of `qs` (value `l` in the
    /// low nibble of byte `l`, value `l + 16` in its high nibble).
    pub(in crate::dot_q8) fn sum(qs: &[u8], x: &[i8; 32]) -> i32 {
        let (lo, hi) = x.split_at(16);
        qs.iter()
            .zip(lo.iter().zip(hi))
            .map(|(&q, (&a, &b))| {
                let code = |i: u8| i32::from(KVALUES[usize::from(i)]);
                code(q & 0x0f) * i32::from(a) + code(q >> 4) * i32::from(b)
            })
            .sum()
    }

    /// [`sum`] for eight IQ4_NL blocks.
    pub(in crate::dot_q8) fn nl_sums(w: &[[u8; IQ4_NL_BLOCK_BYTES]; 8], x: &Codes) -> [i32; 8] {
        std::array::from_fn(|j| sum(&w[j][2..], &x[j]))
    }

    /// `scales[j] * sum` for each of the eight sub-blocks `j` of an IQ4_XS super-block.
    pub(in crate::dot_q8) fn xs_sums(
        w: &[u8; IQ4_XS_BLOCK_BYTES],
        scales: &[i8; 8],
        x: &Codes,
    ) -> [i32; 8] {
        std::array::from_fn(|j| i32::from(scales[j]) * sum(&w[IQ4_XS_QS + 16 * j..], &x[j]))
    }
}

/// The integer sums with AVX2: `vpshufb` looks the indices up, then signed products.
#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use std::arch::x86_64::*;

    use super::super::simd::{dot_i8_i8, f16x8, fold8, hsum, hsum8, load_codes, nibbles_at};
    use super::*;

    /// [`KVALUES`] in both 128-bit lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn table() -> __m256i {
        // SAFETY: `KVALUES` holds 16 bytes; the load is unaligned.
        let t = unsafe { _mm_loadu_si128(KVALUES.as_ptr().cast()) };
        _mm256_set_m128i(t, t)
    }

    /// Eight partial sums of `KVALUES[q] x` for the indices in the first 16 bytes of `qs`
    /// (no code is -128, as the signed product needs).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn products(table: __m256i, qs: &[u8], x: &[i8; 32]) -> __m256i {
        let w = _mm256_shuffle_epi8(table, nibbles_at(qs));
        dot_i8_i8(w, load_codes(x))
    }

    /// [`products`] times `scale`: `vpmaddwd` by the scale in place of ones.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn scaled_products(table: __m256i, qs: &[u8], x: &[i8; 32], scale: i8) -> __m256i {
        let w = _mm256_shuffle_epi8(table, nibbles_at(qs));
        let x = load_codes(x);
        let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
        _mm256_madd_epi16(pairs, _mm256_set1_epi16(i16::from(scale)))
    }

    /// As [`super::portable::sum`].
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(in crate::dot_q8) fn sum(qs: &[u8], x: &[i8; 32]) -> i32 {
        hsum(products(table(), qs, x))
    }

    /// As [`super::portable::nl_sums`].
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(in crate::dot_q8) fn nl_sums(w: &[[u8; IQ4_NL_BLOCK_BYTES]; 8], x: &Codes) -> __m256i {
        let table = table();
        let mut v = [_mm256_setzero_si256(); 8];
        for (v, (w, x)) in v.iter_mut().zip(w.iter().zip(x)) {
            *v = products(table, &w[2..], x);
        }
        hsum8(v)
    }

    /// As [`super::portable::xs_sums`].
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(in crate::dot_q8) fn xs_sums(
        w: &[u8; IQ4_XS_BLOCK_BYTES],
        scales: &[i8; 8],
        x: &Codes,
    ) -> __m256i {
        let table = table();
        let mut v = [_mm256_setzero_si256(); 8];
        for (j, v) in v.iter_mut().enumerate() {
            *v = scaled_products(table, &w[IQ4_XS_QS + 16 * j..], &x[j], scales[j]);
        }
        hsum8(v)
    }

    /// [`super::dot_iq4_nl`] with the AVX2 sums.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn dot_iq4_nl(row: &[u8], x: &Q8Activations) -> f32 {
        nl(
            row,
            x,
            |w| f16x8(w, 0),
            |w, xq| nl_sums(w, xq),
            |a, s| fold8(a, s),
            |w, xq| sum(&w[2..], xq),
        )
    }

    /// [`super::dot_iq4_xs`] with the AVX2 sums.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn dot_iq4_xs(row: &[u8], x: &Q8Activations) -> f32 {
        xs(
            row,
            x,
            |w, scales, xq| xs_sums(w, scales, xq),
            |dx, s| fold8(dx, s),
        )
    }
}
