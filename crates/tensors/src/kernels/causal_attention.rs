//! Causal scaled dot-product attention on the CPU, forward and backward, over plain `f32` slices.
//!
//! Each (batch, head) slice is one independent problem, run in parallel with rayon:
//!
//! - forward: `S = scale·Q·Kᵀ`, `P = softmax(S)` over the keys `j <= i`, `O = P·V`; the
//!   log-sum-exp of each row of `S` is kept so the backward pass can rebuild `P` instead of
//!   storing a `[seq, seq]` matrix per head (as FlashAttention does, Dao et al. 2022).
//! - backward: `P` rebuilt from `S` and the log-sum-exp, `dV = Pᵀ·dO`, `dP = dO·Vᵀ`,
//!   `dS = P ⊙ (dP - rowsum(dO ⊙ O))`, `dQ = scale·dS·K`, `dK = scale·dSᵀ·Q`.
//!
//! The matrix products go through `gemm` ([`super::gemm`]), single-threaded inside a slice since
//! the slices already fill the cores.

use rayon::prelude::*;

use super::gelu::exp;
use super::gemm::{Mat, Threads, gemm_into};

/// The shape of one attention problem: `heads` independent `[seq, head_dim]` slices (batch and
/// heads flattened), stored contiguously one after another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionShape {
    /// Batch size times number of heads.
    pub heads: usize,
    /// Sequence length (queries and keys).
    pub seq: usize,
    /// Width of one head.
    pub head_dim: usize,
}

impl AttentionShape {
    /// Elements in one `[seq, head_dim]` slice.
    fn slice_len(&self) -> usize {
        self.seq * self.head_dim
    }

    /// Elements in a whole `[heads, seq, head_dim]` tensor.
    pub fn len(&self) -> usize {
        self.heads * self.slice_len()
    }

    /// Whether the problem has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slice `h`'s `[seq, head_dim]` rows of a `[heads, seq, head_dim]` tensor.
    fn head<'a>(&self, x: &'a [f32], h: usize) -> Mat<'a> {
        let n = self.slice_len();
        Mat::rows(&x[h * n..(h + 1) * n], self.seq, self.head_dim)
    }

    /// `1 / sqrt(head_dim)`, the usual score scale.
    pub fn scale(&self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
    }
}

/// Causal attention forward: writes `out` (`[heads, seq, head_dim]`) and the log-sum-exp of each
/// score row, `lse` (`[heads, seq]`).
///
/// # Panics
/// If a slice length does not match `shape`.
pub fn forward(
    shape: AttentionShape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &mut [f32],
    lse: &mut [f32],
) {
    let n = shape.slice_len();
    for buffer in [q, k, v, &*out] {
        assert_eq!(buffer.len(), shape.len(), "attention tensor length");
    }
    assert_eq!(lse.len(), shape.heads * shape.seq, "log-sum-exp length");
    let t = shape.seq;
    out.par_chunks_mut(n.max(1))
        .zip(lse.par_chunks_mut(t.max(1)))
        .enumerate()
        .for_each_init(
            || vec![0.0f32; t * t],
            |probs, (h, (out, lse))| {
                let inputs = HeadInputs {
                    q: shape.head(q, h),
                    k: shape.head(k, h),
                    v: shape.head(v, h),
                    scale: shape.scale(),
                };
                inputs.forward(probs, out, lse);
            },
        );
}

