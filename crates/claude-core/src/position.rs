//! Position information: learned or sinusoidal embeddings added to the tokens, or rotary
//! embeddings applied to queries and keys.

use burn::nn::{
    Embedding, PositionalEncoding, PositionalEncodingConfig, RotaryEncoding, RotaryEncodingConfig,
};
use burn::prelude::*;

use crate::config::{ModelConfig, Positions};
use crate::init::embedding;

/// How the model knows where a token is.
// One per model: the size gap between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum PositionEmbedding {
    /// A learned vector per position (GPT-2's `wpe`).
    Learned(Embedding),
    /// Fixed sinusoids (no parameters).
    Sinusoidal(PositionalEncoding),
    /// Rotary embeddings (no parameters), used inside attention. burn rotates interleaved pairs
    /// `(x[2i], x[2i+1])`.
    Rope(RotaryEncoding),
}

impl PositionEmbedding {
    /// The position scheme of `config`.
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        match config.positions {
            Positions::Learned => {
                PositionEmbedding::Learned(embedding(config.context_length, config.d_model, device))
            }
            Positions::Sinusoidal => PositionEmbedding::Sinusoidal(
                PositionalEncodingConfig::new(config.d_model)
                    .with_max_sequence_size(config.context_length)
                    .init(device),
            ),
            Positions::Rope => PositionEmbedding::Rope(
                RotaryEncodingConfig::new(config.context_length, config.head_dim())
                    .with_theta(config.rope_theta)
                    .init(device),
            ),
        }
    }

    /// Adds absolute position embeddings for positions `start..start + seq` (a no-op for RoPE).
    ///
    /// # Shapes
    /// - x: `[batch, seq, d_model]` -> `[batch, seq, d_model]`
    pub fn add_to(&self, x: Tensor<3>, start: usize) -> Tensor<3> {
        let [batch, seq, _] = x.dims();
        match self {
            PositionEmbedding::Learned(wpe) => {
                let device = x.device();
                let positions =
                    Tensor::<1, Int>::arange(start as i64..(start + seq) as i64, &device)
                        .reshape([1, seq])
                        .expand([batch, seq]);
                x + wpe.forward(positions)
            }
            PositionEmbedding::Sinusoidal(encoding) => {
                let [_, max, d] = encoding.sinusoids.dims();
                assert!(
                    start + seq <= max,
                    "position {} beyond the context {max}",
                    start + seq
                );
                let table = encoding
                    .sinusoids
                    .clone()
                    .slice(s![.., start..start + seq, ..]);
                x + table.reshape([1, seq, d])
            }
            PositionEmbedding::Rope(_) => x,
        }
    }

    /// Adds absolute position embeddings for one token per row, row `b` at `positions[b]`
    /// (a no-op for RoPE).
    ///
    /// # Shapes
    /// - x: `[rows, 1, d_model]`, positions: `[rows]` -> `[rows, 1, d_model]`
    pub fn add_at(&self, x: Tensor<3>, positions: &Tensor<1, Int>) -> Tensor<3> {
        let [rows, _, d_model] = x.dims();
        match self {
            PositionEmbedding::Learned(wpe) => {
                x + wpe.forward(positions.clone().reshape([rows, 1]))
            }
            PositionEmbedding::Sinusoidal(encoding) => {
                let table = encoding.sinusoids.clone().select(1, positions.clone());
                x + table.reshape([rows, 1, d_model])
            }
            PositionEmbedding::Rope(_) => x,
        }
    }

    /// The rotary encoding, when positions are rotary.
    pub fn rope(&self) -> Option<&RotaryEncoding> {
        match self {
            PositionEmbedding::Rope(rope) => Some(rope),
            _ => None,
        }
    }
}

/// Rotates one query or key per row by its own position (burn's interleaved-pair rotation, as in
/// [`RotaryEncoding::apply`], with a different start per row).
///
/// # Shapes
/// - x: `[rows, heads, 1, head_dim]`, positions: `[rows]` -> `[rows, heads, 1, head_dim]`
pub(crate) fn rotate_at(
    rope: &RotaryEncoding,
    x: Tensor<4>,
    positions: &Tensor<1, Int>,
) -> Tensor<4> {
    let [rows, heads, one, head_dim] = x.dims();
    let device = x.device();
    // Each pair (a, b) becomes (a, b, -b, a): the terms multiplied by (cos, sin) below.
    let sign = Tensor::<2>::from_floats([[1.0, 0.0, 0.0, 1.0], [0.0, -1.0, 1.0, 0.0]], &device);
    let freqs = rope
        .freq_complex
        .clone()
        .select(0, positions.clone())
        .reshape([rows, 1, head_dim, 2]);
    let rotated = x
        .reshape([rows, heads, head_dim / 2, 2])
        .matmul(sign.unsqueeze())
        .reshape([rows, heads, head_dim, 2])
        * freqs;
    rotated.sum_dim(3).reshape([rows, heads, one, head_dim])
}
