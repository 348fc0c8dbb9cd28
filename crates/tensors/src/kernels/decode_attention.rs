//! One new query per row against that row's cached keys and values, read in place from the
//! cache's buffers (a view of their first positions, which burn's attention would first copy
//! whole into a contiguous tensor on every step of every layer).
//!
//! Grouped-query heads share their key/value head: the `group` queries of a key/value head are
//! scored together in one pass over its keys. Scores are scaled by `1 / sqrt(head_dim)` (burn's
//! default), softmax is taken in f32 after subtracting the largest score, and positions at or
//! past a row's length are not read at all. The cache may hold f32 or f16 (half the memory, as
//! llama.cpp keeps it by default): f16 keys and values are widened as they are read (by F16C
//! in the AVX2 copy, `avx2.rs`, which scores eight positions at a time), never copied whole.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

use std::borrow::Cow;

use half::f16;

use super::gelu::exp;
use super::written_once::{unwritten, written, zeroed};
use crate::team::Team;

/// What a cache buffer holds: f32, or f16.
pub trait CacheElement: Copy + Send + Sync + 'static {
    /// `values` themselves where they are f32.
    fn as_f32(values: &[Self]) -> Option<&[f32]>;

    /// `values` themselves where they are f16.
    fn as_f16(values: &[Self]) -> Option<&[f16]>;

    /// One value as f32.
    fn widen(self) -> f32;
}

impl CacheElement for f32 {
    fn as_f32(values: &[f32]) -> Option<&[f32]> {
        Some(values)
    }

    fn as_f16(_: &[f32]) -> Option<&[f16]> {
        None
    }

    fn widen(self) -> f32 {
        self
    }
}

impl CacheElement for f16 {
    fn as_f32(_: &[f16]) -> Option<&[f32]> {
        None
    }

    fn as_f16(values: &[f16]) -> Option<&[f16]> {
        Some(values)
    }

    #[inline(always)]
    fn widen(self) -> f32 {
        self.to_f32()
    }
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

impl<T: CacheElement> CacheView<'_, T> {
    /// The `head_dim` values of row `r`, head `h`, position `t`.
    fn at(&self, r: usize, h: usize, t: usize, head_dim: usize) -> &[T] {
        let [sr, sh, st] = self.strides;
        let start = self.offset + r * sr + h * sh + t * st;
        &self.data[start..start + head_dim]
    }

    /// Positions `0..len` of row `r`, head `h`, as `len * head_dim` contiguous values: in place
    /// where the buffer holds them so (the cache's layout), else gathered.
    fn positions(&self, (r, h): (usize, usize), len: usize, head_dim: usize) -> Cow<'_, [T]> {
        let [sr, sh, st] = self.strides;
        if len <= 1 || st == head_dim {
            let start = self.offset + r * sr + h * sh;
            return Cow::Borrowed(&self.data[start..start + len * head_dim]);
        }
        Cow::Owned(
            (0..len)
                .flat_map(|t| self.at(r, h, t, head_dim))
                .copied()
                .collect(),
        )
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
/// `q` and the output are contiguous `[rows, n_head, head_dim]`.
///
/// # Panics
/// If the lengths do not fit the shape or a view reaches past its buffer.
pub fn decode_attention<T: CacheElement>(
    shape: DecodeShape,
    q: &[f32],
    keys: CacheView<'_, T>,
    values: CacheView<'_, T>,
    key_lens: &[usize],
) -> Vec<f32> {
    let copy = Kernel::best(shape.head_dim);
    decode_attention_on(copy, shape, q, (keys, values), key_lens)
}

/// The copies of [`attend`]: portable, or on a CPU's vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    /// Plain Rust, which the compiler vectorises for the baseline target.
    Portable,
    /// AVX2, FMA and F16C (`avx2.rs`).
    Avx2,
    /// AVX-512 F, for heads of whole vectors of sixteen (`avx512.rs`).
    Avx512,
}

impl Kernel {
    /// The copies, the fastest first.
    const ALL: [Kernel; 3] = [Kernel::Avx512, Kernel::Avx2, Kernel::Portable];

    /// Whether this CPU runs this copy for heads of `head_dim` values.
    fn runs(self, head_dim: usize) -> bool {
        #[cfg(target_arch = "x86_64")]
        let avx2 = super::simd::has_avx2_fma() && super::simd::has_f16c();
        match self {
            Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => avx2,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => avx2 && avx512::runs(head_dim),
            #[cfg(not(target_arch = "x86_64"))]
            _ => {
                let _ = head_dim;
                false
            }
        }
    }

