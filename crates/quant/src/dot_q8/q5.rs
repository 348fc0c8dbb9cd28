//! Q5_0 and Q5_1 rows against 8-bit activations.
//!
//! A weight block and an activation block both hold 32 values, so a block's integer sum is
//! `sum_i q_i x_i` over its 5-bit codes `q` (0..=31) and the activation codes `x`. With `dx`
//! the activation block's scale and `s` its scaled code sum, a Q5_0 block (value `(q - 16) d`)
//! adds `d dx * sum - 16 * d s` and a Q5_1 block (value `q d + m`) adds `d dx * sum + m s`. The
//! kernels take eight blocks at a time (one horizontal reduction for the eight, the scales
//! widened together), and a row's last blocks one by one.

use super::{Path, Q8_BLOCK, Q8Activations, dot8, f16_at, fold8};
use crate::q5::{Q5_0_BLOCK_BYTES, Q5_1_BLOCK_BYTES};

/// Eight activation blocks.
type Codes = [[i8; Q8_BLOCK]; 8];

/// Where a Q5_0 block's fifth bits start (its nibbles follow them).
const Q5_0_BITS: usize = 2;
/// Where a Q5_1 block's fifth bits start.
const Q5_1_BITS: usize = 4;

/// `row · x` for a row of Q5_0 blocks.
pub(super) fn dot_q5_0(path: Path, row: &[u8], x: &Q8Activations) -> f32 {
    match path {
        Path::Portable => q5(
            row,
            x,
            None,
            scales,
            portable::sums::<Q5_0_BLOCK_BYTES, Q5_0_BITS>,
            Folds {
                fold: fold8,
                dot: dot8,
            },
            portable::sum::<Q5_0_BLOCK_BYTES, Q5_0_BITS>,
        ),
        // SAFETY: `Path::Avx2` exists only where the CPU has the features.
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => unsafe { avx2::dot_q5_0(row, x) },
    }
}

/// `row · x` for a row of Q5_1 blocks.
pub(super) fn dot_q5_1(path: Path, row: &[u8], x: &Q8Activations) -> f32 {
    match path {
        Path::Portable => q5(
            row,
            x,
            Some(2),
            scales,
            portable::sums::<Q5_1_BLOCK_BYTES, Q5_1_BITS>,
            Folds {
                fold: fold8,
                dot: dot8,
            },
            portable::sum::<Q5_1_BLOCK_BYTES, Q5_1_BITS>,
        ),
        // SAFETY: as in `dot_q5_0`.
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => unsafe { avx2::dot_q5_1(row, x) },
    }
}

/// The f16 at byte `at` of each of eight blocks, widened to f32 in plain Rust.
fn scales<const B: usize>(blocks: &[[u8; B]; 8], at: usize) -> [f32; 8] {
    std::array::from_fn(|j| f16_at(&blocks[j], at))
}

/// [`fold8`] and [`dot8`], or their AVX2 twins.
struct Folds<F, D> {
    fold: F,
    dot: D,
}

/// Adds up Q5_0 blocks (`m = None`) or Q5_1 blocks (`m = Some(offset of m)`) of `B` bytes:
/// eight at a time, with their f16 fields widened by `f16x8` and their integer sums `S` from
/// `sums`, then a row's last blocks one by one with `sum`.
#[inline(always)]
fn q5<const B: usize, S>(
    row: &[u8],
    x: &Q8Activations,
    m: Option<usize>,
    f16x8: impl Fn(&[[u8; B]; 8], usize) -> [f32; 8],
    sums: impl Fn(&[[u8; B]; 8], &Codes) -> S,
    folds: Folds<impl Fn(&[f32; 8], S) -> f32, impl Fn(&[f32; 8], &[f32; 8]) -> f32>,
    sum: impl Fn(&[u8; B], &[i8; Q8_BLOCK]) -> i32,
) -> f32 {
    let (groups, rest) = row.as_chunks::<B>().0.as_chunks::<8>();
    let mut acc = 0.0f32;
    for (w, (xq, dx, s)) in groups.iter().zip(x.super_blocks()) {
        let d = f16x8(w, 0);
        let scaled = (folds.fold)(&std::array::from_fn(|j| d[j] * dx[j]), sums(w, xq));
        acc += match m {
            None => scaled - 16.0 * (folds.dot)(&d, s),
            Some(at) => scaled + (folds.dot)(&f16x8(w, at), s),
        };
    }
    for (w, (xq, dx, s)) in rest.iter().zip(x.blocks().skip(8 * groups.len())) {
        let d = f16_at(w, 0);
        let scaled = d * dx * sum(w, xq) as f32;
        acc += match m {
            None => scaled - 16.0 * (d * s),
            Some(at) => scaled + f16_at(w, at) * s,
        };
    }
    acc
}

