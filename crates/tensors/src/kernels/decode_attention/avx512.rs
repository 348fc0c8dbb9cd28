//! [`attend`](super::attend) on AVX-512 vectors, for head sizes that are whole vectors of
//! sixteen (64, 128, 256: every model we load); others take the AVX2 copy.
//!
//! Twice the AVX2 copy's width, and twice its registers, which the weighted sums use:
//!
//! - scores come sixteen positions at a time: sixteen running sums, one per position, reduced
//!   together into one vector of sixteen scores; f16 keys are widened once per sixteen positions
//!   for all the group's queries;
//! - the weighted sums of values take up to four of the group's queries at once, 64 values of
//!   each in registers, so that each position's values are loaded and widened once for all four
//!   (the AVX2 copy, with half the registers, widens them once per query).
//!
//! The same arithmetic as the portable copy, with the additions in another order.

use std::arch::x86_64::*;

use half::f16;

use super::{CacheElement, KEYS_AHEAD, KvHead, Scratch, fetch_keys, softmax_in_place};

/// f32 lanes of a vector, and positions scored together.
const LANES: usize = 16;

/// Queries of a group whose weighted sums are taken together.
const QUERIES_PER_SET: usize = 4;

/// Whether this CPU runs this copy (AVX-512 F) for heads of `head_dim` values.
pub(super) fn runs(head_dim: usize) -> bool {
    head_dim.is_multiple_of(LANES) && std::arch::is_x86_feature_detected!("avx512f")
}

/// The group's outputs (`group * head_dim` values) into `out`.
///
/// # Safety
/// The CPU must have AVX-512 F, and `head.head_dim` must be a multiple of 16 ([`runs`]).
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn attend<T: CacheElement>(
    head: &KvHead<'_, T>,
    scratch: &mut Scratch,
    out: &mut [f32],
) {
    let (queries, keys, values) = (head.queries, head.keys, head.values);
    let (head_dim, scale, len) = (head.head_dim, head.scale, head.len());
    assert!(head_dim.is_multiple_of(LANES), "whole vectors per head");
    let (block_buffer, scores) = scratch.sized(LANES * head_dim, head.group() * len);
    // Whole blocks of sixteen positions, then the rest as a block padded with zero keys.
    for (b, block) in keys.chunks(LANES * head_dim).enumerate() {
        let positions = block.len() / head_dim;
        fetch_keys(keys, head_dim, b * LANES + KEYS_AHEAD, LANES);
        let block = widened_block(block, block_buffer);
        // The block's positions as lanes (all sixteen but in the last block).
        let lanes: __mmask16 = (u32::MAX >> (32 - positions)) as __mmask16;
        for (g, q) in queries.chunks_exact(head_dim).enumerate() {
            let at = g * len + b * LANES;
            let out = &mut scores[at..at + positions];
            // SAFETY: the store writes only the first `positions` lanes, which `out` holds
            // (a masked store does not touch the others); it is unaligned.
            unsafe {
                _mm512_mask_storeu_ps(out.as_mut_ptr(), lanes, scores_of_sixteen(q, block, scale))
            };
        }
    }
    for scores in scores.chunks_exact_mut(len.max(1)) {
        softmax_in_place(scores);
    }
    let per_set = QUERIES_PER_SET * head_dim;
    for (s, out) in out.chunks_mut(per_set).enumerate() {
        let p = &scores[s * QUERIES_PER_SET * len..][..out.len() / head_dim * len];
        weighted_sums(p, values, head_dim, out);
    }
}

/// A block of up to sixteen positions' keys as f32 (`16 * head_dim` values): in place where
/// they are a whole block of f32, else widened into `buffer` (as long), the missing positions
/// zero.
#[inline]
#[target_feature(enable = "avx512f")]
fn widened_block<'a, T: CacheElement>(block: &'a [T], buffer: &'a mut [f32]) -> &'a [f32] {
    if let Some(block) = T::as_f32(block)
        && block.len() == buffer.len()
    {
        return block;
    }
    let (filled, missing) = buffer.split_at_mut(block.len());
    for (out, sixteen) in filled
        .chunks_exact_mut(LANES)
        .zip(block.chunks_exact(LANES))
    {
        // SAFETY: `out` holds sixteen f32; the store is unaligned.
        unsafe { _mm512_storeu_ps(out.as_mut_ptr(), load(sixteen)) };
    }
    missing.fill(0.0);
    buffer
}

/// Sixteen cache values as a vector (f16 widened).
#[inline]
#[target_feature(enable = "avx512f")]
fn load<T: CacheElement>(values: &[T]) -> __m512 {
    if let Some(values) = T::as_f32(values) {
        let sixteen: &[f32; LANES] = values[..LANES].try_into().expect("sixteen values");
        // SAFETY: `sixteen` holds sixteen f32; the load is unaligned.
        return unsafe { _mm512_loadu_ps(sixteen.as_ptr()) };
    }
    let halves = T::as_f16(values).expect("a cache of f32 or f16");
    let sixteen: &[f16; LANES] = halves[..LANES].try_into().expect("sixteen values");
    // SAFETY: `sixteen` holds 32 bytes; the load is unaligned.
    _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(sixteen.as_ptr().cast()) })
}

/// `scale * (q · k)` for the sixteen positions' keys of `block` (`16 * q.len()` values), one
/// position a lane.
#[inline]
#[target_feature(enable = "avx512f")]
fn scores_of_sixteen(q: &[f32], block: &[f32], scale: f32) -> __m512 {
    let head_dim = q.len();
    let mut sums = [_mm512_setzero_ps(); LANES];
    for d in (0..head_dim).step_by(LANES) {
        let q = load(&q[d..]);
        for (j, sum) in sums.iter_mut().enumerate() {
            *sum = _mm512_fmadd_ps(q, load(&block[j * head_dim + d..]), *sum);
        }
    }
    _mm512_mul_ps(sum_each(sums), _mm512_set1_ps(scale))
}