    /// The fastest copy this CPU runs for heads of `head_dim` values.
    fn best(head_dim: usize) -> Kernel {
        let runs = |copy: &Kernel| copy.runs(head_dim);
        Kernel::ALL
            .into_iter()
            .find(runs)
            .unwrap_or(Kernel::Portable)
    }
}

/// [`decode_attention`] on one copy of [`attend`].
///
/// # Panics
/// As [`decode_attention`]; with a `copy` this CPU does not run for the shape's heads.
fn decode_attention_on<T: CacheElement>(
    copy: Kernel,
    shape: DecodeShape,
    q: &[f32],
    (keys, values): (CacheView<'_, T>, CacheView<'_, T>),
    key_lens: &[usize],
) -> Vec<f32> {
    assert!(
        copy.runs(shape.head_dim),
        "{copy:?} attention on a CPU without it"
    );
    let DecodeShape {
        rows,
        n_head,
        n_kv_head,
        head_dim,
    } = shape;
    assert_eq!(q.len(), rows * n_head * head_dim, "query length");
    assert_eq!(key_lens.len(), rows, "one length per row");
    assert!(
        n_kv_head > 0 && n_head.is_multiple_of(n_kv_head),
        "grouped heads"
    );
    let group = n_head / n_kv_head;
    let per_kv_head = group * head_dim;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let mut out = unwritten(q.len());
    Team::global().for_each_chunk(&mut out, per_kv_head, &|task, out| {
        let out = zeroed(out);
        let (row, kv_head) = (task / n_kv_head, task % n_kv_head);
        let (len, at) = (key_lens[row], (row, kv_head));
        let (keys, values) = (
            keys.positions(at, len, head_dim),
            values.positions(at, len, head_dim),
        );
        let head = KvHead {
            queries: &q[task * per_kv_head..(task + 1) * per_kv_head],
            keys: &keys,
            values: &values,
            head_dim,
            scale,
        };
        SCRATCH.with_borrow_mut(|scratch| match copy {
            // SAFETY: the CPU runs this copy for these heads (`Kernel::runs`, asserted above).
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { avx2::attend(&head, scratch, out) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { avx512::attend(&head, scratch, out) },
            _ => attend(&head, scratch, out),
        })
    });
    // SAFETY: the tasks' chunks cover the output and each went through `zeroed`; a task that
    // panicked would have unwound out of `for_each_chunk` before this.
    unsafe { written(out) }
}

/// Positions of keys a vector copy asks for ahead of the ones it scores. Each task reads a short
/// run of keys (a few to a few dozen KiB), which the CPU's own prefetcher is slow to pick up:
/// on an AMD EPYC (Zen 4), SmolLM2's attention at eight sequences of up to 257 positions took
/// 118-139 ns a position and layer with this against 122-145 without on AVX2, and 100-143
/// against 122-154 on AVX-512 (`docs/performance.md`, session 25).
#[cfg(target_arch = "x86_64")]
const KEYS_AHEAD: usize = 32;

/// Asks for the cache lines of `keys`' positions `from..from + count` (those there are) of
/// `head_dim` values each into L1: a hint, nothing waits for it.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn fetch_keys<T>(keys: &[T], head_dim: usize, from: usize, count: usize) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    let wanted = keys.get(from * head_dim..).unwrap_or(&[]);
    let bytes = std::mem::size_of_val(wanted).min(count * head_dim * std::mem::size_of::<T>());
    let start: *const i8 = wanted.as_ptr().cast();
    for at in (0..bytes).step_by(64) {
        // SAFETY: `at` is within `wanted`; a prefetch reads nothing into the program and never
        // faults.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(at)) };
    }
}

/// A thread's buffers for its tasks, kept between calls (the team's threads live as long as
/// the process) so that a task neither allocates nor zeroes.
#[derive(Default)]
struct Scratch {
    /// One position's key or value, widened.
    position: Vec<f32>,
    /// The group's scores.
    scores: Vec<f32>,
}

impl Scratch {
    /// The buffers resized: `position` values for widened positions, `scores` for scores.
    fn sized(&mut self, position: usize, scores: usize) -> (&mut [f32], &mut [f32]) {
        self.position.resize(position, 0.0);
        self.scores.resize(scores, 0.0);
        (&mut self.position, &mut self.scores)
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// One row's key/value head and the queries of its group.
struct KvHead<'a, T> {
    /// `group` queries of `head_dim` values.
    queries: &'a [f32],
    /// The row's first `len` keys, `len * head_dim` values.
    keys: &'a [T],
    /// Its first `len` values, as many.
    values: &'a [T],
    head_dim: usize,
    /// What the scores are multiplied by.
    scale: f32,
}

impl<T> KvHead<'_, T> {
    /// Queries sharing the head.
    fn group(&self) -> usize {
        self.queries.len() / self.head_dim
    }

