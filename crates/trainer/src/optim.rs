//! AdamW with decoupled weight decay on matrices only: norms, biases (every 1-D parameter) and,
//! unless configured, the embedding tables are not decayed.

use burn::module::{ModuleVisitor, Param, ParamGroup, ParamId};
use burn::optim::{AdamWConfig, ModuleOptimizer};
use burn::prelude::*;
use claude_core::{Gpt, PositionEmbedding};

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
        ids.push(model.wte.weight.id);
        if let PositionEmbedding::Learned(wpe) = &model.wpe {
            ids.push(wpe.weight.id);
        }
    }
    ids
}

/// AdamW as configured, with the no-decay group.
pub fn build_optimizer(config: &OptimConfig, model: &Gpt) -> ModuleOptimizer {
    let adamw = AdamWConfig::new()
        .with_beta_1(config.beta1 as f32)
        .with_beta_2(config.beta2 as f32)
        .with_epsilon(config.eps as f32)
        .with_weight_decay(config.weight_decay as f32);
    let no_decay = ParamGroup::from_ids(no_decay_params(model, config.decay_embeddings));
    adamw
        .init()
        .with_group(no_decay, adamw.clone().with_weight_decay(0.0).build(), None)
}
