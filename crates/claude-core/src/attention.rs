//! Causal multi-head self-attention (Vaswani et al., 2017, "Attention Is All You Need"), with the
//! query/key/value projections fused into one matrix as in GPT-2 (`c_attn`).
//!
//! The full-sequence pass goes through [`claude_tensors::kernels::causal_self_attention`]: on the
//! CPU our kernel reads the heads straight out of the packed projection (rotary positions
//! fused) with its own backward pass; elsewhere the heads are split and burn's `attention` op
//! with `is_causal` runs (a flash kernel where the backend has one).

use burn::nn::{Dropout, DropoutConfig, Linear, RotaryEncoding};
use burn::prelude::*;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use claude_tensors::kernels::{causal_attention, causal_self_attention, merge_heads, split_heads};

use crate::config::ModelConfig;
use crate::init::{INIT_STD, linear, residual_std};
use crate::kv_cache::{DecodeStep, LayerCache};
use crate::position::rotate_at;
use crate::rows::linear_rows;

/// One attention layer.
#[derive(Module, Debug)]
pub struct CausalSelfAttention {
    /// Fused query, key and value projection, `[d_model, 3 * d_model]`.
    pub c_attn: Linear,
    /// Output projection, `[d_model, d_model]`.
    pub c_proj: Linear,
    /// Dropout on the output (training only).
    pub resid_dropout: Dropout,
    n_head: usize,
}

impl CausalSelfAttention {
    /// A freshly initialised layer.
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let d = config.d_model;
        CausalSelfAttention {
            c_attn: linear(d, 3 * d, config.bias, INIT_STD, device),
            c_proj: linear(d, d, config.bias, residual_std(config.n_layer), device),
            resid_dropout: DropoutConfig::new(config.dropout).init(),
            n_head: config.n_head,
        }
    }

    /// Attends each position to itself and the positions before it.
    ///
    /// `rope`, when given, rotates queries and keys for positions `start..start + seq`.
    ///
    /// # Shapes
    /// - x: `[batch, seq, d_model]` -> `[batch, seq, d_model]`
    pub fn forward(&self, x: Tensor<3>, rope: Option<&RotaryEncoding>, start: usize) -> Tensor<3> {
        let qkv = linear_rows(&self.c_attn, x);
        let y = causal_self_attention(qkv, self.n_head, rope.map(|rope| (rope, start)));
        self.project(y)
    }

    /// [`forward`](Self::forward) from position 0, storing the keys and values in `cache`.
    pub(crate) fn forward_prefill(
        &self,
        x: Tensor<3>,
        rope: Option<&RotaryEncoding>,
        cache: &mut LayerCache,
    ) -> Tensor<3> {
        let (q, k, v) = self.heads(x, rope, 0);
        cache.write_prefix(k.clone(), v.clone());
        self.output(causal_attention(q, k, v))
    }

    /// One new token per row, attending to that row's cached positions and itself.
    ///
    /// # Shapes
    /// - x: `[rows, 1, d_model]` -> `[rows, 1, d_model]`
    pub(crate) fn forward_decode(
        &self,
        x: Tensor<3>,
        rope: Option<&RotaryEncoding>,
        step: &DecodeStep,
        cache: &mut LayerCache,
    ) -> Tensor<3> {
        let (mut q, mut k, v) = self.heads(x, None, 0);
        if let Some(rope) = rope {
            q = rotate_at(rope, q, &step.position_ids);
            k = rotate_at(rope, k, &step.position_ids);
        }
        cache.write_at(&step.positions, k, v);
        let (keys, values) = cache.prefix(step.key_len);
        let y = attention(
            q,
            keys,
            values,
            Some(step.mask.clone()),
            None,
            AttentionModuleOptions::default(),
        );
        self.output(y)
    }

    /// Queries, keys and values split into heads, rotated for positions `start..` when `rope`
    /// is given.
    ///
    /// # Shapes
    /// - x: `[batch, seq, d_model]` -> 3 x `[batch, heads, seq, head_dim]`
    fn heads(
        &self,
        x: Tensor<3>,
        rope: Option<&RotaryEncoding>,
        start: usize,
    ) -> (Tensor<4>, Tensor<4>, Tensor<4>) {
        let qkv = linear_rows(&self.c_attn, x);
        split_heads(qkv, self.n_head, rope.map(|rope| (rope, start)))
    }

    /// Merges the heads and applies the output projection.
    ///
    /// # Shapes
    /// - y: `[batch, heads, seq, head_dim]` -> `[batch, seq, d_model]`
    fn output(&self, y: Tensor<4>) -> Tensor<3> {
        self.project(merge_heads(y))
    }

    /// The output projection (and dropout) of the merged heads.
    ///
    /// # Shapes
    /// - y: `[batch, seq, d_model]` -> `[batch, seq, d_model]`
    fn project(&self, y: Tensor<3>) -> Tensor<3> {
        self.resid_dropout.forward(linear_rows(&self.c_proj, y))
    }

    /// Number of heads.
    pub fn n_head(&self) -> usize {
        self.n_head
    }
}