    /// Positions read.
    fn len(&self) -> usize {
        self.keys.len() / self.head_dim
    }
}

/// The group's outputs (`group * head_dim` values) into `out`: the portable copy (see
/// `avx2.rs` for the vector one).
fn attend<T: CacheElement>(head: &KvHead<'_, T>, scratch: &mut Scratch, out: &mut [f32]) {
    let KvHead {
        queries,
        keys,
        values,
        head_dim,
        scale,
    } = *head;
    let len = head.len();
    let (position, scores) = scratch.sized(head_dim, head.group() * len);
    for (t, k) in keys.chunks_exact(head_dim).enumerate() {
        let k = widened(k, position);
        for (g, q) in queries.chunks_exact(head_dim).enumerate() {
            scores[g * len + t] = dot(q, k) * scale;
        }
    }
    for scores in scores.chunks_exact_mut(len.max(1)) {
        softmax_in_place(scores);
    }
    out.fill(0.0);
    for (t, v) in values.chunks_exact(head_dim).enumerate() {
        let v = widened(v, position);
        for (g, out) in out.chunks_exact_mut(head_dim).enumerate() {
            let p = scores[g * len + t];
            for (o, &v) in out.iter_mut().zip(v) {
                *o += p * v;
            }
        }
    }
}

/// One position's `values` as f32: themselves, or widened into `scratch` (as long).
fn widened<'a, T: CacheElement>(values: &'a [T], scratch: &'a mut [f32]) -> &'a [f32] {
    if let Some(values) = T::as_f32(values) {
        return values;
    }
    for (out, &value) in scratch.iter_mut().zip(values) {
        *out = value.widen();
    }
    scratch
}

/// `a · b`, in eight running sums (which the compiler vectorises).
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
    lane_sum(sums) + rest
}

/// The sum of eight lanes, pairwise (as a vector reduction adds them).
#[inline(always)]
fn lane_sum(v: [f32; 8]) -> f32 {
    ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]))
}

