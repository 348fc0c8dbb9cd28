//! The model's linear projections, with their weights in f32 (trainable) or kept packed in a
//! quantized format (GGML blocks or int8, for inference): one model for both, the projection type
//! deciding how `x W + b` is computed.

use std::sync::Arc;

use burn::module::Param;
use burn::prelude::*;
use claude_quant::PackedMatrix;
use claude_tensors::kernels::packed_matmul::PackedArithmetic;
use claude_tensors::kernels::{normed_packed_matmul, packed_matmul_add};

use crate::lora::Lora;
use crate::norm::Norm;
use crate::rows::{by_rows, matmul_rows, packed_rows};

/// A linear projection `x W + b`, plus `s · x A B` where LoRA adapters are attached ([`Lora`]).
#[derive(Module, Debug)]
pub enum Projection {
    /// Weight `[d_in, d_out]` in a float type: trainable.
    Float(FloatLinear),
    /// Weight kept packed: no gradient flows into it (the activations' gradient passes through
    /// it, so adapters before and beside it train: QLoRA).
    Packed(PackedLinear),
}

/// A projection whose weight is a float matrix (burn's `Linear`, with room for adapters): the
/// tensor names are burn's, `weight` and `bias`.
#[derive(Module, Debug)]
pub struct FloatLinear {
    /// Weight, `[d_in, d_out]`.
    pub weight: Param<Tensor<2>>,
    /// Bias, `[d_out]`.
    pub bias: Option<Param<Tensor<1>>>,
    /// LoRA adapters on some of the outputs.
    pub lora: Option<Lora>,
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
    /// LoRA adapters on some of the outputs.
    pub lora: Option<Lora>,
}

impl Projection {
    /// A packed projection with weight `weight` (`[d_out][d_in]`) and `bias`.
    pub fn packed(weight: PackedMatrix, bias: Option<Param<Tensor<1>>>) -> Self {
        Projection::Packed(PackedLinear {
            weight: Arc::new(weight),
            bias,
            arithmetic: PackedArithmetic::default(),
            lora: None,
        })
    }

    /// A float projection with weight `weight` (`[d_in, d_out]`) and `bias`.
    pub fn float(weight: Param<Tensor<2>>, bias: Option<Param<Tensor<1>>>) -> Self {
        Projection::Float(FloatLinear {
            weight,
            bias,
            lora: None,
        })
    }

    /// The attached LoRA adapters, if any.
    pub fn lora(&self) -> Option<&Lora> {
        match self {
            Projection::Float(linear) => linear.lora.as_ref(),
            Projection::Packed(packed) => packed.lora.as_ref(),
        }
    }

    /// The attached LoRA adapters, mutably (`None` to detach them).
    pub fn lora_mut(&mut self) -> &mut Option<Lora> {
        match self {
            Projection::Float(linear) => &mut linear.lora,
            Projection::Packed(packed) => &mut packed.lora,
        }
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
    pub fn as_float(&self) -> Option<&FloatLinear> {
        match self {
            Projection::Float(linear) => Some(linear),
            Projection::Packed(_) => None,
        }
    }

    /// The float layer, mutably, when the weight is not packed.
    pub fn as_float_mut(&mut self) -> Option<&mut FloatLinear> {
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

    /// `forward(norm.forward(x))`. A packed weight without adapters takes the rows normalised
    /// inside its product on the CPU ([`normed_packed_matmul`]): no operation of its own.
    ///
    /// # Shapes
    /// - x: `[batch, seq, d_in]` -> `[batch, seq, d_out]`
    pub fn forward_normed(&self, x: Tensor<3>, norm: &Norm) -> Tensor<3> {
        let Projection::Packed(packed @ PackedLinear { lora: None, .. }) = self else {
            return self.forward(norm.forward(x));
        };
        let norm = norm.normalization();
        let (w, arithmetic) = (&packed.weight, packed.arithmetic);
        let y = by_rows(x, w.rows(), |x| {
            normed_packed_matmul(x, &norm, w, arithmetic)
        });
        match &packed.bias {
            Some(bias) => y + bias.val().unsqueeze::<3>(),
            None => y,
        }
    }

    /// `residual + forward(x)`. A packed weight without a bias or adapters adds the residual as
    /// its product stores its sums on the CPU ([`packed_matmul_add`]): no operation of its own.
    ///
    /// # Shapes
    /// - x: `[batch, seq, d_in]`, residual: `[batch, seq, d_out]` -> `[batch, seq, d_out]`
    pub fn forward_added_to(&self, x: Tensor<3>, residual: Tensor<3>) -> Tensor<3> {
        let Projection::Packed(
            packed @ PackedLinear {
                lora: None,
                bias: None,
                ..
            },
        ) = self
        else {
            return residual + self.forward(x);
        };
        let (w, arithmetic) = (&packed.weight, packed.arithmetic);
        let [batch, seq, d_out] = residual.dims();
        let residual = residual.reshape([batch * seq, d_out]);
        by_rows(x, d_out, |x| packed_matmul_add(x, residual, w, arithmetic))
    }

    /// The projection applied to every position, as one `[batch * seq, d_in]` matrix (see
    /// [`matmul_rows`]).
    ///
    /// # Shapes
    /// - x: `[batch, seq, d_in]` -> `[batch, seq, d_out]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let adapted = (self.lora()).map(|lora| lora.forward_columns(x.clone(), self.dims().1));
        let (y, bias) = match self {
            Projection::Float(linear) => (matmul_rows(x, linear.weight.val()), &linear.bias),
            Projection::Packed(packed) => (
                packed_rows(x, &packed.weight, packed.arithmetic),
                &packed.bias,
            ),
        };
        let y = match bias {
            Some(bias) => y + bias.val().unsqueeze::<3>(),
            None => y,
        };
        match adapted {
            Some(delta) => y + delta,
            None => y,
        }
    }
}
