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

    /// The rotary encoding, when positions are rotary.
    pub fn rope(&self) -> Option<&RotaryEncoding> {
        match self {
            PositionEmbedding::Rope(rope) => Some(rope),
            _ => None,
        }
    }
}
