//! Putting weights read from a foreign file into a [`Gpt`]: matrices stored `[out][in]` (as
//! PyTorch, llama.cpp and llama2.c store them) become burn's `[in, out]` linear weights, and the
//! separate query/key/value and gate/up projections become our fused ones.

use burn::module::Param;
use burn::nn::{Embedding, Linear};
use burn::prelude::*;

use crate::norm::Norm;

/// A row-major matrix of `rows` rows by `cols` columns, as read from a file.
pub(crate) struct Matrix {
    /// The values, row after row.
    pub data: Vec<f32>,
    /// Number of rows (a linear layer's outputs).
    pub rows: usize,
    /// Number of columns (a linear layer's inputs).
    pub cols: usize,
}

/// Sets `layer`'s weight to the matrices `parts` (each `[out_p][in]`, all with the same `in`)
/// side by side along the outputs: burn's `[in, sum of out_p]`.
pub(crate) fn set_linear(layer: &mut Linear, parts: &[&Matrix], device: &Device) {
    let d_in = parts[0].cols;
    let d_out: usize = parts.iter().map(|p| p.rows).sum();
    let mut data = Vec::with_capacity(d_in * d_out);
    for i in 0..d_in {
        for part in parts {
            data.extend((0..part.rows).map(|o| part.data[o * part.cols + i]));
        }
    }
    layer.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(data, [d_in, d_out]),
        device,
    ));
}

/// Sets an embedding table (`[tokens][width]`, already burn's layout).
pub(crate) fn set_embedding(embedding: &mut Embedding, table: Matrix, device: &Device) {
    embedding.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(table.data, [table.rows, table.cols]),
        device,
    ));
}

/// Sets the scale of an RMSNorm.
///
/// # Panics
/// If `norm` is a LayerNorm: the readers build Llama-family configs, whose norms are RMSNorm.
pub(crate) fn set_rms_norm(norm: &mut Norm, gamma: Vec<f32>, device: &Device) {
    let Norm::Rms(rms) = norm else {
        unreachable!("Llama-family models normalise with RMSNorm");
    };
    let width = gamma.len();
    rms.gamma = Param::from_tensor(Tensor::from_data(TensorData::new(gamma, [width]), device));
}
