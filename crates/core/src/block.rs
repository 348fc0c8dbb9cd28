//! One pre-norm Transformer block: `x + attn(norm(x))`, then `x + mlp(norm(x))`.

use burn::nn::{Dropout, DropoutConfig, RotaryEncoding};
use burn::prelude::*;

use crate::attention::CausalSelfAttention;
use crate::config::ModelConfig;
use crate::kv_cache::{DecodeStep, LayerCache};
use crate::mlp::Mlp;
use crate::norm::Norm;

/// A Transformer block (GPT-2's `h.{i}`).
#[derive(Module, Debug)]
pub struct Block {
    /// Norm before attention.
    pub ln_1: Norm,
    /// Causal self-attention.
    pub attn: CausalSelfAttention,
    /// Norm before the MLP.
    pub ln_2: Norm,
    /// Feed-forward network.
    pub mlp: Mlp,
    /// Dropout on the MLP's output (training only).
    pub mlp_dropout: Dropout,
}

impl Block {
    /// A freshly initialised block.
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        Block {
            ln_1: Norm::new(config, device),
            attn: CausalSelfAttention::new(config, device),
            ln_2: Norm::new(config, device),
            mlp: Mlp::new(config, device),
            mlp_dropout: DropoutConfig::new(config.dropout).init(),
        }
    }

    /// The full sequence from position 0; with a `cache`, also fills this layer's cache.
    ///
    /// # Shapes
    /// - x: `[batch, seq, d_model]` -> `[batch, seq, d_model]`
    pub(crate) fn forward(
        &self,
        x: Tensor<3>,
        rope: Option<&RotaryEncoding>,
        cache: Option<&mut LayerCache>,
    ) -> Tensor<3> {
        self.forward_with(x, |attn, h| attn.forward(h, rope, cache))
    }

    /// One new token per row against this layer's cache.
    pub(crate) fn forward_decode(
        &self,
        x: Tensor<3>,
        rope: Option<&RotaryEncoding>,
        step: &DecodeStep,
        cache: &mut LayerCache,
    ) -> Tensor<3> {
        self.forward_with(x, |attn, h| attn.forward_decode(h, rope, step, cache))
    }

    /// The residual structure around a given attention call.
    fn forward_with(
        &self,
        x: Tensor<3>,
        attend: impl FnOnce(&CausalSelfAttention, Tensor<3>) -> Tensor<3>,
    ) -> Tensor<3> {
        let x = x.clone() + attend(&self.attn, self.ln_1.forward(x));
        x.clone()
            + self
                .mlp_dropout
                .forward(self.mlp.forward(self.ln_2.forward(x)))
    }
}