/// Causal attention backward: from the forward inputs, its output and log-sum-exp, and the
/// gradient of the output, writes the gradients of `q`, `k` and `v`.
///
/// # Panics
/// If a slice length does not match `shape`.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    shape: AttentionShape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &[f32],
    lse: &[f32],
    grad_out: &[f32],
    grad_q: &mut [f32],
    grad_k: &mut [f32],
    grad_v: &mut [f32],
) {
    let n = shape.slice_len();
    for buffer in [q, k, v, out, grad_out, &*grad_q, &*grad_k, &*grad_v] {
        assert_eq!(buffer.len(), shape.len(), "attention tensor length");
    }
    assert_eq!(lse.len(), shape.heads * shape.seq, "log-sum-exp length");
    let t = shape.seq;
    grad_q
        .par_chunks_mut(n.max(1))
        .zip(grad_k.par_chunks_mut(n.max(1)))
        .zip(grad_v.par_chunks_mut(n.max(1)))
        .enumerate()
        .for_each_init(
            || HeadScratch::new(t),
            |scratch, (h, ((grad_q, grad_k), grad_v))| {
                let inputs = HeadInputs {
                    q: shape.head(q, h),
                    k: shape.head(k, h),
                    v: shape.head(v, h),
                    scale: shape.scale(),
                };
                let output = HeadOutput {
                    out: shape.head(out, h),
                    lse: &lse[h * t..(h + 1) * t],
                    grad_out: shape.head(grad_out, h),
                };
                inputs.backward(&output, scratch, [grad_q, grad_k, grad_v]);
            },
        );
}

/// One head's queries, keys and values (`[seq, head_dim]` views) and the score scale.
#[derive(Clone, Copy)]
pub(super) struct HeadInputs<'a> {
    pub q: Mat<'a>,
    pub k: Mat<'a>,
    pub v: Mat<'a>,
    pub scale: f32,
}

/// One head's forward output, its row log-sum-exps, and the gradient of the output.
pub(super) struct HeadOutput<'a> {
    pub out: Mat<'a>,
    pub lse: &'a [f32],
    pub grad_out: Mat<'a>,
}

/// Two `[seq, seq]` buffers a head's backward pass works in.
pub(super) struct HeadScratch {
    probs: Vec<f32>,
    grad_scores: Vec<f32>,
}

impl HeadScratch {
    pub fn new(seq: usize) -> Self {
        HeadScratch {
            probs: vec![0.0; seq * seq],
            grad_scores: vec![0.0; seq * seq],
        }
    }
}

impl HeadInputs<'_> {
    /// Writes the head's output (row-major `[seq, head_dim]`) and row log-sum-exps, using
    /// `probs` (`[seq, seq]`) as scratch.
    pub fn forward(&self, probs: &mut [f32], out: &mut [f32], lse: &mut [f32]) {
        let t = self.q.num_rows();
        // S = scale·Q·Kᵀ, then each row turned into probabilities in place.
        gemm_into(probs, self.q, self.k.t(), self.scale, Threads::One);
        for (i, row) in probs.chunks_mut(t).enumerate() {
            lse[i] = dispatch::softmax_over(row, i + 1);
        }
        gemm_into(out, Mat::rows(probs, t, t), self.v, 1.0, Threads::One);
    }

    /// Like [`forward`](Self::forward) without the causal mask and without the log-sum-exps:
    /// every query sees the first `len` keys (the rest are padding). `probs` holds at least
    /// `seq * len` values. Inference only (nothing is kept for a backward pass).
    pub fn forward_over_first(&self, len: usize, probs: &mut [f32], out: &mut [f32]) {
        let t = self.q.num_rows();
        if len == 0 {
            return out.fill(0.0);
        }
        let probs = &mut probs[..t * len];
        gemm_into(
            probs,
            self.q,
            self.k.first_rows(len).t(),
            self.scale,
            Threads::One,
        );
        for row in probs.chunks_mut(len) {
            dispatch::softmax_over(row, len);
        }
        let probs = Mat::rows(probs, t, len);
        gemm_into(out, probs, self.v.first_rows(len), 1.0, Threads::One);
    }

    /// Writes the gradients of the head's queries, keys and values (row-major
    /// `[seq, head_dim]` each).
    pub fn backward(
        &self,
        output: &HeadOutput,
        scratch: &mut HeadScratch,
        [grad_q, grad_k, grad_v]: [&mut [f32]; 3],
    ) {
        let t = self.q.num_rows();
        let HeadScratch { probs, grad_scores } = scratch;
        gemm_into(probs, self.q, self.k.t(), self.scale, Threads::One);
        for (i, row) in probs.chunks_mut(t).enumerate() {
            dispatch::probabilities_from(row, i + 1, output.lse[i]);
        }
        let probs_mat = Mat::rows(probs, t, t);
        gemm_into(grad_v, probs_mat.t(), output.grad_out, 1.0, Threads::One);
        gemm_into(grad_scores, output.grad_out, self.v.t(), 1.0, Threads::One);
        for i in 0..t {
            let dot: f32 = output
                .grad_out
                .row(i)
                .zip(output.out.row(i))
                .map(|(g, o)| g * o)
                .sum();
            let (p, ds) = (
                &probs[i * t..(i + 1) * t],
                &mut grad_scores[i * t..(i + 1) * t],
            );
            for (ds, p) in ds.iter_mut().zip(p) {
                *ds = p * (*ds - dot);
            }
        }
        let grad_scores = Mat::rows(grad_scores, t, t);
        gemm_into(grad_q, grad_scores, self.k, self.scale, Threads::One);
        gemm_into(grad_k, grad_scores.t(), self.q, self.scale, Threads::One);
    }
}