/// The integer sums in plain Rust.
pub(super) mod portable {
    use super::Codes;

    /// `sum_i q_i x_i` for a block of `B` bytes whose fifth bits start at `AT` (4 bytes, then
    /// 16 bytes of nibbles).
    pub(in crate::dot_q8) fn sum<const B: usize, const AT: usize>(
        w: &[u8; B],
        x: &[i8; 32],
    ) -> i32 {
        crate::q5::codes(&w[AT..AT + 4], &w[AT + 4..])
            .iter()
            .zip(x)
            .map(|(&q, &x)| i32::from(q) * i32::from(x))
            .sum()
    }

    /// [`sum`] for eight blocks.
    pub(in crate::dot_q8) fn sums<const B: usize, const AT: usize>(
        w: &[[u8; B]; 8],
        x: &Codes,
    ) -> [i32; 8] {
        std::array::from_fn(|j| sum::<B, AT>(&w[j], &x[j]))
    }
}

/// The integer sums with AVX2.
#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use std::arch::x86_64::*;

    use super::super::simd::{
        bit_bytes, dot_u8_i8, dot8, f16x8, fold8, hsum, hsum8, load_codes, nibbles_at,
    };
    use super::*;

    /// Eight i32 partial sums of `q x` for a block of `B` bytes whose fifth bits start at `AT`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn products<const B: usize, const AT: usize>(w: &[u8; B], x: &[i8; 32]) -> __m256i {
        let high = u32::from_le_bytes([w[AT], w[AT + 1], w[AT + 2], w[AT + 3]]);
        let fifth = _mm256_and_si256(bit_bytes(high), _mm256_set1_epi8(0x10));
        let q = _mm256_or_si256(nibbles_at(&w[AT + 4..]), fifth);
        dot_u8_i8(q, load_codes(x))
    }

    /// As [`super::portable::sum`].
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(in crate::dot_q8) fn sum<const B: usize, const AT: usize>(
        w: &[u8; B],
        x: &[i8; 32],
    ) -> i32 {
        hsum(products::<B, AT>(w, x))
    }

    /// As [`super::portable::sums`], in the lanes of a vector.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(in crate::dot_q8) fn sums<const B: usize, const AT: usize>(
        w: &[[u8; B]; 8],
        x: &Codes,
    ) -> __m256i {
        let mut v = [_mm256_setzero_si256(); 8];
        for (v, (w, x)) in v.iter_mut().zip(w.iter().zip(x)) {
            *v = products::<B, AT>(w, x);
        }
        hsum8(v)
    }

    /// [`super::dot_q5_0`] with the AVX2 sums.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn dot_q5_0(row: &[u8], x: &Q8Activations) -> f32 {
        q5(
            row,
            x,
            None,
            |w, at| f16x8(w, at),
            |w, xq| sums::<Q5_0_BLOCK_BYTES, Q5_0_BITS>(w, xq),
            Folds {
                fold: |a: &[f32; 8], s| fold8(a, s),
                dot: |a: &[f32; 8], b: &[f32; 8]| dot8(a, b),
            },
            |w, xq| sum::<Q5_0_BLOCK_BYTES, Q5_0_BITS>(w, xq),
        )
    }

    /// [`super::dot_q5_1`] with the AVX2 sums.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn dot_q5_1(row: &[u8], x: &Q8Activations) -> f32 {
        q5(
            row,
            x,
            Some(2),
            |w, at| f16x8(w, at),
            |w, xq| sums::<Q5_1_BLOCK_BYTES, Q5_1_BITS>(w, xq),
            Folds {
                fold: |a: &[f32; 8], s| fold8(a, s),
                dot: |a: &[f32; 8], b: &[f32; 8]| dot8(a, b),
            },
            |w, xq| sum::<Q5_1_BLOCK_BYTES, Q5_1_BITS>(w, xq),
        )
    }
}
