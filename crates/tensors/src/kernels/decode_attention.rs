//! One new query per row against that row's cached keys and values, read in place from the
//! cache's buffers (a view of their first positions, which burn's attention would first copy
//! whole into a contiguous tensor on every step of every layer).
//!
//! Grouped-query heads share their key/value head: the `group` queries of a key/value head are
//! scored together in one pass over its keys. Scores are scaled by `1 / sqrt(head_dim)` (burn's
//! default), softmax is taken in f32 after subtracting the largest score, and positions at or
//! past a row's length are not read at all. The cache may hold f32 or f16 (half the memory, as
//! llama.cpp keeps it by default); f16 keys and values are widened to f32 a position at a time.

use half::f16;

use super::gelu::exp;
use crate::team::Team;

/// What a cache buffer holds: f32, or f16.
pub trait CacheElement: Copy + Send + Sync + 'static {
    /// `values` as f32: themselves, or widened into `scratch` (at least as long).
    fn as_f32<'a>(values: &'a [Self], scratch: &'a mut [f32]) -> &'a [f32];
}

impl CacheElement for f32 {
    #[inline(always)]
    fn as_f32<'a>(values: &'a [f32], _scratch: &'a mut [f32]) -> &'a [f32] {
        values
    }
}

impl CacheElement for f16 {
    #[inline(always)]
    fn as_f32<'a>(values: &'a [f16], scratch: &'a mut [f32]) -> &'a [f32] {
        let widened = &mut scratch[..values.len()];
        for (wide, half) in widened.iter_mut().zip(values) {
            *wide = widen(half.to_bits());
        }
        widened
    }
}

/// The f16 with bits `h` as f32, exactly, in plain integer and float operations with no
/// branches (selects), so that a loop of them vectorises inline. `half`'s own conversion is
/// a call per value, or per slice with a feature check, which cost as much as the attention
/// around it.
#[inline(always)]
fn widen(h: u16) -> f32 {
    let h = u32::from(h);
    let sign = (h & 0x8000) << 16;
    let magnitude = h & 0x7fff;
    // Normal: the exponent rebased from 15 to 127, the mantissa moved to the top.
    let normal = (magnitude << 13) + ((127 - 15) << 23);
    // Subnormal or zero: the mantissa times 2^-24, exact in f32.
    let subnormal = (magnitude as f32 * (1.0 / 16_777_216.0)).to_bits();
    // Infinity or NaN: every exponent bit set, the mantissa (NaN's payload) kept.
    let special = (magnitude << 13) | 0x7f80_0000;
    let bits = match magnitude {
        0..0x0400 => subnormal,
        0x0400..0x7c00 => normal,
        _ => special,
    };
    f32::from_bits(bits | sign)
}

/// A strided view of a `[rows, heads, positions, head_dim]` tensor of f32 or f16 whose last
/// dimension is contiguous: `data[offset + r * strides[0] + h * strides[1] + t * strides[2] + i]`.
#[derive(Debug, Clone, Copy)]
pub struct CacheView<'a, T = f32> {
    /// The buffer.
    pub data: &'a [T],
    /// Where element `[0, 0, 0, 0]` is.
    pub offset: usize,
    /// Elements between neighbours along the first three dimensions.
    pub strides: [usize; 3],
}

impl<T> CacheView<'_, T> {
    /// The `head_dim` values of row `r`, head `h`, position `t`.
    fn at(&self, r: usize, h: usize, t: usize, head_dim: usize) -> &[T] {
        let [sr, sh, st] = self.strides;
        let start = self.offset + r * sr + h * sh + t * st;
        &self.data[start..start + head_dim]
    }
}

/// The sizes of a decode step's attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeShape {
    /// Sequences in the batch.
    pub rows: usize,
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads (dividing `n_head`).
    pub n_kv_head: usize,
    /// Values per head.
    pub head_dim: usize,
}

