//! Q2_K and Q3_K rows against 8-bit activations.
//!
//! Both have 16-value sub-blocks, two per activation block `j` (scale `dx_j`), so the kernels
//! multiply the sub-block scales in and return one integer sum per activation block:
//!
//! - Q2_K: `sum_j = a * sum_{first 16} q x + b * sum_{last 16} q x` with the 4-bit scales `a`,
//!   `b`, and `min_j` the same with the 4-bit minimums and `sum x`; the super-block adds up to
//!   `d * sum_j dx_j * sum_j - dmin * sum_j dx_j * min_j`.
//! - Q3_K: `sum_j` as Q2_K's with the signed 6-bit scales and the codes in -4..=3; the
//!   super-block adds up to `d * sum_j dx_j * sum_j`.

use super::{Path, Q8_BLOCK, Q8Activations, f16_at, fold8};
use crate::k_quants_low::{
    Q2_K_BLOCK_BYTES, Q2_K_D, Q2_K_QS, Q3_K_BLOCK_BYTES, Q3_K_D, Q3_K_QS, Q3_K_SCALES, q3_k_scales,
};

/// The eight activation blocks of one super-block.
type Codes = [[i8; Q8_BLOCK]; 8];

/// `row · x` for a row of Q2_K super-blocks.
pub(super) fn dot_q2_k(path: Path, row: &[u8], x: &Q8Activations) -> f32 {
    match path {
        Path::Portable => q2_k(row, x, portable::q2_k, fold8),
        // SAFETY: `Path::Avx2` exists only where the CPU has the features.
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => unsafe { avx2::dot_q2_k(row, x) },
    }
}

/// `row · x` for a row of Q3_K super-blocks.
pub(super) fn dot_q3_k(path: Path, row: &[u8], x: &Q8Activations) -> f32 {
    match path {
        Path::Portable => q3_k(row, x, portable::q3_k, fold8),
        // SAFETY: as in `dot_q2_k`.
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => unsafe { avx2::dot_q3_k(row, x) },
    }
}

/// Adds up Q2_K super-blocks: `sums` gives the integer sums `(sum_j, min_j)`, `fold` scales
/// them by the activation scales.
#[inline(always)]
fn q2_k<S>(
    row: &[u8],
    x: &Q8Activations,
    sums: impl Fn(&[u8; Q2_K_BLOCK_BYTES], &Codes) -> (S, S),
    fold: impl Fn(&[f32; 8], S) -> f32,
) -> f32 {
    let mut acc = 0.0f32;
    for (w, (xq, dx, _)) in row.as_chunks().0.iter().zip(x.super_blocks()) {
        let (isum, msum) = sums(w, xq);
        acc += f16_at(w, Q2_K_D) * fold(dx, isum) - f16_at(w, Q2_K_D + 2) * fold(dx, msum);
    }
    acc
}

/// Adds up Q3_K super-blocks: `sums` gets the decoded scales and gives the integer sums,
/// `fold` scales them by the activation scales.
#[inline(always)]
fn q3_k<S>(
    row: &[u8],
    x: &Q8Activations,
    sums: impl Fn(&[u8; Q3_K_BLOCK_BYTES], &[i8; 16], &Codes) -> S,
    fold: impl Fn(&[f32; 8], S) -> f32,
) -> f32 {
    let mut acc = 0.0f32;
    for (w, (xq, dx, _)) in row.as_chunks().0.iter().zip(x.super_blocks()) {
        let scales = q3_k_scales(&w[Q3_K_SCALES..Q3_K_D]);
        acc += f16_at(w, Q3_K_D) * fold(dx, sums(w, &scales, xq));
    }
    acc
}

/// The integer sums in plain Rust.
pub(super) mod portable {
    use super::*;

    /// The 2-bit code of value `32 s + l` of half `h` (`j = 4h + s` is its activation block).
    #[inline(always)]
    fn low_bits(qs: &[u8], j: usize, l: usize) -> u8 {
        (qs[32 * (j / 4) + l] >> (2 * (j % 4))) & 3
    }

    /// Q2_K's `(sum_j, min_j)` per activation block.
    pub(in crate::dot_q8) fn q2_k(w: &[u8; Q2_K_BLOCK_BYTES], x: &Codes) -> ([i32; 8], [i32; 8]) {
        let (scales, qs) = (&w[..Q2_K_QS], &w[Q2_K_QS..Q2_K_D]);
        let mut isum = [0i32; 8];
        let mut msum = [0i32; 8];
        for (j, x) in x.iter().enumerate() {
            for (l, &x) in x.iter().enumerate() {
                let sc = scales[2 * j + l / 16];
                let q = low_bits(qs, j, l);
                isum[j] += i32::from(sc & 0x0f) * i32::from(q) * i32::from(x);
                msum[j] += i32::from(sc >> 4) * i32::from(x);
            }
        }
        (isum, msum)
    }

