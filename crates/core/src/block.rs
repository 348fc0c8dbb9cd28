//! One pre-norm Transformer block: `x + attn(norm(x))`, then `x + mlp(norm(x))`; with post-norms
//! (Gemma), each branch's output is normed again before it joins the residual stream.

use burn::nn::{Dropout, DropoutConfig, RotaryEncoding};
use burn::prelude::*;
use claude_tensors::kernels::dropout;

use crate::attention::CausalSelfAttention;
use crate::branch::{Branch, BranchOutput};
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
    /// Norm of the attention's output (Gemma's `post_attention_norm`).
    pub ln_1_post: Option<Norm>,
    /// Norm before the MLP.
    pub ln_2: Norm,
    /// Feed-forward network.
    pub mlp: Mlp,
    /// Norm of the MLP's output (Gemma's `post_ffw_norm`).
    pub ln_2_post: Option<Norm>,
    /// Dropout on the MLP's output (training only).
    pub mlp_dropout: Dropout,
}

impl Block {
    /// A freshly initialised block, the `layer`-th of the model.
    pub fn new(config: &ModelConfig, layer: usize, device: &Device) -> Self {
        let post_norm = || config.post_norms.then(|| Norm::new(config, device));
        Block {
            ln_1: Norm::new(config, device),
            attn: CausalSelfAttention::new(config, layer, device),
            ln_1_post: post_norm(),
            ln_2: Norm::new(config, device),
            mlp: Mlp::new(config, device),
            ln_2_post: post_norm(),
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
        self.forward_with(x, |attn, branch| attn.forward(branch, rope, cache))
    }

    /// One new token per row against this layer's cache.
    pub(crate) fn forward_decode(
        &self,
        x: Tensor<3>,
        rope: Option<&RotaryEncoding>,
        step: &DecodeStep,
        cache: &mut LayerCache,
    ) -> Tensor<3> {
        self.forward_with(x, |attn, branch| {
            attn.forward_decode(branch, rope, step, cache)
        })
    }

    /// New positions `start..` of a one-row sequence against this layer's cache (see
    /// [`CausalSelfAttention::forward_extend`]).
    pub(crate) fn forward_extend(
        &self,
        x: Tensor<3>,
        rope: Option<&RotaryEncoding>,
        start: usize,
        cache: &mut LayerCache,
    ) -> Tensor<3> {
        self.forward_with(x, |attn, branch| {
            attn.forward_extend(branch, rope, start, cache)
        })
    }

    /// The residual structure around a given attention call.
    fn forward_with(
        &self,
        x: Tensor<3>,
        attend: impl FnOnce(&CausalSelfAttention, Branch<'_>) -> BranchOutput,
    ) -> Tensor<3> {
        let branch = Branch::new(x.clone(), &self.ln_1, self.ln_1_post.is_some());
        let x = attend(&self.attn, branch).join(x, |y| post_norm(&self.ln_1_post, y));
        let branch = Branch::new(x.clone(), &self.ln_2, self.ln_2_post.is_some());
        (self.mlp.forward_branch(branch)).join(x, |y| {
            dropout(&self.mlp_dropout, post_norm(&self.ln_2_post, y))
        })
    }
}

/// `x` through `norm`, where the block has it.
fn post_norm(norm: &Option<Norm>, x: Tensor<3>) -> Tensor<3> {
    match norm {
        Some(norm) => norm.forward(x),
        None => x,
    }
}
