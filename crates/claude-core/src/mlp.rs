//! The position-wise feed-forward network: GeLU (GPT-2) or SwiGLU (Llama).

use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::silu;
use claude_tensors::kernels::gelu;

use crate::config::{Activation, ModelConfig};
use crate::init::{INIT_STD, linear, residual_std};
use crate::rows::linear_rows;

/// `c_proj(act(c_fc(x)))`. For SwiGLU `c_fc` computes the gate and the up projection side by side
/// (`2 * hidden` outputs) and the activation is `silu(gate) * up`.
#[derive(Module, Debug)]
pub struct Mlp {
    /// Input projection, `[d_model, hidden]` (or `[d_model, 2 * hidden]` for SwiGLU).
    pub c_fc: Linear,
    /// Output projection back to the residual stream, `[hidden, d_model]`.
    pub c_proj: Linear,
    /// Whether the activation is SwiGLU (else GeLU).
    swiglu: bool,
}

impl Mlp {
    /// A freshly initialised MLP.
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let hidden = config.mlp_hidden();
        let swiglu = config.activation == Activation::Swiglu;
        let fc_out = if swiglu { 2 * hidden } else { hidden };
        Mlp {
            c_fc: linear(config.d_model, fc_out, config.bias, INIT_STD, device),
            c_proj: linear(
                hidden,
                config.d_model,
                config.bias,
                residual_std(config.n_layer),
                device,
            ),
            swiglu,
        }
    }

    /// # Shapes
    /// - x: `[batch, seq, d_model]` -> `[batch, seq, d_model]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let h = linear_rows(&self.c_fc, x);
        let h = if self.swiglu {
            let mut halves = h.chunk(2, 2);
            let up = halves.pop().expect("two halves");
            let gate = halves.pop().expect("two halves");
            silu(gate) * up
        } else {
            gelu(h)
        };
        linear_rows(&self.c_proj, h)
    }
}