/// `x` replaced by `softmax(x)` (nothing to do when empty), with [`gelu`](mod@super::gelu)'s
/// vectorisable `exp`.
#[inline(always)]
fn softmax_in_place(x: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for v in x.iter_mut() {
        *v = exp(*v - max);
    }
    // Eight running sums: one would chain every addition to the last.
    let mut sums = [0.0f32; 8];
    let (blocks, rest) = x.as_chunks::<8>();
    for block in blocks {
        for k in 0..8 {
            sums[k] += block[k];
        }
    }
    let inverse = 1.0 / (lane_sum(sums) + rest.iter().sum::<f32>());
    for v in x.iter_mut() {
        *v *= inverse;
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

    /// A test case: the sizes, the positions the cache's buffers hold and the keys each row reads.
    struct Case {
        shape: DecodeShape,
        allocated: usize,
        lens: &'static [usize],
    }

    const CASES: [Case; 8] = [
        // A head size with a tail past its vectors; rows reading all, some and no keys.
        Case {
            shape: DecodeShape {
                rows: 3,
                n_head: 6,
                n_kv_head: 2,
                head_dim: 20,
            },
            allocated: 9,
            lens: &[9, 4, 0],
        },
        // Several blocks of eight positions and a rest, every vector width of the SIMD copy.
        Case {
            shape: DecodeShape {
                rows: 3,
                n_head: 6,
                n_kv_head: 2,
                head_dim: 72,
            },
            allocated: 24,
            lens: &[21, 16, 1],
        },
        // Seven queries on one head (weighted sums of three, three and one query at a time).
        Case {
            shape: DecodeShape {
                rows: 2,
                n_head: 7,
                n_kv_head: 1,
                head_dim: 72,
            },
            allocated: 12,
            lens: &[11, 3],
        },
        // Two queries on each head, a head size of one whole 32 and a rest.
        Case {
            shape: DecodeShape {
                rows: 2,
                n_head: 4,
                n_kv_head: 2,
                head_dim: 40,
            },
            allocated: 10,
            lens: &[10, 5],
        },
        // SmolLM2's heads (three queries on a head of 64), over blocks of sixteen positions
        // and a rest, exactly one block, and fewer than one.
        Case {
            shape: DecodeShape {
                rows: 3,
                n_head: 9,
                n_kv_head: 3,
                head_dim: 64,
            },
            allocated: 40,
            lens: &[37, 16, 5],
        },
        // Qwen2.5's groups of seven (weighted sums of four, then three, queries at a time).
        Case {
            shape: DecodeShape {
                rows: 2,
                n_head: 14,
                n_kv_head: 2,
                head_dim: 64,
            },
            allocated: 20,
            lens: &[20, 17],
        },
        // One query per head (two sets of sums), heads of 80: a chunk of 64 and a rest of 16.
        Case {
            shape: DecodeShape {
                rows: 2,
                n_head: 2,
                n_kv_head: 2,
                head_dim: 80,
            },
            allocated: 34,
            lens: &[33, 0],
        },
        // Two queries per head, three vectors of sixteen, no whole 64.
        Case {
            shape: DecodeShape {
                rows: 1,
                n_head: 4,
                n_kv_head: 2,
                head_dim: 48,
            },
            allocated: 18,
            lens: &[18],
        },
    ];

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 + seed * 104729) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    /// The kernel (each copy this CPU runs) over buffers of `T`, against [`reference`] over
    /// the values those buffers hold: laid out `[rows, heads, positions, head_dim]`, or with
    /// `positions_outer` `[rows, positions, heads, head_dim]` (each head's positions apart:
    /// gathered).
    fn check<T: CacheElement>(
        to: impl Fn(f32) -> T,
        from: impl Fn(T) -> f32,
        positions_outer: bool,
    ) {
        for case in &CASES {
            check_case(case, &to, &from, positions_outer);
        }
    }

    /// [`check`] for one case.
    fn check_case<T: CacheElement>(
        &Case {
            shape,
            allocated,
            lens,
        }: &Case,
        to: impl Fn(f32) -> T,
        from: impl Fn(T) -> f32,
        positions_outer: bool,
    ) {
        let DecodeShape {
            rows,
            n_kv_head: heads,
            head_dim,
            ..
        } = shape;
        let q = values(rows * shape.n_head * head_dim, 1);
        let cache_len = rows * heads * allocated * head_dim;
        // Elements between neighbouring rows, heads and positions of the kernel's buffers.
        let strides = match positions_outer {
            false => [heads * allocated * head_dim, allocated * head_dim, head_dim],
            true => [allocated * heads * head_dim, head_dim, heads * head_dim],
        };
        // `[rows, heads, positions, head_dim]` values, and a buffer of them as `T`.
        let (k_plain, v_plain) = (values(cache_len, 2), values(cache_len, 3));
        let stored = |plain: &[f32]| {
            let mut buffer = vec![to(0.0); cache_len];
            for (i, position) in plain.chunks_exact(head_dim).enumerate() {
                let (r, h, t) = (
                    i / (heads * allocated),
                    i / allocated % heads,
                    i % allocated,
                );
                let start = r * strides[0] + h * strides[1] + t * strides[2];
                for (slot, &x) in buffer[start..start + head_dim].iter_mut().zip(position) {
                    *slot = to(x);
                }
            }
            buffer
        };
        let (k, v) = (stored(&k_plain), stored(&v_plain));
        let view = |data| CacheView {
            data,
            offset: 0,
            strides,
        };
        let held = |plain: &[f32]| plain.iter().map(|&x| from(to(x))).collect::<Vec<f32>>();
        let (k_held, v_held) = (held(&k_plain), held(&v_plain));
        let expected = reference(shape, &q, &k_held, &v_held, lens, allocated);
        for copy in Kernel::ALL.into_iter().filter(|copy| copy.runs(head_dim)) {
            let cache = (view(&k), view(&v));
            let out = decode_attention_on(copy, shape, &q, cache, lens);
            assert_eq!(out.len(), q.len(), "one output per query value");
            for (i, (a, b)) in out.iter().zip(&expected).enumerate() {
                assert!((a - b).abs() < 1e-5, "value {i}, {copy:?}: {a} against {b}");
            }
        }
    }

    #[test]
    fn grouped_heads_over_a_strided_prefix_equal_plain_attention_in_f64() {
        check(|x| x, |x| x, false);
        check(|x| x, |x| x, true);
    }

    #[test]
    fn an_f16_cache_is_read_as_the_f32_values_it_holds() {
        check(f16::from_f32, f16::to_f32, false);
        check(f16::from_f32, f16::to_f32, true);
    }
}
