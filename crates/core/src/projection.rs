//! The model's linear projections, with their weights in f32 (trainable) or kept packed in a
//! quantized format (GGML blocks or int8, for inference): one model for both, the projection type
//! deciding how `x W + b` is computed.

use std::sync::Arc;

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use claude_quant::PackedMatrix;
use claude_tensors::kernels::packed_matmul::PackedArithmetic;

use crate::rows::{matmul_rows, packed_rows};

/// A linear projection `x W + b`.
#[derive(Module, Debug)]
pub enum Projection {
    /// Weight `[d_in, d_out]` in a float type (burn's `Linear`): trainable.
    Float(Linear),
    /// Weight kept packed: inference only (no gradient flows into it).
    Packed(PackedLinear),
}

/// A projection whose weight stays packed: `[d_out][d_in]` rows of GGML blocks or int8.
#[derive(Module, Debug)]
pub struct PackedLinear {
    /// The packed weight, one row per output feature.
    #[module(skip)]
    pub weight: Arc<PackedMatrix>,
    /// Bias, `[d_out]`.
    pub bias: Option<Param<Tensor<1>>>,
    /// How activations meet the packed weight.
    #[module(skip)]
    pub arithmetic: PackedArithmetic,
}

impl Projection {
    /// A packed projection with weight `weight` (`[d_out][d_in]`) and `bias`.
    pub fn packed(weight: PackedMatrix, bias: Option<Param<Tensor<1>>>) -> Self {
        Projection::Packed(PackedLinear {
            weight: Arc::new(weight),
            bias,
            arithmetic: PackedArithmetic::default(),
        })
    }

    /// Takes the bias out (to keep it when the weight is replaced).
    pub fn take_bias(&mut self) -> Option<Param<Tensor<1>>> {
        match self {
            Projection::Float(linear) => linear.bias.take(),
            Projection::Packed(packed) => packed.bias.take(),
        }
    }

    /// Sets the bias (`None`: no bias), whatever the weight's kind.
    pub fn set_bias(&mut self, bias: Option<Param<Tensor<1>>>) {
        match self {
            Projection::Float(linear) => linear.bias = bias,
            Projection::Packed(packed) => packed.bias = bias,
        }
    }

    /// The float layer, when the weight is not packed.
    pub fn float(&self) -> Option<&Linear> {
        match self {
            Projection::Float(linear) => Some(linear),
            Projection::Packed(_) => None,
        }
    }

    /// The float layer, mutably, when the weight is not packed.
    pub fn float_mut(&mut self) -> Option<&mut Linear> {
        match self {
            Projection::Float(linear) => Some(linear),
            Projection::Packed(_) => None,
        }
    }

    /// Sets how a packed weight meets the activations (a float weight ignores it).
    pub fn set_arithmetic(&mut self, arithmetic: PackedArithmetic) {
        if let Projection::Packed(packed) = self {
            packed.arithmetic = arithmetic;
        }
    }

    /// Whether the layer adds a bias.
    pub fn has_bias(&self) -> bool {
        match self {
            Projection::Float(linear) => linear.bias.is_some(),
            Projection::Packed(packed) => packed.bias.is_some(),
        }
    }

    /// `(d_in, d_out)` (without initialising a lazily initialised weight).
    pub fn dims(&self) -> (usize, usize) {
        match self {
            Projection::Float(linear) => {
                let shape = linear.weight.lazy_shape();
                (shape[0], shape[1])
            }
            Projection::Packed(packed) => (packed.weight.cols(), packed.weight.rows()),
        }
    }

    /// The projection applied to every position, as one `[batch * seq, d_in]` matrix (see
    /// [`matmul_rows`]).
    ///
    /// # Shapes
    /// - x: `[batch, seq, d_in]` -> `[batch, seq, d_out]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let (y, bias) = match self {
            Projection::Float(linear) => (matmul_rows(x, linear.weight.val()), &linear.bias),
            Projection::Packed(packed) => (
                packed_rows(x, &packed.weight, packed.arithmetic),
                &packed.bias,
            ),
        };
        match bias {
            Some(bias) => y + bias.val().unsqueeze::<3>(),
            None => y,
        }
    }
}