/// The softmax's loops (and the backward pass's probabilities) compiled twice: for the baseline
/// target and with AVX2 + FMA, picked at run time. The maximum and the sums are kept in
/// [`LANES`](crate::kernels::lanes::LANES) lanes: as one running `f32::max` and one sum they had
/// kept the whole loop, `exp` included, to one score at a time (15% of a 512-token prompt on
/// SmolLM2, one thread).
mod dispatch {
    use super::exp;
    use crate::kernels::lanes::{LANES, highest};

    #[inline(always)]
    fn softmax_over_loop(row: &mut [f32], seen: usize) -> f32 {
        let (seen, future) = row.split_at_mut(seen);
        let max = highest(seen);
        let mut sums = [0.0f32; LANES];
        let mut chunks = seen.chunks_exact_mut(LANES);
        for chunk in &mut chunks {
            for (s, sum) in chunk.iter_mut().zip(&mut sums) {
                *s = exp(*s - max);
                *sum += *s;
            }
        }
        for (s, sum) in chunks.into_remainder().iter_mut().zip(&mut sums) {
            *s = exp(*s - max);
            *sum += *s;
        }
        let sum: f32 = sums.iter().sum();
        for s in seen.iter_mut() {
            *s /= sum;
        }
        future.fill(0.0);
        max + sum.ln()
    }

    #[inline(always)]
    fn probabilities_from_loop(row: &mut [f32], seen: usize, lse: f32) {
        let (seen, future) = row.split_at_mut(seen);
        for s in seen.iter_mut() {
            *s = exp(*s - lse);
        }
        future.fill(0.0);
    }

