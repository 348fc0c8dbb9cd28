//! The token embedding, with its table in f32 (trainable) or kept packed (GGML blocks or int8,
//! for inference). A tied output head multiplies by the same table.

use std::sync::Arc;

use burn::nn::Embedding;
use burn::prelude::*;
use claude_quant::PackedMatrix;
use claude_tensors::kernels::packed_matmul::PackedArithmetic;

use crate::rows::{matmul_rows, packed_rows};

/// A table of one `d_model` vector per token.
#[derive(Module, Debug)]
pub enum TokenEmbedding {
    /// `[vocab, d_model]` in a float type (burn's `Embedding`): trainable.
    Float(Embedding),
    /// One packed row per token: inference only.
    Packed(PackedTable),
}

/// A token table kept packed.
#[derive(Module, Debug)]
pub struct PackedTable {
    /// `[vocab][d_model]`, one packed row per token.
    #[module(skip)]
    pub table: Arc<PackedMatrix>,
    /// How activations meet the table as a tied output head.
    #[module(skip)]
    pub arithmetic: PackedArithmetic,
}

impl TokenEmbedding {
    /// A packed table (`[vocab][d_model]`).
    pub fn packed(table: PackedMatrix) -> Self {
        TokenEmbedding::Packed(PackedTable {
            table: Arc::new(table),
            arithmetic: PackedArithmetic::default(),
        })
    }

    /// The float table, when it is not packed.
    pub fn float(&self) -> Option<&Embedding> {
        match self {
            TokenEmbedding::Float(embedding) => Some(embedding),
            TokenEmbedding::Packed(_) => None,
        }
    }

    /// Sets how a packed table meets the activations as an output head (a float one ignores it).
    pub fn set_arithmetic(&mut self, arithmetic: PackedArithmetic) {
        if let TokenEmbedding::Packed(packed) = self {
            packed.arithmetic = arithmetic;
        }
    }

    /// Number of tokens.
    pub fn vocab_size(&self) -> usize {
        match self {
            TokenEmbedding::Float(embedding) => embedding.weight.lazy_shape()[0],
            TokenEmbedding::Packed(packed) => packed.table.rows(),
        }
    }

    /// The vectors of `tokens` (ids below [`vocab_size`](Self::vocab_size)).
    ///
    /// # Shapes
    /// - tokens: `[batch, seq]` -> `[batch, seq, d_model]`
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        match self {
            TokenEmbedding::Float(embedding) => embedding.forward(tokens),
            TokenEmbedding::Packed(packed) => {
                let [batch, seq] = tokens.dims();
                let device = tokens.device();
                let ids = tokens
                    .try_into_vec_as::<i64>()
                    .expect("token ids convert to i64");
                let width = packed.table.cols();
                let mut values = vec![0.0f32; ids.len() * width];
                for (&id, out) in ids.iter().zip(values.chunks_exact_mut(width)) {
                    let id = id as usize;
                    packed.table.dequantize_rows(id..id + 1, out);
                }
                Tensor::from_data(TensorData::new(values, [batch, seq, width]), &device)
            }
        }
    }

    /// `x` times the transposed table: a tied output head's logits.
    ///
    /// # Shapes
    /// - x: `[batch, seq, d_model]` -> `[batch, seq, vocab]`
    pub fn project_out(&self, x: Tensor<3>) -> Tensor<3> {
        match self {
            TokenEmbedding::Float(embedding) => matmul_rows(x, embedding.weight.val().transpose()),
            TokenEmbedding::Packed(packed) => packed_rows(x, &packed.table, packed.arithmetic),
        }
    }
}