    /// Q3_K's `sum_j` per activation block, with the decoded `scales`.
    pub(in crate::dot_q8) fn q3_k(
        w: &[u8; Q3_K_BLOCK_BYTES],
        scales: &[i8; 16],
        x: &Codes,
    ) -> [i32; 8] {
        let (hmask, qs) = (&w[..Q3_K_QS], &w[Q3_K_QS..Q3_K_SCALES]);
        std::array::from_fn(|j| {
            x[j].iter()
                .enumerate()
                .map(|(l, &x)| {
                    let high = (hmask[l] >> j) & 1;
                    let q = i32::from(low_bits(qs, j, l)) - if high == 1 { 0 } else { 4 };
                    i32::from(scales[2 * j + l / 16]) * q * i32::from(x)
                })
                .sum()
        })
    }
}

/// The integer sums with AVX2.
#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use std::arch::x86_64::*;

    use super::super::simd::{fold8, halves_i16, hsum8, load_at, load_codes};
    use super::*;

    /// Bits `2s..2s + 2` of every byte of `q`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn crumbs(q: __m256i, s: usize) -> __m256i {
        let count = _mm_cvtsi32_si128(2 * s as i32);
        _mm256_and_si256(_mm256_srl_epi16(q, count), _mm256_set1_epi8(3))
    }

    /// As [`super::portable::q2_k`]. The codes are at most 3, the scales and minimums 15.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(in crate::dot_q8) fn q2_k(w: &[u8; Q2_K_BLOCK_BYTES], x: &Codes) -> (__m256i, __m256i) {
        let scales = &w[..Q2_K_QS];
        let ones = _mm256_set1_epi8(1);
        let mut isum = [_mm256_setzero_si256(); 8];
        let mut msum = [_mm256_setzero_si256(); 8];
        for h in 0..2 {
            let q = load_at(&w[Q2_K_QS + 32 * h..]);
            for s in 0..4 {
                let j = 4 * h + s;
                let xq = load_codes(&x[j]);
                let (a, b) = (scales[2 * j], scales[2 * j + 1]);
                let sc = halves_i16(i16::from(a & 0x0f), i16::from(b & 0x0f));
                let mn = halves_i16(i16::from(a >> 4), i16::from(b >> 4));
                isum[j] = _mm256_madd_epi16(_mm256_maddubs_epi16(crumbs(q, s), xq), sc);
                msum[j] = _mm256_madd_epi16(_mm256_maddubs_epi16(ones, xq), mn);
            }
        }
        (hsum8(isum), hsum8(msum))
    }

    /// As [`super::portable::q3_k`]: the codes plus 4 (0..=7) through `vpmaddubsw`, minus 4
    /// times the activation codes, then `vpmaddwd` with the two scales.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(in crate::dot_q8) fn q3_k(
        w: &[u8; Q3_K_BLOCK_BYTES],
        scales: &[i8; 16],
        x: &Codes,
    ) -> __m256i {
        let hmask = load_at(w);
        let four = _mm256_set1_epi8(4);
        let mut v = [_mm256_setzero_si256(); 8];
        for h in 0..2 {
            let q = load_at(&w[Q3_K_QS + 32 * h..]);
            for s in 0..4 {
                let j = 4 * h + s;
                let bit = _mm256_set1_epi8((1u8 << j) as i8);
                let set = _mm256_cmpeq_epi8(_mm256_and_si256(hmask, bit), bit);
                let biased = _mm256_or_si256(crumbs(q, s), _mm256_and_si256(set, four));
                let xq = load_codes(&x[j]);
                let pairs = _mm256_sub_epi16(
                    _mm256_maddubs_epi16(biased, xq),
                    _mm256_maddubs_epi16(four, xq),
                );
                let sc = halves_i16(i16::from(scales[2 * j]), i16::from(scales[2 * j + 1]));
                v[j] = _mm256_madd_epi16(pairs, sc);
            }
        }
        hsum8(v)
    }

    /// [`super::dot_q2_k`] with the AVX2 sums.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn dot_q2_k(row: &[u8], x: &Q8Activations) -> f32 {
        super::q2_k(row, x, |w, xq| q2_k(w, xq), |dx, s| fold8(dx, s))
    }

    /// [`super::dot_q3_k`] with the AVX2 sums.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn dot_q3_k(row: &[u8], x: &Q8Activations) -> f32 {
        super::q3_k(
            row,
            x,
            |w, scales, xq| q3_k(w, scales, xq),
            |dx, s| fold8(dx, s),
        )
    }
}
