//! Our AdamW step ([`crate::kernels::adamw`]) on Flex tensors outside autodiff (where an
//! optimizer works): weights and moments are updated in their own buffers, copied only if shared.

use burn::backend::{BackendTensor, DispatchAutodiffContext, DispatchTensor, DispatchTensorKind};
use burn::prelude::*;
use burn_flex::FlexTensor;

use super::{ContiguousF32, f32_slice, f32_slice_mut};
use crate::kernels::adamw::{self, AdamWStep};

/// Whether [`adamw_step`] runs for this tensor: `f32` on the Flex device, without autodiff.
pub fn supports_adamw<const D: usize>(x: &Tensor<D>) -> bool {
    super::supports(x) && !x.is_autodiff()
}

/// One AdamW step: the new weights and moments `(weights, m, v)`. Moments start at zero when
/// `moments` is `None` (the first step).
///
/// # Panics
/// If a tensor is not one [`supports_adamw`] accepts, or the shapes differ.
pub fn adamw_step<const D: usize>(
    weights: Tensor<D>,
    grad: Tensor<D>,
    moments: Option<(Tensor<D>, Tensor<D>)>,
    settings: &AdamWStep,
) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    // In the weights' type (the device's default may be 16-bit under mixed precision).
    let (m, v) = moments.unwrap_or_else(|| (weights.zeros_like(), weights.zeros_like()));
    let mut tensors = [weights, m, v].map(into_flex);
    let grad = into_flex(grad);
    let [w, m, v] = &mut tensors;
    adamw::step(
        f32_slice_mut(w),
        f32_slice(&grad),
        f32_slice_mut(m),
        f32_slice_mut(v),
        settings,
    );
    let [w, m, v] = tensors.map(from_flex);
    (w, m, v)
}

/// The contiguous Flex tensor inside a plain tensor.
fn into_flex<const D: usize>(x: Tensor<D>) -> FlexTensor {
    assert!(supports_adamw(&x), "an f32 Flex tensor without autodiff");
    match x.into_dispatch().kind {
        DispatchTensorKind::Flex(BackendTensor::Float(x)) => x.into_contiguous_f32(),
        _ => unreachable!("checked to be a Flex float tensor"),
    }
}

/// A plain tensor holding a Flex tensor.
fn from_flex<const D: usize>(x: FlexTensor) -> Tensor<D> {
    Tensor::from_dispatch(DispatchTensor {
        kind: DispatchTensorKind::Flex(BackendTensor::Float(x)),
        autodiff: DispatchAutodiffContext::Disabled,
    })
}
