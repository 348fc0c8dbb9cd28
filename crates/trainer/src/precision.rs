//! Mixed precision with f32 master weights (what PyTorch users know as AMP / apex "O2"): the
//! optimizer keeps and updates the weights in f32; each step runs its forward and backward
//! passes on a 16-bit copy; the 16-bit gradients are cast back to f32 before clipping and AdamW.
//! An update smaller than a 16-bit weight's resolution therefore still accumulates. With f16 the
//! loss is scaled up before the backward pass so that small gradients do not flush to zero, and
//! scaled back down in f32 ([`LossScaler`], PyTorch's `GradScaler` rules).

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::FloatDType;
use serde::{Deserialize, Serialize};

use crate::config::Precision;

/// Casts every float parameter, keeping its id; a trainable one becomes a fresh leaf of the
/// autodiff graph, so gradients stop at the copy.
struct CastParams(FloatDType);

impl ModuleMapper for CastParams {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|tensor| {
            let trainable = tensor.is_require_grad();
            // Cast outside the autodiff graph: the copy is a new leaf.
            let cast = Tensor::from_inner(tensor.inner().cast(dtype));
            if trainable { cast.require_grad() } else { cast }
        })
    }
}

/// `module` with every float parameter cast to `dtype` (same ids, so optimizer state and
/// gradients keyed by id carry over).
pub fn cast_params<M: Module>(module: M, dtype: FloatDType) -> M {
    module.map(&mut CastParams(dtype))
}

/// The model that runs the passes of a step: a 16-bit copy of the f32 master weights under
/// mixed precision, else the model itself.
pub fn working_copy<M: Module>(master: &M, precision: Precision) -> M {
    match precision.float_dtype() {
        Some(dtype) if precision.has_master_weights() => cast_params(master.clone(), dtype),
        _ => master.clone(),
    }
}

/// Casts every gradient to f32 and divides it by the loss scale.
struct ToMaster<'a> {
    grads: &'a mut GradientsParams,
    loss_scale: f64,
}

impl ModuleVisitor for ToMaster<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            let grad = grad.cast(FloatDType::F32);
            let grad = if self.loss_scale == 1.0 {
                grad
            } else {
                grad.div_scalar(self.loss_scale)
            };
            self.grads.register(param.id, grad);
        }
    }
}

/// The working copy's gradients as gradients of the f32 master weights: cast to f32 and
/// unscaled. Without master weights they are returned as they are.
pub fn grads_to_master<M: Module>(
    master: &M,
    mut grads: GradientsParams,
    precision: Precision,
    loss_scale: f64,
) -> GradientsParams {
    if precision.has_master_weights() {
        master.visit(&mut ToMaster {
            grads: &mut grads,
            loss_scale,
        });
    }
    grads
}

/// Dynamic loss scale for f16: start high, halve (and skip the step) when gradients overflow,
/// double after a run of good steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossScaler {
    /// Factor the loss is multiplied by before the backward pass.
    pub scale: f64,
    /// Consecutive steps with finite gradients at this scale.
    pub good_steps: usize,
}

impl LossScaler {
    /// PyTorch's `GradScaler` starting scale, 2^16.
    pub const INITIAL_SCALE: f64 = 65536.0;
    /// Good steps before the scale doubles (PyTorch's `growth_interval`).
    pub const GROWTH_INTERVAL: usize = 2000;

    /// A scaler at the starting scale.
    pub fn new() -> Self {
        LossScaler {
            scale: Self::INITIAL_SCALE,
            good_steps: 0,
        }
    }

    /// Records a step whose unscaled gradients were finite or not; returns whether the step
    /// may update the weights.
    pub fn update(&mut self, gradients_finite: bool) -> bool {
        if !gradients_finite {
            self.scale /= 2.0;
            self.good_steps = 0;
            return false;
        }
        self.good_steps += 1;
        if self.good_steps == Self::GROWTH_INTERVAL {
            self.scale *= 2.0;
            self.good_steps = 0;
        }
        true
    }
}

impl Default for LossScaler {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_halves_on_overflow_and_doubles_after_a_run_of_good_steps() {
        let mut scaler = LossScaler::new();
        assert!(!scaler.update(false), "an overflowing step is skipped");
        assert_eq!(scaler.scale, LossScaler::INITIAL_SCALE / 2.0);
        for _ in 0..LossScaler::GROWTH_INTERVAL - 1 {
            assert!(scaler.update(true));
        }
        assert_eq!(scaler.scale, LossScaler::INITIAL_SCALE / 2.0);
        assert!(scaler.update(true));
        assert_eq!(scaler.scale, LossScaler::INITIAL_SCALE);
        assert_eq!(scaler.good_steps, 0);
        // An overflow resets the run.
        scaler.update(true);
        scaler.update(false);
        assert_eq!(scaler.good_steps, 0);
        assert_eq!(scaler.scale, LossScaler::INITIAL_SCALE / 2.0);
    }
}