/// `softmax(q kᵀ / sqrt(head_dim)) v` for each row's one query per head, over the row's first
/// `key_lens[r]` positions (none: zeros).
///
/// `q` and `out` are contiguous `[rows, n_head, head_dim]`.
///
/// # Panics
/// If the lengths do not fit the shape or a view reaches past its buffer.
pub fn decode_attention<T: CacheElement>(
    shape: DecodeShape,
    q: &[f32],
    keys: CacheView<'_, T>,
    values: CacheView<'_, T>,
    key_lens: &[usize],
    out: &mut [f32],
) {
    let DecodeShape {
        rows,
        n_head,
        n_kv_head,
        head_dim,
    } = shape;
    assert_eq!(q.len(), rows * n_head * head_dim, "query length");
    assert_eq!(out.len(), q.len(), "output length");
    assert_eq!(key_lens.len(), rows, "one length per row");
    assert!(
        n_kv_head > 0 && n_head.is_multiple_of(n_kv_head),
        "grouped heads"
    );
    let group = n_head / n_kv_head;
    let per_kv_head = group * head_dim;
    let scale = 1.0 / (head_dim as f32).sqrt();
    Team::global().for_each_chunk(out, per_kv_head, &|task, out| {
        let (row, kv_head) = (task / n_kv_head, task % n_kv_head);
        let head = KvHead {
            queries: &q[task * per_kv_head..(task + 1) * per_kv_head],
            keys,
            values,
            row,
            kv_head,
            len: key_lens[row],
            head_dim,
            scale,
        };
        #[cfg(target_arch = "x86_64")]
        if crate::kernels::simd::has_avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { attend_avx2(&head, out) };
        }
        attend(&head, out)
    });
}

/// One row's key/value head and the queries of its group.
struct KvHead<'a, T> {
    /// `group` queries of `head_dim` values.
    queries: &'a [f32],
    keys: CacheView<'a, T>,
    values: CacheView<'a, T>,
    row: usize,
    kv_head: usize,
    /// Cached positions to attend to.
    len: usize,
    head_dim: usize,
    /// What the scores are multiplied by.
    scale: f32,
}

/// [`attend`] compiled with AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn attend_avx2<T: CacheElement>(head: &KvHead<'_, T>, out: &mut [f32]) {
    attend(head, out)
}

/// The group's outputs (`group * head_dim` values) into `out`.
#[inline(always)]
fn attend<T: CacheElement>(head: &KvHead<'_, T>, out: &mut [f32]) {
    let KvHead {
        queries,
        keys,
        values,
        row,
        kv_head,
        len,
        head_dim,
        scale,
    } = *head;
    let group = queries.len() / head_dim;
    let mut scores = vec![0.0f32; group * len];
    let mut widened = vec![0.0f32; head_dim];
    for t in 0..len {
        let k = T::as_f32(keys.at(row, kv_head, t, head_dim), &mut widened);
        for (g, q) in queries.chunks_exact(head_dim).enumerate() {
            scores[g * len + t] = dot(q, k) * scale;
        }
    }
    for scores in scores.chunks_exact_mut(len.max(1)) {
        softmax_in_place(scores);
    }
    out.fill(0.0);
    for t in 0..len {
        let v = T::as_f32(values.at(row, kv_head, t, head_dim), &mut widened);
        for (g, out) in out.chunks_exact_mut(head_dim).enumerate() {
            let p = scores[g * len + t];
            for (o, &v) in out.iter_mut().zip(v) {
                *o += p * v;
            }
        }
    }
}

/// `a · b`, in eight running sums (which the compiler vectorises).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0.0f32; 8];
    let (a_blocks, a_rest) = a.as_chunks::<8>();
    let (b_blocks, b_rest) = b.as_chunks::<8>();
    for (a, b) in a_blocks.iter().zip(b_blocks) {
        for k in 0..8 {
            sums[k] += a[k] * b[k];
        }
    }
    let rest: f32 = a_rest.iter().zip(b_rest).map(|(a, b)| a * b).sum();
    sums.iter().sum::<f32>() + rest
}

