//! Causal multi-head self-attention read straight from the packed query/key/value projection
//! (`[batch, seq, 3·width]`, GPT-2's `c_attn` output) and written straight into the merged-heads
//! layout (`[batch, seq, width]`), forward and backward, over plain `f32` slices.
//!
//! Splitting the projection into `[batch, heads, seq, head_dim]` tensors and merging the heads
//! back costs a copy each way in the forward pass, and in the backward pass three zero-filled
//! `[batch, seq, 3·width]` gradients (one per chunk) summed together; here each head reads its
//! rows in place through strides and the gradients land in one buffer. The per-head math is
//! [`causal_attention`](super::causal_attention)'s. Batches run in parallel, the heads of a batch
//! one after another (they write interleaved columns of the same rows).

use rayon::prelude::*;

use super::causal_attention::{HeadInputs, HeadOutput, HeadScratch};
use super::gemm::Mat;

/// The shape of a packed self-attention problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedShape {
    /// Sequences.
    pub batch: usize,
    /// Positions per sequence.
    pub seq: usize,
    /// Attention heads.
    pub heads: usize,
    /// Width of one head.
    pub head_dim: usize,
}

impl PackedShape {
    /// Width of the merged heads, `heads · head_dim`.
    pub fn width(&self) -> usize {
        self.heads * self.head_dim
    }

    /// Elements of the packed projection, `[batch, seq, 3·width]`.
    pub fn packed_len(&self) -> usize {
        self.batch * self.seq * 3 * self.width()
    }

    /// Elements of the output, `[batch, seq, width]`.
    pub fn out_len(&self) -> usize {
        self.batch * self.seq * self.width()
    }

    /// Elements of the log-sum-exps, `[batch, heads, seq]`.
    pub fn lse_len(&self) -> usize {
        self.batch * self.heads * self.seq
    }

    /// Head `h`'s queries, keys and values in batch `b` of `qkv`.
    fn inputs<'a>(&self, qkv: &'a [f32], b: usize, h: usize) -> HeadInputs<'a> {
        let (t, d, c) = (self.seq, self.head_dim, self.width());
        let at = |part: usize| {
            let start = b * t * 3 * c + part * c + h * d;
            Mat::strided(&qkv[start..], [t, d], [3 * c, 1])
        };
        HeadInputs {
            q: at(0),
            k: at(1),
            v: at(2),
            scale: 1.0 / (d as f32).sqrt(),
        }
    }

    /// Head `h`'s rows in batch `b` of a `[batch, seq, width]` tensor.
    fn merged<'a>(&self, x: &'a [f32], b: usize, h: usize) -> Mat<'a> {
        let (t, d, c) = (self.seq, self.head_dim, self.width());
        Mat::strided(&x[b * t * c + h * d..], [t, d], [c, 1])
    }

    fn check(&self, qkv: &[f32], out: &[f32], lse: &[f32]) {
        assert_eq!(qkv.len(), self.packed_len(), "packed projection length");
        assert_eq!(out.len(), self.out_len(), "attention output length");
        assert_eq!(lse.len(), self.lse_len(), "log-sum-exp length");
    }
}

/// Forward: writes `out` (`[batch, seq, width]`) and the log-sum-exp of each score row, `lse`
/// (`[batch, heads, seq]`).
///
/// # Panics
/// If a slice length does not match `shape`.
pub fn forward(shape: PackedShape, qkv: &[f32], out: &mut [f32], lse: &mut [f32]) {
    shape.check(qkv, out, lse);
    let (t, d, c) = (shape.seq, shape.head_dim, shape.width());
    out.par_chunks_mut((t * c).max(1))
        .zip(lse.par_chunks_mut((shape.heads * t).max(1)))
        .enumerate()
        .for_each_init(
            || (vec![0.0f32; t * t], vec![0.0f32; t * d]),
            |(probs, head_out), (b, (out, lse))| {
                for (h, lse) in lse.chunks_mut(t).enumerate() {
                    shape.inputs(qkv, b, h).forward(probs, head_out, lse);
                    scatter(head_out, d, &mut out[h * d..], c);
                }
            },
        );
}

