//! Gradient clipping by the global norm over all parameters, as PyTorch's
//! `clip_grad_norm_` does (burn's own `GradientClipping::Norm` clips each tensor separately).

use burn::module::{ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// Sums the squares of every gradient.
struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            let squares = grad.powi_scalar(2).sum();
            self.total = Some(match self.total.take() {
                Some(total) => total + squares,
                None => squares,
            });
        }
    }
}

/// Multiplies every gradient by a factor.
struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, grad.mul_scalar(self.factor));
        }
    }
}

/// The global L2 norm of the gradients of `model`'s parameters.
pub fn global_norm<M: Module>(model: &M, grads: &GradientsParams) -> f64 {
    let mut visitor = SquaredNorm { grads, total: None };
    model.visit(&mut visitor);
    visitor
        .total
        .map_or(0.0, |t| f64::from(t.into_scalar::<f32>()).sqrt())
}

/// Scales the gradients so that their global norm is at most `max_norm`; returns the norm before
/// clipping.
pub fn clip_global_norm<M: Module>(model: &M, grads: &mut GradientsParams, max_norm: f64) -> f64 {
    let norm = global_norm(model, grads);
    if max_norm > 0.0 && norm > max_norm {
        let factor = max_norm / (norm + 1e-6);
        model.visit(&mut Scale { grads, factor });
    }
    norm
}
