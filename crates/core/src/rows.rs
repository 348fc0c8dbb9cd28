//! Position-wise maps applied to `[batch, seq, d]` activations as one `[batch * seq, d]` matrix.
//!
//! A rank-3 input times a rank-2 weight is a batched matmul in burn: one small gemm per sequence,
//! with the weight packed again for each (and the weight gradient summed over the batch).
//! Flattening the rows first makes it one large gemm forward and backward, which on the CPU is
//! several times faster for GPT-sized layers. The product is [`claude_tensors::kernels::matmul`]
//! (our kernel on the CPU, burn's matmul elsewhere).

use std::sync::Arc;

use burn::prelude::*;
use claude_quant::PackedMatrix;
use claude_tensors::kernels::matmul;
use claude_tensors::kernels::packed_matmul;
use claude_tensors::kernels::packed_matmul::PackedArithmetic;

/// `x` times the matrix `w` at every position.
///
/// # Shapes
/// - x: `[batch, seq, d_in]`, w: `[d_in, d_out]` -> `[batch, seq, d_out]`
pub fn matmul_rows(x: Tensor<3>, w: Tensor<2>) -> Tensor<3> {
    let [_, d_out] = w.dims();
    by_rows(x, d_out, |x| matmul(x, w))
}

/// `x` times the transpose of the packed rows `w` at every position.
///
/// # Shapes
/// - x: `[batch, seq, w.cols()]` -> `[batch, seq, w.rows()]`
pub fn packed_rows(x: Tensor<3>, w: &Arc<PackedMatrix>, arithmetic: PackedArithmetic) -> Tensor<3> {
    by_rows(x, w.rows(), |x| packed_matmul(x, w, arithmetic))
}

/// `product` of every position of `x` as one `[batch * seq, d_in]` matrix, giving `d_out`
/// features per position.
///
/// # Shapes
/// - x: `[batch, seq, d_in]` -> `[batch, seq, d_out]`
pub fn by_rows(
    x: Tensor<3>,
    d_out: usize,
    product: impl FnOnce(Tensor<2>) -> Tensor<2>,
) -> Tensor<3> {
    let [batch, seq, d_in] = x.dims();
    product(x.reshape([batch * seq, d_in])).reshape([batch, seq, d_out])
}
