//! Putting weights read from a foreign file into a [`Gpt`]: matrices stored `[out][in]` (as
//! PyTorch, llama.cpp and llama2.c store them) become burn's `[in, out]` linear weights, or stay
//! packed in their quantized format, and the separate query/key/value and gate/up projections
//! become our fused ones.

use burn::module::Param;
use burn::nn::Embedding;
use burn::prelude::*;
use claude_quant::PackedMatrix;

use crate::embedding::TokenEmbedding;
use crate::norm::Norm;
use crate::projection::Projection;

/// A row-major matrix of `rows` rows by `cols` columns, as read from a file.
pub(crate) struct Matrix {
    /// The values, row after row.
    pub data: Vec<f32>,
    /// Number of rows (a linear layer's outputs).
    pub rows: usize,
    /// Number of columns (a linear layer's inputs).
    pub cols: usize,
}

/// Sets `layer` to a float projection whose weight is the matrices `parts` (each `[out_p][in]`,
/// all with the same `in`) side by side along the outputs: burn's `[in, sum of out_p]`, no bias.
pub(crate) fn set_linear(layer: &mut Projection, parts: &[&Matrix], device: &Device) {
    let d_in = parts[0].cols;
    let d_out: usize = parts.iter().map(|p| p.rows).sum();
    let mut data = Vec::with_capacity(d_in * d_out);
    for i in 0..d_in {
        for part in parts {
            data.extend((0..part.rows).map(|o| part.data[o * part.cols + i]));
        }
    }
    *layer = Projection::float(
        Param::from_tensor(Tensor::from_data(
            TensorData::new(data, [d_in, d_out]),
            device,
        )),
        None,
    );
}

/// Sets a float embedding table (`[tokens][width]`, already burn's layout).
pub(crate) fn set_embedding(embedding: &mut TokenEmbedding, table: Matrix, device: &Device) {
    *embedding = TokenEmbedding::Float(float_table(table, device));
}

/// A float table of vectors (`[rows][width]`, burn's `Embedding` layout).
pub(crate) fn float_table(table: Matrix, device: &Device) -> Embedding {
    Embedding {
        weight: Param::from_tensor(Tensor::from_data(
            TensorData::new(table.data, [table.rows, table.cols]),
            device,
        )),
    }
}

/// A weight read from a file: decoded to f32, or packed as stored.
pub(crate) enum Weight {
    /// Decoded values.
    Float(Matrix),
    /// Packed rows (`[out][in]`).
    Packed(PackedMatrix),
}

impl Weight {
    /// `(rows, cols)`: outputs by inputs.
    pub(crate) fn shape(&self) -> (usize, usize) {
        match self {
            Weight::Float(matrix) => (matrix.rows, matrix.cols),
            Weight::Packed(packed) => (packed.rows(), packed.cols()),
        }
    }
}

/// Sets `layer` to the weights `parts` stacked along the outputs, with `bias` (one value per
/// output) if given: packed when any part is packed (the float parts are packed as F32 rows
/// beside them), a float projection otherwise.
///
/// # Panics
/// When there are no parts, they differ in width, or `bias` is not one value per output: the
/// caller checks the shapes it reads.
pub(crate) fn set_projection(
    layer: &mut Projection,
    parts: Vec<Weight>,
    bias: Option<Vec<f32>>,
    device: &Device,
) {
    let width = parts.first().expect("a projection has parts").shape().1;
    assert!(
        parts.iter().all(|part| part.shape().1 == width),
        "the parts of a projection have one width"
    );
    let floats: Option<Vec<&Matrix>> = parts
        .iter()
        .map(|p| match p {
            Weight::Float(m) => Some(m),
            Weight::Packed(_) => None,
        })
        .collect();
    if let Some(floats) = floats {
        set_linear(layer, &floats, device);
    } else {
        let packed = parts
            .into_iter()
            .map(|part| match part {
                Weight::Packed(m) => Ok(m),
                Weight::Float(m) => PackedMatrix::quantize(
                    claude_quant::RowFormat::Ggml(claude_quant::GgmlType::F32),
                    m.rows,
                    m.cols,
                    &m.data,
                ),
            })
            .collect::<claude_quant::Result<Vec<_>>>()
            .and_then(PackedMatrix::stack)
            .expect("F32 rows of the parts' width pack and stack");
        *layer = Projection::packed(packed, None);
    }
    if let Some(bias) = bias {
        assert_eq!(bias.len(), layer.dims().1, "one bias value per output");
        layer.set_bias(Some(vector(bias, device)));
    }
}

/// Sets the token table: packed as stored, or decoded.
pub(crate) fn set_token_table(embedding: &mut TokenEmbedding, table: Weight, device: &Device) {
    match table {
        Weight::Float(matrix) => set_embedding(embedding, matrix, device),
        Weight::Packed(packed) => *embedding = TokenEmbedding::packed(packed),
    }
}

/// Sets a norm's scale, and a LayerNorm's shift (`None`: no shift).
pub(crate) fn set_norm(norm: &mut Norm, gamma: Vec<f32>, beta: Option<Vec<f32>>, device: &Device) {
    match norm {
        Norm::Rms(rms) => rms.gamma = vector(gamma, device),
        Norm::Layer(layer) => {
            layer.gamma = vector(gamma, device);
            layer.beta = beta.map(|beta| vector(beta, device));
        }
    }
}

/// A parameter vector.
fn vector(values: Vec<f32>, device: &Device) -> Param<Tensor<1>> {
    let len = values.len();
    Param::from_tensor(Tensor::from_data(TensorData::new(values, [len]), device))
}