/// Attention without the causal mask over padded sequences (BERT's encoder): each query of batch
/// row `b` sees that row's first `key_lens[b]` keys. Writes `out` (`[batch, seq, width]`).
/// Inference only.
///
/// # Panics
/// If a slice length does not match `shape`, or a length exceeds `seq`.
pub fn forward_padded(shape: PackedShape, qkv: &[f32], key_lens: &[usize], out: &mut [f32]) {
    assert_eq!(qkv.len(), shape.packed_len(), "packed projection length");
    assert_eq!(out.len(), shape.out_len(), "attention output length");
    assert_eq!(key_lens.len(), shape.batch, "one key length per sequence");
    let (t, d, c) = (shape.seq, shape.head_dim, shape.width());
    assert!(
        key_lens.iter().all(|&len| len <= t),
        "key lengths within the sequence"
    );
    out.par_chunks_mut((t * c).max(1))
        .enumerate()
        .for_each_init(
            || (vec![0.0f32; t * t], vec![0.0f32; t * d]),
            |(probs, head_out), (b, out)| {
                for h in 0..shape.heads {
                    let inputs = shape.inputs(qkv, b, h);
                    inputs.forward_over_first(key_lens[b], probs, head_out);
                    scatter(head_out, d, &mut out[h * d..], c);
                }
            },
        );
}

/// Backward: from the packed projection, the forward output and log-sum-exps, and the gradient
/// of the output, writes the gradient of the packed projection (`[batch, seq, 3·width]`).
///
/// # Panics
/// If a slice length does not match `shape`.
pub fn backward(
    shape: PackedShape,
    qkv: &[f32],
    out: &[f32],
    lse: &[f32],
    grad_out: &[f32],
    grad_qkv: &mut [f32],
) {
    shape.check(qkv, out, lse);
    assert_eq!(grad_out.len(), shape.out_len(), "output gradient length");
    assert_eq!(
        grad_qkv.len(),
        shape.packed_len(),
        "projection gradient length"
    );
    let (t, d, c) = (shape.seq, shape.head_dim, shape.width());
    grad_qkv
        .par_chunks_mut((t * 3 * c).max(1))
        .enumerate()
        .for_each_init(
            || (HeadScratch::new(t), [0; 3].map(|_| vec![0.0f32; t * d])),
            |(scratch, head_grads), (b, grad_qkv)| {
                for h in 0..shape.heads {
                    let output = HeadOutput {
                        out: shape.merged(out, b, h),
                        lse: &lse[(b * shape.heads + h) * t..][..t],
                        grad_out: shape.merged(grad_out, b, h),
                    };
                    let [grad_q, grad_k, grad_v] = head_grads;
                    shape.inputs(qkv, b, h).backward(
                        &output,
                        scratch,
                        [grad_q.as_mut_slice(), grad_k, grad_v],
                    );
                    for (part, grad) in head_grads.iter().enumerate() {
                        scatter(grad, d, &mut grad_qkv[part * c + h * d..], 3 * c);
                    }
                }
            },
        );
}

/// Copies the rows of `src` (row-major, `cols` wide) to rows `row_stride` apart in `dst`.
fn scatter(src: &[f32], cols: usize, dst: &mut [f32], row_stride: usize) {
    for (i, row) in src.chunks(cols).enumerate() {
        dst[i * row_stride..][..cols].copy_from_slice(row);
    }
}

#[cfg(test)]
mod tests {
    use super::super::causal_attention::{self, AttentionShape};
    use super::*;

    /// `[batch, seq, 3, heads, head_dim]` -> three `[batch, heads, seq, head_dim]` buffers.
    fn split(shape: PackedShape, qkv: &[f32]) -> [Vec<f32>; 3] {
        let (t, d, h) = (shape.seq, shape.head_dim, shape.heads);
        [0, 1, 2].map(|part| {
            let mut x = Vec::with_capacity(shape.out_len());
            for b in 0..shape.batch {
                for head in 0..h {
                    for i in 0..t {
                        let start = ((b * t + i) * 3 + part) * h * d + head * d;
                        x.extend_from_slice(&qkv[start..start + d]);
                    }
                }
            }
            x
        })
    }

    /// `[batch, x, y, head_dim]` -> `[batch, y, x, head_dim]`.
    fn swap_middle(x: &[f32], [batch, rows, cols, d]: [usize; 4]) -> Vec<f32> {
        let mut out = vec![0.0; x.len()];
        for b in 0..batch {
            for i in 0..rows {
                for j in 0..cols {
                    let from = ((b * rows + i) * cols + j) * d;
                    let to = ((b * cols + j) * rows + i) * d;
                    out[to..to + d].copy_from_slice(&x[from..from + d]);
                }
            }
        }
        out
    }

