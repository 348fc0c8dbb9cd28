//! Q4_K, Q5_K and Q6_K rows against 8-bit activations.
//!
//! A super-block of 256 weights meets eight activation blocks `j` (scale `dx_j`, scaled code
//! sum `s_j`). The kernels return one integer sum per activation block, the weights' sub-block
//! scales multiplied in:
//!
//! - Q4_K and Q5_K: a sub-block is an activation block; the sum is `sc_j * sum_i q_i x_i` over
//!   the 4- or 5-bit codes (at most `63 * 31 * 127 * 32 < 2^23`), and the super-block adds up
//!   to `d * sum_j dx_j * sum_j - dmin * sum_j mn_j * s_j`.
//! - Q6_K: an activation block holds two 16-value sub-blocks with signed scales `a` and `b`; the
//!   sum is `a * sum_{first 16} (q - 32) x + b * sum_{last 16} (q - 32) x` (at most
//!   `2 * 128 * 32 * 127 * 16 < 2^24`), and the super-block adds up to `d * sum_j dx_j * sum_j`.
//!
//! The sums stay below 2^24, so they convert to f32 exactly; [`super::fold8`] and
//! [`super::weigh8`] (or their AVX2 twins) scale and add them.

use super::{Path, Q8_BLOCK, Q8Activations, f16_at, fold8, weigh8};
use crate::k_quants::{Q4_K_BLOCK_BYTES, Q5_K_BLOCK_BYTES, Q6_K_BLOCK_BYTES};

/// The eight activation blocks of one super-block.
type Codes = [[i8; Q8_BLOCK]; 8];

/// `row · x` for a row of Q4_K super-blocks.
pub(super) fn dot_q4_k(path: Path, row: &[u8], x: &Q8Activations) -> f32 {
    match path {
        Path::Portable => with_mins(row, x, portable::q4_k, fold8, weigh8),
        // SAFETY: `Path::Avx2` exists only where the CPU has the features.
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => unsafe { avx2::dot_q4_k(row, x) },
    }
}

/// `row · x` for a row of Q5_K super-blocks.
pub(super) fn dot_q5_k(path: Path, row: &[u8], x: &Q8Activations) -> f32 {
    match path {
        Path::Portable => with_mins(row, x, portable::q5_k, fold8, weigh8),
        // SAFETY: as in `dot_q4_k`.
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => unsafe { avx2::dot_q5_k(row, x) },
    }
}

/// `row · x` for a row of Q6_K super-blocks.
pub(super) fn dot_q6_k(path: Path, row: &[u8], x: &Q8Activations) -> f32 {
    match path {
        Path::Portable => q6_k(row, x, portable::q6_k, fold8),
        // SAFETY: as in `dot_q4_k`.
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => unsafe { avx2::dot_q6_k(row, x) },
    }
}

/// The eight 6-bit scales and minimums of a Q4_K or Q5_K super-block from its 12 scale bytes
/// `s`, four at a time in `u32` words (the layout [`crate::k_quants`] describes: sub-blocks
/// 0..4 in the low six bits of `s[0..4]` and `s[4..8]`, sub-blocks 4..8 in the nibbles of
/// `s[8..12]` with their top two bits in the top bits of `s[0..8]`).
#[inline(always)]
pub(super) fn scales_mins(s: &[u8]) -> ([u8; 8], [u8; 8]) {
    let word = |i: usize| u32::from_le_bytes([s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]]);
    let (a, b, c) = (word(0), word(1), word(2));
    let low6 = 0x3f3f_3f3f;
    let (low4, top2) = (0x0f0f_0f0f, 0x0303_0303);
    let scales_hi = (c & low4) | (((a >> 6) & top2) << 4);
    let mins_hi = ((c >> 4) & low4) | (((b >> 6) & top2) << 4);
    let join = |lo: u32, hi: u32| (u64::from(lo) | (u64::from(hi) << 32)).to_le_bytes();
    (join(a & low6, scales_hi), join(b & low6, mins_hi))
}

/// Adds up Q4_K or Q5_K super-blocks (`B` bytes each; `d, dmin` then the 12 scale bytes lead
/// both layouts): `sums` gives the scaled integer sums `S`, `fold` scales them by the
/// activation scales, `weigh` the minimums by the scaled code sums.
#[inline(always)]
fn with_mins<const B: usize, S>(
    row: &[u8],
    x: &Q8Activations,
    sums: impl Fn(&[u8; B], &[u8; 8], &Codes) -> S,
    fold: impl Fn(&[f32; 8], S) -> f32,
    weigh: impl Fn([u8; 8], &[f32; 8]) -> f32,
) -> f32 {
    let mut acc = 0.0f32;
    for (w, (xq, dx, s)) in row.as_chunks::<B>().0.iter().zip(x.super_blocks()) {
        let (sc, mn) = scales_mins(&w[4..16]);
        let scaled = fold(dx, sums(w, &sc, xq));
        acc += f16_at(w, 0) * scaled - f16_at(w, 2) * weigh(mn, s);
    }
    acc
}

