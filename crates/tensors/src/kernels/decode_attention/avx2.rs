//! [`attend`](super::attend) on AVX2, FMA and F16C vectors, for a group of queries over many
//! positions (a batch of streams, a long context):
//!
//! - scores come eight positions at a time: eight running sums, one per position, reduced
//!   together into one vector of eight scores, instead of one horizontal sum per position and
//!   query (which had cost more than the multiply-adds);
//! - f16 keys are widened once per eight positions for all the group's queries;
//! - each query's weighted sum of values stays in registers (32 values at a time) over all
//!   positions instead of being loaded and stored at every position.
//!
//! The same arithmetic as the portable copy, with the additions in another order.

use std::arch::x86_64::*;

use half::f16;

use super::{CacheElement, KEYS_AHEAD, KvHead, Scratch, fetch_keys, softmax_in_place};

/// Positions scored together.
const POSITIONS: usize = 8;

/// The group's outputs (`group * head_dim` values) into `out`.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn attend<T: CacheElement>(
    head: &KvHead<'_, T>,
    scratch: &mut Scratch,
    out: &mut [f32],
) {
    let (queries, keys, values) = (head.queries, head.keys, head.values);
    let (head_dim, scale, len) = (head.head_dim, head.scale, head.len());
    let (position, scores) = scratch.sized(POSITIONS * head_dim, head.group() * len);
    // Positions in whole blocks of eight, then the rest one at a time.
    let whole = len / POSITIONS * POSITIONS;
    let (blocks, rest) = keys.split_at(whole * head_dim);
    for (b, block) in blocks.chunks_exact(POSITIONS * head_dim).enumerate() {
        fetch_keys(keys, head_dim, b * POSITIONS + KEYS_AHEAD, POSITIONS);
        let block = widened(block, position);
        for (g, q) in queries.chunks_exact(head_dim).enumerate() {
            let at = g * len + b * POSITIONS;
            let eight: &mut [f32; POSITIONS] = (&mut scores[at..at + POSITIONS])
                .try_into()
                .expect("eight scores");
            scores_of_eight(q, block, scale, eight);
        }
    }
    for (t, k) in (whole..).zip(rest.chunks_exact(head_dim)) {
        let k = widened(k, position);
        for (g, q) in queries.chunks_exact(head_dim).enumerate() {
            scores[g * len + t] = dot(q, k) * scale;
        }
    }
    for scores in scores.chunks_exact_mut(len.max(1)) {
        softmax_in_place(scores);
    }
    for (g, out) in out.chunks_exact_mut(head_dim).enumerate() {
        weighted_sum(&scores[g * len..(g + 1) * len], values, out);
    }
}

/// `values` as f32: themselves, or widened into `scratch` (at least as long).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn widened<'a, T: CacheElement>(values: &'a [T], scratch: &'a mut [f32]) -> &'a [f32] {
    if let Some(values) = T::as_f32(values) {
        return values;
    }
    let scratch = &mut scratch[..values.len()];
    let (blocks, rest) = values.as_chunks::<8>();
    let (out_blocks, out_rest) = scratch.as_chunks_mut::<8>();
    for (block, out) in blocks.iter().zip(out_blocks) {
        // SAFETY: `out` holds eight f32.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), load8(block)) };
    }
    for (out, &value) in out_rest.iter_mut().zip(rest) {
        *out = value.widen();
    }
    scratch
}

/// Eight cache values as a vector (f16 widened by F16C).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load8<T: CacheElement>(values: &[T; 8]) -> __m256 {
    if let Some(values) = T::as_f32(values) {
        return load(values);
    }
    let halves = T::as_f16(values).expect("a cache of f32 or f16");
    let eight: &[f16; 8] = halves.try_into().expect("eight values");
    // SAFETY: `eight` holds 16 bytes; the load is unaligned.
    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(eight.as_ptr().cast()) })
}

/// Eight f32 as a vector.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load(values: &[f32]) -> __m256 {
    let eight: &[f32; 8] = values[..8].try_into().expect("eight values");
    // SAFETY: `eight` holds eight f32; the load is unaligned.
    unsafe { _mm256_loadu_ps(eight.as_ptr()) }
}