    fn assert_close(got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{g} vs {w}");
        }
    }

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i * 7919 + seed * 104_729) % 1009) as f32 / 1009.0 - 0.5) * 3.0)
            .collect()
    }

    /// Padded attention equals an f64 computation of each query over its row's first keys, and
    /// a row's states do not depend on what its padding holds.
    #[test]
    fn padded_attention_sees_each_rows_first_keys() {
        let shape = PackedShape {
            batch: 3,
            seq: 7,
            heads: 2,
            head_dim: 5,
        };
        let key_lens = [7, 3, 1];
        let (t, d, c) = (shape.seq, shape.head_dim, shape.width());
        let qkv = values(shape.packed_len(), 3);
        let mut out = vec![0.0; shape.out_len()];
        forward_padded(shape, &qkv, &key_lens, &mut out);
        let at = |b: usize, i: usize, part: usize, h: usize, k: usize| {
            f64::from(qkv[(b * t + i) * 3 * c + part * c + h * d + k])
        };
        for (b, &len) in key_lens.iter().enumerate() {
            for h in 0..shape.heads {
                for i in 0..t {
                    let scores: Vec<f64> = (0..len)
                        .map(|j| {
                            let dot: f64 =
                                (0..d).map(|k| at(b, i, 0, h, k) * at(b, j, 1, h, k)).sum();
                            dot / (d as f64).sqrt()
                        })
                        .collect();
                    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let total: f64 = scores.iter().map(|s| (s - max).exp()).sum();
                    for k in 0..d {
                        let want: f64 = (0..len)
                            .map(|j| (scores[j] - max).exp() / total * at(b, j, 2, h, k))
                            .sum();
                        let got = f64::from(out[(b * t + i) * c + h * d + k]);
                        assert!(
                            (got - want).abs() < 1e-5,
                            "({b}, {h}, {i}, {k}): {got} vs {want}"
                        );
                    }
                }
            }
        }
        // Other values in row 1's padded keys and values change nothing.
        let mut changed = qkv.clone();
        for i in key_lens[1]..t {
            for x in &mut changed[(t + i) * 3 * c + c..(t + i + 1) * 3 * c] {
                *x += 10.0;
            }
        }
        let mut again = vec![0.0; shape.out_len()];
        forward_padded(shape, &changed, &key_lens, &mut again);
        assert_eq!(
            out[t * c..t * c + key_lens[1] * c],
            again[t * c..t * c + key_lens[1] * c]
        );
    }

    /// The packed kernel agrees with the split-heads kernel on the same numbers, forward and
    /// backward (the split-heads kernel is checked against f64 references and finite
    /// differences in its own tests).
    #[test]
    fn matches_the_split_heads_kernel() {
        let shape = PackedShape {
            batch: 2,
            seq: 9,
            heads: 3,
            head_dim: 4,
        };
        let split_shape = AttentionShape {
            heads: shape.batch * shape.heads,
            seq: shape.seq,
            head_dim: shape.head_dim,
        };
        let qkv = values(shape.packed_len(), 1);
        let grad_out = values(shape.out_len(), 2);

        let mut out = vec![0.0; shape.out_len()];
        let mut lse = vec![0.0; shape.lse_len()];
        forward(shape, &qkv, &mut out, &mut lse);
        let mut grad_qkv = vec![0.0; shape.packed_len()];
        backward(shape, &qkv, &out, &lse, &grad_out, &mut grad_qkv);

        let [q, k, v] = split(shape, &qkv);
        let (heads_first, seq_first) = (
            [shape.batch, shape.heads, shape.seq, shape.head_dim],
            [shape.batch, shape.seq, shape.heads, shape.head_dim],
        );
        let mut want_out = vec![0.0; shape.out_len()];
        let mut want_lse = vec![0.0; shape.lse_len()];
        causal_attention::forward(split_shape, &q, &k, &v, &mut want_out, &mut want_lse);
        assert_close(&out, &swap_middle(&want_out, heads_first));
        assert_close(&lse, &want_lse);

        let mut grads = [0; 3].map(|_| vec![0.0; shape.out_len()]);
        let [grad_q, grad_k, grad_v] = &mut grads;
        causal_attention::backward(
            split_shape,
            &q,
            &k,
            &v,
            &want_out,
            &want_lse,
            &swap_middle(&grad_out, seq_first),
            grad_q,
            grad_k,
            grad_v,
        );
        for (got, want) in split(shape, &grad_qkv).iter().zip(&grads) {
            assert_close(got, want);
        }
    }
}