/// Adds up Q6_K super-blocks: `sums` gives the scaled integer sums `S`, `fold` scales them by
/// the activation scales.
#[inline(always)]
fn q6_k<S>(
    row: &[u8],
    x: &Q8Activations,
    sums: impl Fn(&[u8; Q6_K_BLOCK_BYTES], &Codes) -> S,
    fold: impl Fn(&[f32; 8], S) -> f32,
) -> f32 {
    let mut acc = 0.0f32;
    for (w, (xq, dx, _)) in row.as_chunks().0.iter().zip(x.super_blocks()) {
        acc += f16_at(w, Q6_K_BLOCK_BYTES - 2) * fold(dx, sums(w, xq));
    }
    acc
}

/// The integer sums in plain Rust.
pub(super) mod portable {
    use super::*;

    /// `sc_j * sum q x` per activation block `j` for the 4-bit codes of a Q4_K super-block:
    /// sub-blocks `2c` and `2c + 1` are the low and high nibbles of `qs[32c..32c + 32]`.
    pub(in crate::dot_q8) fn q4_k(w: &[u8; Q4_K_BLOCK_BYTES], sc: &[u8; 8], x: &Codes) -> [i32; 8] {
        let qs = &w[16..];
        std::array::from_fn(|j| {
            let chunk = &qs[32 * (j / 2)..32 * (j / 2) + 32];
            let shift = 4 * (j % 2);
            let sum: i32 = chunk
                .iter()
                .zip(&x[j])
                .map(|(&q, &x)| i32::from((q >> shift) & 0x0f) * i32::from(x))
                .sum();
            i32::from(sc[j]) * sum
        })
    }

    /// `sc_j * sum q x` per activation block `j` for the 5-bit codes of a Q5_K super-block:
    /// Q4_K's nibbles plus bit `j` of `qh[l]` as bit 4 of value `l` of sub-block `j`.
    pub(in crate::dot_q8) fn q5_k(w: &[u8; Q5_K_BLOCK_BYTES], sc: &[u8; 8], x: &Codes) -> [i32; 8] {
        let (qh, qs) = (&w[16..48], &w[48..]);
        std::array::from_fn(|j| {
            let chunk = &qs[32 * (j / 2)..32 * (j / 2) + 32];
            let shift = 4 * (j % 2);
            let sum: i32 = chunk
                .iter()
                .zip(qh)
                .zip(&x[j])
                .map(|((&q, &h), &x)| {
                    let q = ((q >> shift) & 0x0f) | (((h >> j) & 1) << 4);
                    i32::from(q) * i32::from(x)
                })
                .sum();
            i32::from(sc[j]) * sum
        })
    }

    /// `a * sum (q - 32) x + b * sum (q - 32) x` over the two 16-value halves of each
    /// activation block, for the 6-bit codes of a Q6_K super-block.
    pub(in crate::dot_q8) fn q6_k(w: &[u8; Q6_K_BLOCK_BYTES], x: &Codes) -> [i32; 8] {
        let (ql, qh, scales) = (&w[..128], &w[128..192], &w[192..208]);
        std::array::from_fn(|j| {
            let (h, t) = (j / 4, j % 4);
            let low = &ql[64 * h + 32 * (t % 2)..][..32];
            let high = &qh[32 * h..][..32];
            let mut halves = [0i32; 2];
            for (l, &x) in x[j].iter().enumerate() {
                let q = ((low[l] >> (4 * (t / 2))) & 0x0f) | (((high[l] >> (2 * t)) & 3) << 4);
                halves[l / 16] += (i32::from(q) - 32) * i32::from(x);
            }
            let scale = |k: usize| i32::from(scales[8 * h + 2 * t + k] as i8);
            scale(0) * halves[0] + scale(1) * halves[1]
        })
    }
}

