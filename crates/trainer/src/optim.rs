//! AdamW with decoupled weight decay on matrices only: norms, biases (every 1-D parameter) and,
//! unless configured, the embedding tables are not decayed.
//!
//! The step is burn's AdamW, except on the CPU (Flex, f32) where our kernel updates the weights
//! and moments in one in-place pass per parameter ([`claude_tensors::kernels::adamw`]); the state
//! is burn's `AdamWState` either way, so checkpoints do not depend on which ran.

use burn::module::{ModuleVisitor, Param, ParamGroup, ParamId};
use burn::optim::{
    AdamW, AdamWConfig, AdamWState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer,
};
use burn::prelude::*;
use claude_core::{Gpt, PositionEmbedding};
use claude_tensors::kernels::adamw::AdamWStep;
use claude_tensors::kernels::flex::{adamw_step, supports_adamw};

use crate::config::OptimConfig;

/// Collects the ids of 1-D parameters.
struct VectorParams(Vec<ParamId>);

impl ModuleVisitor for VectorParams {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if D == 1 {
            self.0.push(param.id);
        }
    }
}

/// The ids of the parameters that get no weight decay.
pub fn no_decay_params(model: &Gpt, decay_embeddings: bool) -> Vec<ParamId> {
    let mut vectors = VectorParams(Vec::new());
    model.visit(&mut vectors);
    let mut ids = vectors.0;
    if !decay_embeddings {
        // A model being trained has a float table (packed ones are for inference).
        if let Some(wte) = model.wte.float() {
            ids.push(wte.weight.id);
        }
        if let PositionEmbedding::Learned(wpe) = &model.wpe {
            ids.push(wpe.weight.id);
        }
    }
    ids
}

/// AdamW as configured, with the no-decay group.
pub fn build_optimizer(config: &OptimConfig, model: &Gpt) -> ModuleOptimizer {
    let no_decay = ParamGroup::from_ids(no_decay_params(model, config.decay_embeddings));
    ModuleOptimizer::from(FusedAdamW::new(config, config.weight_decay)).with_group(
        no_decay,
        FusedAdamW::new(config, 0.0),
        None,
    )
}

/// AdamW whose step runs our kernel where it can (see the module docs) and burn's elsewhere.
#[derive(Clone)]
struct FusedAdamW {
    /// burn's AdamW with the same settings.
    fallback: AdamW,
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    weight_decay: f32,
}

impl FusedAdamW {
    fn new(config: &OptimConfig, weight_decay: f64) -> Self {
        let (beta1, beta2, epsilon, weight_decay) = (
            config.beta1 as f32,
            config.beta2 as f32,
            config.eps as f32,
            weight_decay as f32,
        );
        let fallback = AdamWConfig::new()
            .with_beta_1(beta1)
            .with_beta_2(beta2)
            .with_epsilon(epsilon)
            .with_weight_decay(weight_decay)
            .build();
        FusedAdamW {
            fallback,
            beta1,
            beta2,
            epsilon,
            weight_decay,
        }
    }
}

impl Optimizer for FusedAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let fused = supports_adamw(&tensor)
            && supports_adamw(&grad)
            && state.as_ref().is_none_or(|s| {
                supports_adamw(&s.momentum.moment_1)
                    && supports_adamw(&s.momentum.moment_2)
                    && s.momentum.max_moment_2.is_none()
            });
        if !fused {
            return self.fallback.step(lr, tensor, grad, state);
        }
        let time = state.as_ref().map_or(0, |s| s.momentum.time) + 1;
        let moments = state.map(|s| (s.momentum.moment_1, s.momentum.moment_2));
        let settings = AdamWStep {
            lr,
            beta1: self.beta1,
            beta2: self.beta2,
            epsilon: self.epsilon,
            weight_decay: self.weight_decay,
            time,
        };
        let (tensor, moment_1, moment_2) = adamw_step(tensor, grad, moments, &settings);
        let momentum = AdaptiveMomentumState::new(time, moment_1, moment_2);
        (tensor, Some(AdamWState::new(momentum)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <AdamW as Optimizer>::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;

    use super::*;

    /// The weights of `linear` after three steps of `optim` on a fixed quadratic loss.
    fn train(mut optim: ModuleOptimizer, mut linear: Linear, device: &Device) -> Vec<f32> {
        let x = Tensor::<2>::from_data([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], device);
        for step in 0..3 {
            let y = linear.forward(x.clone().mul_scalar(1.0 + step as f64));
            let grads = GradientsParams::from_grads(y.powi_scalar(2).sum().backward(), &linear);
            linear = optim.step(1e-2, linear, grads);
        }
        let mut weights = linear.weight.val().into_data().try_to_vec::<f32>().unwrap();
        weights.extend(
            linear
                .bias
                .unwrap()
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
        );
        weights
    }

    #[test]
    fn the_fused_step_follows_burns_adamw() {
        let device = Device::flex().autodiff();
        let linear = LinearConfig::new(3, 4).init(&device);
        let config = OptimConfig::default();
        let burns = AdamWConfig::new()
            .with_beta_1(config.beta1 as f32)
            .with_beta_2(config.beta2 as f32)
            .with_epsilon(config.eps as f32)
            .with_weight_decay(config.weight_decay as f32)
            .init();
        let ours = ModuleOptimizer::from(FusedAdamW::new(&config, config.weight_decay));
        let (want, got) = (
            train(burns, linear.clone(), &device),
            train(ours, linear, &device),
        );
        for (got, want) in got.iter().zip(&want) {
            assert!((got - want).abs() <= 1e-7, "{got} vs {want}");
        }
    }
}