    /// Turns a row of scaled scores back into the forward pass's probabilities over its first
    /// `seen` keys, from their log-sum-exp `lse` (the others get 0).
    pub(super) fn probabilities_from(row: &mut [f32], seen: usize, lse: f32) {
        #[cfg(target_arch = "x86_64")]
        if crate::kernels::simd::has_avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { avx2::probabilities_from(row, seen, lse) };
        }
        probabilities_from_loop(row, seen, lse)
    }

    /// Turns a row of scaled scores into attention probabilities over its first `seen` keys
    /// (the others get 0) and returns the log-sum-exp of those (with
    /// [`gelu`](mod@crate::kernels::gelu)'s vectorisable `exp`).
    pub(super) fn softmax_over(row: &mut [f32], seen: usize) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if crate::kernels::simd::has_avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { avx2::softmax_over(row, seen) };
        }
        softmax_over_loop(row, seen)
    }

    #[cfg(target_arch = "x86_64")]
    mod avx2 {
        #[target_feature(enable = "avx2,fma")]
        pub(super) unsafe fn softmax_over(row: &mut [f32], seen: usize) -> f32 {
            super::softmax_over_loop(row, seen)
        }

        #[target_feature(enable = "avx2,fma")]
        pub(super) unsafe fn probabilities_from(row: &mut [f32], seen: usize, lse: f32) {
            super::probabilities_from_loop(row, seen, lse)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attention computed the plain way in f64, one query at a time.
    fn reference(shape: AttentionShape, q: &[f32], k: &[f32], v: &[f32]) -> Vec<f64> {
        let (t, d) = (shape.seq, shape.head_dim);
        let mut out = vec![0.0f64; shape.len()];
        for h in 0..shape.heads {
            let at = |x: &[f32], i: usize, c: usize| x[h * t * d + i * d + c] as f64;
            for i in 0..t {
                let scores: Vec<f64> = (0..=i)
                    .map(|j| {
                        (0..d).map(|c| at(q, i, c) * at(k, j, c)).sum::<f64>() / (d as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = weights.iter().sum();
                for c in 0..d {
                    out[h * t * d + i * d + c] =
                        (0..=i).map(|j| weights[j] / total * at(v, j, c)).sum();
                }
            }
        }
        out
    }

    fn pseudo_random(len: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state as f32 / u32::MAX as f32) * 4.0 - 2.0
            })
            .collect()
    }

    #[test]
    fn forward_matches_a_plain_f64_computation() {
        let shape = AttentionShape {
            heads: 3,
            seq: 7,
            head_dim: 5,
        };
        let (q, k, v) = (
            pseudo_random(shape.len(), 1),
            pseudo_random(shape.len(), 2),
            pseudo_random(shape.len(), 3),
        );
        let mut out = vec![0.0; shape.len()];
        let mut lse = vec![0.0; shape.heads * shape.seq];
        forward(shape, &q, &k, &v, &mut out, &mut lse);
        for (got, want) in out.iter().zip(reference(shape, &q, &k, &v)) {
            assert!((*got as f64 - want).abs() < 1e-5, "{got} vs {want}");
        }
    }

    #[test]
    fn backward_matches_finite_differences_of_the_f64_computation() {
        let shape = AttentionShape {
            heads: 2,
            seq: 5,
            head_dim: 3,
        };
        let (q, k, v) = (
            pseudo_random(shape.len(), 4),
            pseudo_random(shape.len(), 5),
            pseudo_random(shape.len(), 6),
        );
        // Loss = Σ out ⊙ w, so dLoss/dout = w.
        let w = pseudo_random(shape.len(), 7);
        let loss = |q: &[f32], k: &[f32], v: &[f32]| -> f64 {
            reference(shape, q, k, v)
                .iter()
                .zip(&w)
                .map(|(o, w)| o * *w as f64)
                .sum()
        };
        let mut out = vec![0.0; shape.len()];
        let mut lse = vec![0.0; shape.heads * shape.seq];
        forward(shape, &q, &k, &v, &mut out, &mut lse);
        let (mut dq, mut dk, mut dv) = (
            vec![0.0; shape.len()],
            vec![0.0; shape.len()],
            vec![0.0; shape.len()],
        );
        backward(shape, &q, &k, &v, &out, &lse, &w, &mut dq, &mut dk, &mut dv);

        let eps = 1e-3f32;
        for (which, grad) in [(0, &dq), (1, &dk), (2, &dv)] {
            for idx in 0..shape.len() {
                let mut inputs = [q.clone(), k.clone(), v.clone()];
                inputs[which][idx] += eps;
                let up = loss(&inputs[0], &inputs[1], &inputs[2]);
                inputs[which][idx] -= 2.0 * eps;
                let down = loss(&inputs[0], &inputs[1], &inputs[2]);
                let numeric = (up - down) / (2.0 * eps as f64);
                assert!(
                    (grad[idx] as f64 - numeric).abs() < 2e-3,
                    "input {which} index {idx}: {} vs {numeric}",
                    grad[idx]
                );
            }
        }
    }
}