/// `x` replaced by `softmax(x)` (nothing to do when empty), with [`gelu`](mod@super::gelu)'s
/// vectorisable `exp`.
#[inline(always)]
fn softmax_in_place(x: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut total = 0.0;
    for v in x.iter_mut() {
        *v = exp(*v - max);
        total += *v;
    }
    for v in x.iter_mut() {
        *v /= total;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain attention in f64 over contiguous `[rows, heads, len, head_dim]` keys and values.
    fn reference(
        shape: DecodeShape,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        lens: &[usize],
        alloc: usize,
    ) -> Vec<f32> {
        let DecodeShape {
            rows,
            n_head,
            n_kv_head,
            head_dim,
        } = shape;
        let group = n_head / n_kv_head;
        let mut out = vec![0.0f32; q.len()];
        for r in 0..rows {
            for head in 0..n_head {
                let kv = head / group;
                let qh = &q[(r * n_head + head) * head_dim..][..head_dim];
                let at = |t: usize| ((r * n_kv_head + kv) * alloc + t) * head_dim;
                let scores: Vec<f64> = (0..lens[r])
                    .map(|t| {
                        let s: f64 = (0..head_dim)
                            .map(|i| f64::from(qh[i]) * f64::from(k[at(t) + i]))
                            .sum();
                        s / (head_dim as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let total: f64 = scores.iter().map(|s| (s - max).exp()).sum();
                for i in 0..head_dim {
                    let y: f64 = (0..lens[r])
                        .map(|t| (scores[t] - max).exp() / total * f64::from(v[at(t) + i]))
                        .sum();
                    out[(r * n_head + head) * head_dim + i] = y as f32;
                }
            }
        }
        out
    }

    const SHAPE: DecodeShape = DecodeShape {
        rows: 3,
        n_head: 6,
        n_kv_head: 2,
        head_dim: 20,
    };
    /// Positions the test's cache buffers hold.
    const ALLOCATED: usize = 9;
    /// Keys each row reads: all, some, none.
    const LENS: [usize; 3] = [9, 4, 0];

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 + seed * 104729) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    /// The kernel over buffers of `T` made from `k` and `v`, against [`reference`] over the
    /// values those buffers hold.
    fn check<T: CacheElement>(to: impl Fn(f32) -> T, from: impl Fn(T) -> f32) {
        let q = values(SHAPE.rows * SHAPE.n_head * SHAPE.head_dim, 1);
        let cache_len = SHAPE.rows * SHAPE.n_kv_head * ALLOCATED * SHAPE.head_dim;
        let stored = |seed| {
            values(cache_len, seed)
                .into_iter()
                .map(&to)
                .collect::<Vec<T>>()
        };
        let (k, v) = (stored(2), stored(3));
        let view = |data| CacheView {
            data,
            offset: 0,
            strides: [
                SHAPE.n_kv_head * ALLOCATED * SHAPE.head_dim,
                ALLOCATED * SHAPE.head_dim,
                SHAPE.head_dim,
            ],
        };
        let mut out = vec![f32::NAN; q.len()];
        decode_attention(SHAPE, &q, view(&k), view(&v), &LENS, &mut out);
        let widen = |t: &[T]| t.iter().map(|&x| from(x)).collect::<Vec<f32>>();
        let expected = reference(SHAPE, &q, &widen(&k), &widen(&v), &LENS, ALLOCATED);
        for (i, (a, b)) in out.iter().zip(&expected).enumerate() {
            assert!((a - b).abs() < 1e-5, "value {i}: {a} against {b}");
        }
    }

    #[test]
    fn grouped_heads_over_a_strided_prefix_equal_plain_attention_in_f64() {
        check(|x| x, |x| x);
    }

    #[test]
    fn every_f16_widens_as_half_widens_it() {
        for bits in 0..=u16::MAX {
            let (ours, theirs) = (widen(bits), f16::from_bits(bits).to_f32());
            match theirs.is_nan() {
                true => assert!(ours.is_nan(), "{bits:#06x}: {ours} against NaN"),
                false => assert_eq!(ours.to_bits(), theirs.to_bits(), "{bits:#06x}"),
            }
        }
    }

    #[test]
    fn an_f16_cache_is_read_as_the_f32_values_it_holds() {
        check(f16::from_f32, f16::to_f32);
    }
}
