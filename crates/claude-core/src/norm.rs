//! The normalisation layer: LayerNorm or RMSNorm.

use burn::nn::{LayerNorm, LayerNormConfig, RmsNorm, RmsNormConfig};
use burn::prelude::*;
use claude_tensors::kernels::layer_norm;

use crate::config::{ModelConfig, NormKind};

/// The LayerNorm epsilon (GPT-2's and PyTorch's default).
const LAYER_NORM_EPS: f64 = 1e-5;

/// LayerNorm (GPT-2) or RMSNorm (Llama), as the config says.
#[derive(Module, Debug)]
pub enum Norm {
    /// `(x - mean) / std * gamma + beta`.
    Layer(LayerNorm),
    /// `x / rms(x) * gamma`.
    Rms(RmsNorm),
}

impl Norm {
    /// A fresh norm over `config.d_model` features (gamma 1, beta 0).
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        match config.norm {
            NormKind::Layernorm => Norm::Layer(
                LayerNormConfig::new(config.d_model)
                    .with_epsilon(LAYER_NORM_EPS)
                    .with_bias(config.bias)
                    .init(device),
            ),
            NormKind::Rmsnorm => Norm::Rms(RmsNormConfig::new(config.d_model).init(device)),
        }
    }

    /// Normalises the last dimension (LayerNorm through our kernel where there is one).
    ///
    /// # Shapes
    /// - x: `[batch, seq, d_model]` -> `[batch, seq, d_model]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        match self {
            Norm::Layer(norm) => layer_norm(
                x,
                norm.gamma.val(),
                norm.beta.as_ref().map(|beta| beta.val()),
                LAYER_NORM_EPS,
            ),
            Norm::Rms(norm) => norm.forward(x),
        }
    }
}