/// The sum of each of sixteen vectors' lanes, as one vector: four rounds, each halving the
/// vectors by adding pairs of lanes of two of them.
#[inline]
#[target_feature(enable = "avx512f")]
fn sum_each(v: [__m512; LANES]) -> __m512 {
    // In each 128-bit quarter of the result for vectors a, b:
    // [a0 + a2, b0 + b2, a1 + a3, b1 + b3].
    let mut pairs = [_mm512_setzero_ps(); 8];
    for (i, pair) in pairs.iter_mut().enumerate() {
        let (a, b) = (v[2 * i], v[2 * i + 1]);
        *pair = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    }
    // Each quarter: one sum of that quarter's lanes for each of four vectors, in order.
    let mut fours = [_mm512_setzero_ps(); 4];
    for (i, four) in fours.iter_mut().enumerate() {
        let (x, y) = (
            _mm512_castps_pd(pairs[2 * i]),
            _mm512_castps_pd(pairs[2 * i + 1]),
        );
        let (low, high) = (_mm512_unpacklo_pd(x, y), _mm512_unpackhi_pd(x, y));
        *four = _mm512_add_ps(_mm512_castpd_ps(low), _mm512_castpd_ps(high));
    }
    // Quarters of eight vectors: [0..4 of quarters 0+1, 0..4 of 2+3, 4..8 of 0+1, 4..8 of 2+3].
    let halved = |a: __m512, b: __m512| {
        let even = _mm512_shuffle_f32x4::<0b10_00_10_00>(a, b);
        let odd = _mm512_shuffle_f32x4::<0b11_01_11_01>(a, b);
        _mm512_add_ps(even, odd)
    };
    let (first, second) = (halved(fours[0], fours[1]), halved(fours[2], fours[3]));
    halved(first, second)
}

/// `out[q] = sum_t p[q][t] * values[t]` for the queries of one set (`out` holds one to four
/// queries' `head_dim` values, `p` as many rows of scores), 64 values of each query at a time
/// in registers, then sixteen.
#[inline]
#[target_feature(enable = "avx512f")]
fn weighted_sums<T: CacheElement>(p: &[f32], values: &[T], head_dim: usize, out: &mut [f32]) {
    match out.len() / head_dim {
        // One or two queries: two sets of sums, for even and odd positions, so that enough
        // multiply-adds run at once.
        1 => over_values::<T, 1, 2>(p, values, out),
        2 => over_values::<T, 2, 2>(p, values, out),
        3 => over_values::<T, 3, 1>(p, values, out),
        4 => over_values::<T, 4, 1>(p, values, out),
        n => panic!("one to four queries per set, not {n}"),
    }
}

/// [`weighted_sums`] for `Q` queries, in `S` sets of sums taking every `S`th position.
#[inline]
#[target_feature(enable = "avx512f")]
fn over_values<T: CacheElement, const Q: usize, const S: usize>(
    p: &[f32],
    values: &[T],
    out: &mut [f32],
) {
    let head_dim = out.len() / Q;
    let mut d = 0;
    while d + 4 * LANES <= head_dim {
        dims::<T, Q, 4, S>(p, values, head_dim, d, out);
        d += 4 * LANES;
    }
    while d < head_dim {
        dims::<T, Q, 1, S>(p, values, head_dim, d, out);
        d += LANES;
    }
}

/// Values `d..d + 16 V` of [`weighted_sums`]' `Q` outputs.
#[inline]
#[target_feature(enable = "avx512f")]
fn dims<T: CacheElement, const Q: usize, const V: usize, const S: usize>(
    p: &[f32],
    values: &[T],
    head_dim: usize,
    d: usize,
    out: &mut [f32],
) {
    let len = p.len() / Q;
    let mut sums = [[[_mm512_setzero_ps(); V]; Q]; S];
    let add = |sums: &mut [[__m512; V]; Q], t: usize| {
        let position = &values[t * head_dim + d..];
        let mut v = [_mm512_setzero_ps(); V];
        for (i, v) in v.iter_mut().enumerate() {
            *v = load(&position[i * LANES..]);
        }
        for (q, sums) in sums.iter_mut().enumerate() {
            let weight = _mm512_set1_ps(p[q * len + t]);
            for (sum, v) in sums.iter_mut().zip(v) {
                *sum = _mm512_fmadd_ps(weight, v, *sum);
            }
        }
    };
    let whole = len / S * S;
    for t in (0..whole).step_by(S) {
        for (s, sums) in sums.iter_mut().enumerate() {
            add(sums, t + s);
        }
    }
    for t in whole..len {
        add(&mut sums[0], t);
    }
    let mut total = sums[0];
    for set in &sums[1..] {
        for (total, set) in total.iter_mut().flatten().zip(set.iter().flatten()) {
            *total = _mm512_add_ps(*total, *set);
        }
    }
    for (q, total) in total.iter().enumerate() {
        for (i, sum) in total.iter().enumerate() {
            let at = q * head_dim + d + i * LANES;
            let sixteen: &mut [f32; LANES] = (&mut out[at..at + LANES])
                .try_into()
                .expect("sixteen values");
            // SAFETY: `sixteen` holds sixteen f32; the store is unaligned.
            unsafe { _mm512_storeu_ps(sixteen.as_mut_ptr(), *sum) };
        }
    }
}