/// `scale * (q · k)` for the eight positions' keys of `block` (`8 * q.len()` values) into
/// `out`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn scores_of_eight(q: &[f32], block: &[f32], scale: f32, out: &mut [f32; POSITIONS]) {
    let head_dim = q.len();
    let vectors = head_dim / 8 * 8;
    let mut sums = [_mm256_setzero_ps(); POSITIONS];
    for d in (0..vectors).step_by(8) {
        let q = load(&q[d..]);
        for (j, sum) in sums.iter_mut().enumerate() {
            *sum = _mm256_fmadd_ps(q, load(&block[j * head_dim + d..]), *sum);
        }
    }
    // SAFETY: `out` holds eight f32.
    unsafe {
        _mm256_storeu_ps(
            out.as_mut_ptr(),
            _mm256_mul_ps(sum_each(sums), _mm256_set1_ps(scale)),
        )
    };
    if vectors < head_dim {
        for (j, out) in out.iter_mut().enumerate() {
            let k = &block[j * head_dim..(j + 1) * head_dim];
            let tail: f32 = (vectors..head_dim).map(|d| q[d] * k[d]).sum();
            *out += tail * scale;
        }
    }
}

/// The sum of each of eight vectors' lanes, as one vector.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn sum_each(v: [__m256; 8]) -> __m256 {
    // Pairwise within each 128-bit half: [v0 01, v0 23, v1 01, v1 23 | v0 45, v0 67, ...].
    let (h01, h23) = (_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
    let (h45, h67) = (_mm256_hadd_ps(v[4], v[5]), _mm256_hadd_ps(v[6], v[7]));
    // [v0 0..4, v1 0..4, v2 0..4, v3 0..4 | the same of lanes 4..8], and for v4..v8.
    let (h0123, h4567) = (_mm256_hadd_ps(h01, h23), _mm256_hadd_ps(h45, h67));
    let low = _mm256_permute2f128_ps::<0x20>(h0123, h4567);
    let high = _mm256_permute2f128_ps::<0x31>(h0123, h4567);
    _mm256_add_ps(low, high)
}

/// `a · b` for one position (fewer than eight left).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let vectors = a.len() / 8 * 8;
    let mut sum = _mm256_setzero_ps();
    for d in (0..vectors).step_by(8) {
        sum = _mm256_fmadd_ps(load(&a[d..]), load(&b[d..]), sum);
    }
    let mut lanes = [0.0f32; 8];
    // SAFETY: `lanes` holds eight f32.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
    let tail: f32 = (vectors..a.len()).map(|d| a[d] * b[d]).sum();
    lanes.iter().sum::<f32>() + tail
}

/// `sums += p * v` for 32 cache values `v`, eight per vector.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn add_scaled<T: CacheElement>(p: f32, v: &[T], sums: &mut [__m256; 4]) {
    let p = _mm256_set1_ps(p);
    for (sum, eight) in sums.iter_mut().zip(v.as_chunks::<8>().0) {
        *sum = _mm256_fmadd_ps(p, load8(eight), *sum);
    }
}

/// `out = sum_t p[t] * values[t]` over the positions (`values` holds `p.len()` of `out.len()`
/// values each), 32 outputs at a time in registers.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn weighted_sum<T: CacheElement>(p: &[f32], values: &[T], out: &mut [f32]) {
    let head_dim = out.len();
    let mut d = 0;
    while d + 32 <= head_dim {
        // Two sets of sums, for even and odd positions: one set's additions would each wait
        // for the last (four chains of one multiply-add per position).
        let mut sums = [[_mm256_setzero_ps(); 4]; 2];
        let pairs = values.chunks_exact(2 * head_dim).zip(p.chunks_exact(2));
        for (two, p) in pairs {
            for (k, sums) in sums.iter_mut().enumerate() {
                let v = &two[k * head_dim..(k + 1) * head_dim];
                add_scaled(p[k], &v[d..d + 32], sums);
            }
        }
        if p.len() % 2 == 1 {
            let last = &values[(p.len() - 1) * head_dim..];
            add_scaled(p[p.len() - 1], &last[d..d + 32], &mut sums[0]);
        }
        let [mut even, odd] = sums;
        for (even, odd) in even.iter_mut().zip(odd) {
            *even = _mm256_add_ps(*even, odd);
        }
        for (i, sum) in even.into_iter().enumerate() {
            // SAFETY: `out[d + 8i..]` holds eight f32.
            unsafe { _mm256_storeu_ps(out[d + 8 * i..d + 8 * i + 8].as_mut_ptr(), sum) };
        }
        d += 32;
    }
    while d + 8 <= head_dim {
        let mut sum = _mm256_setzero_ps();
        for (&p, v) in p.iter().zip(values.chunks_exact(head_dim)) {
            let eight = v[d..d + 8].try_into().expect("eight values");
            sum = _mm256_fmadd_ps(_mm256_set1_ps(p), load8(eight), sum);
        }
        // SAFETY: `out[d..]` holds eight f32.
        unsafe { _mm256_storeu_ps(out[d..d + 8].as_mut_ptr(), sum) };
        d += 8;
    }
    for (i, out) in out.iter_mut().enumerate().skip(d) {
        *out = (p.iter().zip(values.chunks_exact(head_dim)))
            .map(|(&p, v)| p * v[i].widen())
            .sum();
    }
}
