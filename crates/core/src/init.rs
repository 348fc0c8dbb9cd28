//! GPT-2 initialisation: weights from N(0, 0.02), biases zero; residual projections use
//! 0.02 / sqrt(2 * n_layer) so the residual stream's variance does not grow with depth.

use burn::nn::{Embedding, EmbeddingConfig, Initializer, LinearConfig};
use burn::prelude::Device;

use crate::projection::Projection;

/// Standard deviation of GPT-2's weight initialisation.
pub const INIT_STD: f64 = 0.02;

/// The smaller standard deviation of projections that write into the residual stream.
pub fn residual_std(n_layer: usize) -> f64 {
    INIT_STD / (2.0 * n_layer as f64).sqrt()
}

/// A float projection with N(0, `std`) weights and zero biases.
pub fn linear(d_in: usize, d_out: usize, bias: bool, std: f64, device: &Device) -> Projection {
    let layer = LinearConfig::new(d_in, d_out)
        .with_bias(false)
        .with_initializer(Initializer::Normal { mean: 0.0, std })
        .init(device);
    let bias = bias.then(|| Initializer::Zeros.init([d_out], device));
    Projection::float(layer.weight, bias)
}

/// A float embedding table with N(0, 0.02) entries.
pub fn embedding(n: usize, d: usize, device: &Device) -> Embedding {
    EmbeddingConfig::new(n, d)
        .with_initializer(Initializer::Normal {
            mean: 0.0,
            std: INIT_STD,
        })
        .init(device)
}
