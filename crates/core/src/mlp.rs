//! The position-wise feed-forward network: GeLU (GPT-2), SwiGLU (Llama) or tanh-GeGLU (Gemma).

use burn::prelude::*;
use claude_tensors::kernels::gated::Gate;
use claude_tensors::kernels::{gate, gelu};

use crate::branch::{Branch, BranchOutput};
use crate::config::{Activation, ModelConfig};
use crate::init::{INIT_STD, linear, residual_std};
use crate::projection::Projection;

/// `c_proj(act(c_fc(x)))`. For the gated activations `c_fc` computes the gate and the up
/// projection side by side (`2 * hidden` outputs) and the activation is `silu(gate) * up` or
/// `gelu_tanh(gate) * up`.
#[derive(Module, Debug)]
pub struct Mlp {
    /// Input projection, `[d_model, hidden]` (or `[d_model, 2 * hidden]` for SwiGLU).
    pub c_fc: Projection,
    /// Output projection back to the residual stream, `[hidden, d_model]`.
    pub c_proj: Projection,
    /// The non-linearity (gated ones split `c_fc`'s outputs into gate and up).
    #[module(skip)]
    activation: Activation,
}

impl Mlp {
    /// A freshly initialised MLP.
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let hidden = config.mlp_hidden();
        let fc_out = if config.activation.is_gated() {
            2 * hidden
        } else {
            hidden
        };
        Mlp {
            c_fc: linear(config.d_model, fc_out, config.bias, INIT_STD, device),
            c_proj: linear(
                hidden,
                config.d_model,
                config.bias,
                residual_std(config.n_layer),
                device,
            ),
            activation: config.activation,
        }
    }

    /// # Shapes
    /// - x: `[batch, seq, d_model]` -> `[batch, seq, d_model]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.c_proj.forward(self.activate(self.c_fc.forward(x)))
    }

    /// The MLP as a block's branch: its input normalised and its output added to the residual
    /// stream inside the products where they can be (see [`Branch`]).
    pub(crate) fn forward_branch(&self, branch: Branch<'_>) -> BranchOutput {
        let h = self.activate(branch.input(&self.c_fc));
        branch.output(&self.c_proj, h)
    }

    /// The non-linearity on `c_fc`'s outputs.
    fn activate(&self, h: Tensor<3>) -> Tensor<3> {
        match self.activation {
            Activation::Gelu => gelu(h),
            Activation::Swiglu => gate(h, Gate::Silu),
            Activation::GegluTanh => gate(h, Gate::GeluTanh),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Known answers. The numbers between the markers come from
    //! `python3 crates/core/tests/data/known_answers.py mlp` (float64 numpy, independent of
    //! burn); the script also checks that every mistake named below moves some output by at least
    //! ten times the tolerance.

    use burn::module::Param;

    use super::*;
    use crate::known_answers::{assert_close, tensor};

    // BEGIN known_answers.py output
    // shape 2x2x8
    #[rustfmt::skip]
    const X: [f32; 32] = [
        1.0, -2.0, 3.0, -4.0, 0.5, 0.25, -1.5, 2.0,
        2.0, 1.5, 1.0, 3.0, 2.5, 0.5, 1.0, 2.0,
        -0.75, 0.125, 4.0, -2.5, 1.25, -0.375, 0.0, 3.5,
        0.5, -1.0, -0.25, 1.75, -2.0, 1.0, 0.75, -0.5,
    ];
    // shape 8x8
    #[rustfmt::skip]
    const SWIGLU_FC_W: [f32; 64] = [
        -0.1875, 0.125, -0.25, 0.0625, -0.3125, 0.0, 0.3125, -0.0625,
        0.0, 0.3125, -0.0625, 0.25, -0.125, 0.1875, -0.1875, 0.125,
        0.1875, -0.1875, 0.125, -0.25, 0.0625, -0.3125, 0.0, 0.3125,
        -0.3125, 0.0, 0.3125, -0.0625, 0.25, -0.125, 0.1875, -0.1875,
        -0.125, 0.1875, -0.1875, 0.125, -0.25, 0.0625, -0.3125, 0.0,
        0.0625, -0.3125, 0.0, 0.3125, -0.0625, 0.25, -0.125, 0.1875,
        0.25, -0.125, 0.1875, -0.1875, 0.125, -0.25, 0.0625, -0.3125,
        -0.25, 0.0625, -0.3125, 0.0, 0.3125, -0.0625, 0.25, -0.125,
    ];
    // shape 8
    #[rustfmt::skip]
    const SWIGLU_FC_B: [f32; 8] = [
        0.25, -0.5, 0.125, 0.0, -0.25, 0.5, 0.375, -0.125,
    ];
    // shape 4x8
    #[rustfmt::skip]
    const SWIGLU_PROJ_W: [f32; 32] = [
        -1.0, -0.25, 0.5, 1.25, -0.75, 0.0, 0.75, -1.25,
        0.25, 1.0, -1.0, -0.25, 0.5, 1.25, -0.75, 0.0,
        -1.25, -0.5, 0.25, 1.0, -1.0, -0.25, 0.5, 1.25,
        0.0, 0.75, -1.25, -0.5, 0.25, 1.0, -1.0, -0.25,
    ];
    // shape 8
    #[rustfmt::skip]
    const SWIGLU_PROJ_B: [f32; 8] = [
        0.5, -0.25, 0.0, 0.125, 0.25, -0.5, 0.375, -0.375,
    ];
    // shape 8x4
    #[rustfmt::skip]
    const GELU_FC_W: [f32; 32] = [
        -0.25, 0.0625, -0.3125, 0.0,
        -0.0625, 0.25, -0.125, 0.1875,
        0.125, -0.25, 0.0625, -0.3125,
        0.3125, -0.0625, 0.25, -0.125,
        -0.1875, 0.125, -0.25, 0.0625,
        0.0, 0.3125, -0.0625, 0.25,
        0.1875, -0.1875, 0.125, -0.25,
        -0.3125, 0.0, 0.3125, -0.0625,
    ];
    // shape 4
    #[rustfmt::skip]
    const GELU_FC_B: [f32; 4] = [
        0.25, -0.5, 0.125, 0.0,
    ];
    // shape 4x8
    #[rustfmt::skip]
    const GELU_PROJ_W: [f32; 32] = [
        -0.25, 0.25, 0.75, 1.25, -1.0, -0.5, 0.0, 0.5,
        -1.25, -0.75, -0.25, 0.25, 0.75, 1.25, -1.0, -0.5,
        0.5, 1.0, -1.25, -0.75, -0.25, 0.25, 0.75, 1.25,
        -0.5, 0.0, 0.5, 1.0, -1.25, -0.75, -0.25, 0.25,
    ];
    // shape 8
    #[rustfmt::skip]
    const GELU_PROJ_B: [f32; 8] = [
        0.0, 0.125, -0.125, 0.25, -0.25, 0.5, -0.5, 1.0,
    ];
    // shape 2x2x8
    #[rustfmt::skip]
    const SWIGLU_EXPECTED: [f64; 32] = [
        1.2330589489, -0.2691899928, 0.0559729109, -0.5712760307,
        0.7323093017, -0.7699396400, 0.1802232637, 0.2445852624,
        0.6217929278, -0.3126443803, 0.1850303700, 0.1255930619,
        0.3103138251, -0.6241234830, 0.4985512673, -0.5548178900,
        0.3578276224, -0.3474069758, 0.3147334653, 0.4844988671,
        0.1227494230, -0.5824851751, 0.7046552659, -0.6696582505,
        -1.3462976764, -0.9432707377, 0.3018049623, 1.5798319010,
        -1.2119553635, -0.8089284248, 1.0611472752, 1.3188134113,
    ];
    // shape 2x2x8
    #[rustfmt::skip]
    const GELU_EXPECTED: [f64; 32] = [
        0.2154084835, 0.0780978413, -0.0289465192, 0.0837428386,
        -0.0737675777, 0.4139217801, -0.4157468376, 0.8219425202,
        0.2467737743, 0.2846807555, -0.4052753514, -0.1173683701,
        -0.0607545810, 0.6021524002, -0.2967727351, 1.1161342462,
        0.5629899870, 0.7859055817, -1.0259855074, -0.5530699127,
        -0.1728798684, 0.6750357263, 0.1119477844, 1.7098633790,
        0.3224875715, 1.2903316078, -0.1091041411, 1.1087398953,
        -1.6544593773, -0.0616153410, 0.2439095896, 2.5867536260,
    ];
    // END known_answers.py output

    /// An 8-wide MLP with hidden width 4 and the given activation, its weights replaced.
    fn mlp(activation: Activation, weights: [&[f32]; 4], device: &Device) -> Mlp {
        let config = ModelConfig {
            n_layer: 1,
            d_model: 8,
            d_ff: Some(4),
            activation,
            ..ModelConfig::default()
        };
        let mut mlp = Mlp::new(&config, device);
        let [fc_w, fc_b, proj_w, proj_b] = weights;
        let fc_out = fc_b.len();
        // The constructor's shapes ([d_in, d_out]; SwiGLU's c_fc twice as wide) before we
        // overwrite them.
        assert_eq!(mlp.c_fc.dims(), (8, fc_out));
        assert_eq!(mlp.c_proj.dims(), (4, 8));
        let fc = mlp.c_fc.as_float_mut().unwrap();
        fc.weight = Param::from_tensor(tensor(fc_w, [8, fc_out], device));
        fc.bias = Some(Param::from_tensor(tensor(fc_b, [fc_out], device)));
        let proj = mlp.c_proj.as_float_mut().unwrap();
        proj.weight = Param::from_tensor(tensor(proj_w, [4, 8], device));
        proj.bias = Some(Param::from_tensor(tensor(proj_b, [8], device)));
        mlp
    }

    /// `Mlp::forward` with SwiGLU: `c_proj(silu(gate) * up)`, where `c_fc`'s first 4 outputs are
    /// the gate and its last 4 the up projection.
    ///
    /// Catches: gate and up swapped, gate and up taken from interleaved columns, GeLU or a plain
    /// sigmoid (GLU) instead of SiLU, and biases not applied.
    #[test]
    fn swiglu_matches_known_answers() {
        let device = Device::flex();
        let weights = [
            &SWIGLU_FC_W[..],
            &SWIGLU_FC_B,
            &SWIGLU_PROJ_W,
            &SWIGLU_PROJ_B,
        ];
        let mlp = mlp(Activation::Swiglu, weights, &device);
        let y = mlp.forward(tensor(&X, [2, 2, 8], &device));
        assert_close(y, [2, 2, 8], &SWIGLU_EXPECTED);
    }

    /// `Mlp::forward` with GeLU: `c_proj(gelu(c_fc(x)))`, the exact (erf) GeLU.
    ///
    /// Catches: the tanh approximation of GeLU (off by up to 4.6e-4 here), SiLU or ReLU instead,
    /// and biases not applied.
    #[test]
    fn gelu_mlp_matches_known_answers() {
        let device = Device::flex();
        let weights = [&GELU_FC_W[..], &GELU_FC_B, &GELU_PROJ_W, &GELU_PROJ_B];
        let mlp = mlp(Activation::Gelu, weights, &device);
        let y = mlp.forward(tensor(&X, [2, 2, 8], &device));
        assert_close(y, [2, 2, 8], &GELU_EXPECTED);
    }
}