/// The integer sums with AVX2: `vpmaddubsw` of the codes and the activation codes, then
/// `vpmaddwd` with the sub-block scales (in place of ones), eight blocks reduced at once.
#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use std::arch::x86_64::*;

    use super::super::simd::{fold8, halves_i16, hsum8, load_at, load_codes, weigh8};
    use super::*;

    /// `scale * sum q x` in eight i32 lanes, for unsigned codes `q`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn scaled(q: __m256i, x: &[i8; 32], scale: u8) -> __m256i {
        let pairs = _mm256_maddubs_epi16(q, load_codes(x));
        _mm256_madd_epi16(pairs, _mm256_set1_epi16(i16::from(scale)))
    }

    /// As [`super::portable::q4_k`].
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(in crate::dot_q8) fn q4_k(w: &[u8; Q4_K_BLOCK_BYTES], sc: &[u8; 8], x: &Codes) -> __m256i {
        let mask = _mm256_set1_epi8(0x0f);
        let mut v = [_mm256_setzero_si256(); 8];
        for c in 0..4 {
            let q = load_at(&w[16 + 32 * c..]);
            let lo = _mm256_and_si256(q, mask);
            let hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), mask);
            v[2 * c] = scaled(lo, &x[2 * c], sc[2 * c]);
            v[2 * c + 1] = scaled(hi, &x[2 * c + 1], sc[2 * c + 1]);
        }
        hsum8(v)
    }

    /// As [`super::portable::q5_k`].
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(in crate::dot_q8) fn q5_k(w: &[u8; Q5_K_BLOCK_BYTES], sc: &[u8; 8], x: &Codes) -> __m256i {
        let mask = _mm256_set1_epi8(0x0f);
        let sixteen = _mm256_set1_epi8(0x10);
        let qh = load_at(&w[16..]);
        let fifth = |j: usize| {
            let bit = _mm256_set1_epi8((1u8 << j) as i8);
            let set = _mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit);
            _mm256_and_si256(set, sixteen)
        };
        let mut v = [_mm256_setzero_si256(); 8];
        for c in 0..4 {
            let q = load_at(&w[48 + 32 * c..]);
            let lo = _mm256_or_si256(_mm256_and_si256(q, mask), fifth(2 * c));
            let hi = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(q, 4), mask),
                fifth(2 * c + 1),
            );
            v[2 * c] = scaled(lo, &x[2 * c], sc[2 * c]);
            v[2 * c + 1] = scaled(hi, &x[2 * c + 1], sc[2 * c + 1]);
        }
        hsum8(v)
    }

    /// As [`super::portable::q6_k`]: `vpmaddubsw` of the codes (0..=63) minus `vpmaddubsw` of
    /// 32 (each pair within `2 * 63 * 127 < 2^15`), then `vpmaddwd` with the two scales.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(in crate::dot_q8) fn q6_k(w: &[u8; Q6_K_BLOCK_BYTES], x: &Codes) -> __m256i {
        let mask = _mm256_set1_epi8(0x0f);
        let two = _mm256_set1_epi8(3);
        let offset = _mm256_set1_epi8(32);
        let scales = &w[192..208];
        let mut v = [_mm256_setzero_si256(); 8];
        for h in 0..2 {
            let ql0 = load_at(&w[64 * h..]);
            let ql1 = load_at(&w[64 * h + 32..]);
            let qh = load_at(&w[128 + 32 * h..]);
            for t in 0..4 {
                let low = match t {
                    0 => _mm256_and_si256(ql0, mask),
                    1 => _mm256_and_si256(ql1, mask),
                    2 => _mm256_and_si256(_mm256_srli_epi16(ql0, 4), mask),
                    _ => _mm256_and_si256(_mm256_srli_epi16(ql1, 4), mask),
                };
                let count = _mm_cvtsi32_si128(2 * t as i32);
                let high = _mm256_and_si256(_mm256_srl_epi16(qh, count), two);
                let q = _mm256_or_si256(low, _mm256_slli_epi16(high, 4));
                let xq = load_codes(&x[4 * h + t]);
                let pairs = _mm256_sub_epi16(
                    _mm256_maddubs_epi16(q, xq),
                    _mm256_maddubs_epi16(offset, xq),
                );
                let k = 8 * h + 2 * t;
                let scale = halves_i16(i16::from(scales[k] as i8), i16::from(scales[k + 1] as i8));
                v[4 * h + t] = _mm256_madd_epi16(pairs, scale);
            }
        }
        hsum8(v)
    }

    /// [`super::dot_q4_k`] with the AVX2 sums.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn dot_q4_k(row: &[u8], x: &Q8Activations) -> f32 {
        with_mins(
            row,
            x,
            |w, sc, xq| q4_k(w, sc, xq),
            |dx, s| fold8(dx, s),
            |mn, s| weigh8(mn, s),
        )
    }

    /// [`super::dot_q5_k`] with the AVX2 sums.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn dot_q5_k(row: &[u8], x: &Q8Activations) -> f32 {
        with_mins(
            row,
            x,
            |w, sc, xq| q5_k(w, sc, xq),
            |dx, s| fold8(dx, s),
            |mn, s| weigh8(mn, s),
        )
    }

    /// [`super::dot_q6_k`] with the AVX2 sums.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn dot_q6_k(row: &[u8], x: &Q8Activations) -> f32 {
        super::q6_k(row, x, |w, xq| q6_k(w, xq), |dx, s| fold8(dx, s))
    }
}
