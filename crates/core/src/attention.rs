//! Causal multi-head self-attention (Vaswani et al., 2017, "Attention Is All You Need"), with the
//! query/key/value projections fused into one matrix as in GPT-2 (`c_attn`).
//!
//! Two paths: the full sequence from position 0 (training, and a prompt's prefill, which also
//! fills the cache), and one new token per row against the cache (decode). The full pass goes
//! through [`claude_tensors::kernels::causal_self_attention`]: on the CPU our kernel reads the
//! heads straight out of the packed projection (rotary positions fused) with its own backward
//! pass; elsewhere the heads are split and burn's `attention` op with `is_causal` runs (a flash
//! kernel where the backend has one).

use burn::nn::{Dropout, DropoutConfig, RotaryEncoding};
use burn::prelude::*;

use claude_tensors::kernels::{
    causal_attention, causal_self_attention, decode_attention, merge_heads, split_heads,
};

use crate::config::ModelConfig;
use crate::init::{INIT_STD, linear, residual_std};
use crate::kv_cache::{DecodeStep, LayerCache};
use crate::position::rotate_at;
use crate::projection::Projection;

/// One attention layer.
#[derive(Module, Debug)]
pub struct CausalSelfAttention {
    /// Fused query, key and value projection, `[d_model, (n_head + 2 * n_kv_head) * head_dim]`:
    /// the query heads, then the key heads, then the value heads.
    pub c_attn: Projection,
    /// Output projection, `[d_model, d_model]`.
    pub c_proj: Projection,
    /// Dropout on the output (training only).
    pub resid_dropout: Dropout,
    n_head: usize,
    n_kv_head: usize,
}

impl CausalSelfAttention {
    /// A freshly initialised layer.
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let d = config.d_model;
        let (n_head, n_kv_head) = (config.n_head, config.kv_heads());
        let qkv = (n_head + 2 * n_kv_head) * config.head_dim();
        CausalSelfAttention {
            c_attn: linear(d, qkv, config.bias, INIT_STD, device),
            c_proj: linear(d, d, config.bias, residual_std(config.n_layer), device),
            resid_dropout: DropoutConfig::new(config.dropout).init(),
            n_head,
            n_kv_head,
        }
    }

    /// Attends each position to itself and the positions before it, from position 0; with a
    /// `cache`, also stores every position's (rotated) key and value there, for
    /// [`forward_decode`](Self::forward_decode) to continue from. Training and a prompt's
    /// prefill are the same computation.
    ///
    /// `rope`, when given, rotates queries and keys.
    ///
    /// # Shapes
    /// - x: `[batch, seq, d_model]` -> `[batch, seq, d_model]`
    pub(crate) fn forward(
        &self,
        x: Tensor<3>,
        rope: Option<&RotaryEncoding>,
        cache: Option<&mut LayerCache>,
    ) -> Tensor<3> {
        let qkv = self.c_attn.forward(x);
        let rope = rope.map(|rope| (rope, 0));
        if self.n_kv_head == self.n_head {
            if let Some(cache) = cache {
                let (_, keys, values) = split_heads(qkv.clone(), self.n_head, self.n_head, rope);
                cache.write_prefix(keys, values);
            }
            return self.project(causal_self_attention(qkv, self.n_head, rope));
        }
        // Grouped-query attention: every key/value head serves a group of query heads.
        let (q, k, v) = split_heads(qkv, self.n_head, self.n_kv_head, rope);
        if let Some(cache) = cache {
            cache.write_prefix(k.clone(), v.clone());
        }
        let group = self.n_head / self.n_kv_head;
        let y = causal_attention(q, repeat_heads(k, group), repeat_heads(v, group));
        self.project(merge_heads(y))
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
        let qkv = self.c_attn.forward(x);
        let (mut q, mut k, v) = split_heads(qkv, self.n_head, self.n_kv_head, None);
        if let Some(rope) = rope {
            q = rotate_at(rope, q, &step.position_ids);
            k = rotate_at(rope, k, &step.position_ids);
        }
        cache.write_at(&step.positions, k, v);
        let (keys, values) = cache.prefix(step.key_len);
        let y = decode_attention(q, keys, values, step.key_lens.clone(), step.mask.clone());
        self.project(merge_heads(y))
    }

    /// The output projection (and dropout) of the merged heads.
    ///
    /// # Shapes
    /// - y: `[batch, seq, d_model]` -> `[batch, seq, d_model]`
    fn project(&self, y: Tensor<3>) -> Tensor<3> {
        self.resid_dropout.forward(self.c_proj.forward(y))
    }

    /// Number of key/value heads.
    pub fn n_kv_head(&self) -> usize {
        self.n_kv_head
    }

    /// Number of (query) heads.
    pub fn n_head(&self) -> usize {
        self.n_head
    }
}

/// Each of the `heads` key or value heads repeated for the `group` query heads it serves
/// (consecutive query heads share a key/value head, as in Llama and llama.cpp).
///
/// # Shapes
/// - x: `[batch, heads, seq, head_dim]` -> `[batch, heads * group, seq, head_dim]`
fn repeat_heads(x: Tensor<4>, group: usize) -> Tensor<4> {
    let [batch, heads, seq, head_dim] = x.dims();
    x.unsqueeze_dim::<5>(2)
        .expand([batch, heads, group, seq, head_dim])
        .reshape([batch, heads * group, seq, head_dim])
}
