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
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use claude_tensors::kernels::{
    causal_self_attention, decode_attention, dropout, merge_heads, rotate_rows_at, split_heads,
    windowed_causal_attention,
};

use crate::branch::{Branch, BranchOutput};
use crate::config::ModelConfig;
use crate::init::{INIT_STD, linear, residual_std};
use crate::kv_cache::{DecodeStep, LayerCache};
use crate::norm::Norm;
use crate::projection::Projection;

/// One attention layer.
#[derive(Module, Debug)]
pub struct CausalSelfAttention {
    /// Fused query, key and value projection, `[d_model, (n_head + 2 * n_kv_head) * head_dim]`:
    /// the query heads, then the key heads, then the value heads.
    pub c_attn: Projection,
    /// Output projection, `[n_head * head_dim, d_model]`.
    pub c_proj: Projection,
    /// RMSNorm over each query head before the rotation (Qwen3, Gemma 3).
    pub q_norm: Option<Norm>,
    /// RMSNorm over each key head before the rotation.
    pub k_norm: Option<Norm>,
    /// Dropout on the output (training only).
    pub resid_dropout: Dropout,
    n_head: usize,
    n_kv_head: usize,
    /// Positions a query sees (itself included) on a sliding-window layer.
    window: Option<usize>,
}

impl CausalSelfAttention {
    /// A freshly initialised layer, the `layer`-th of the model (which decides its window).
    pub fn new(config: &ModelConfig, layer: usize, device: &Device) -> Self {
        let d = config.d_model;
        let (n_head, n_kv_head) = (config.n_head, config.kv_heads());
        let qkv = (n_head + 2 * n_kv_head) * config.head_dim();
        let head_norm = || {
            config
                .qk_norm
                .then(|| Norm::rms(config.head_dim(), config.norm_eps, device))
        };
        CausalSelfAttention {
            c_attn: linear(d, qkv, config.attention_bias(), INIT_STD, device),
            c_proj: linear(
                config.attention_width(),
                d,
                config.bias,
                residual_std(config.n_layer),
                device,
            ),
            q_norm: head_norm(),
            k_norm: head_norm(),
            resid_dropout: DropoutConfig::new(config.dropout).init(),
            n_head,
            n_kv_head,
            window: config.layer_window(layer),
        }
    }

    /// Attends each position to itself and the positions before it (within the window on a
    /// sliding-window layer), from position 0; with a `cache`, also stores every position's
    /// (rotated) key and value there, for [`forward_decode`](Self::forward_decode) to continue
    /// from. Training and a prompt's prefill are the same computation.
    ///
    /// `rope`, when given, rotates queries and keys.
    ///
    /// # Shapes
    /// - the branch's residual stream: `[batch, seq, d_model]`, and so is its output
    pub(crate) fn forward(
        &self,
        branch: Branch<'_>,
        rope: Option<&RotaryEncoding>,
        cache: Option<&mut LayerCache>,
    ) -> BranchOutput {
        let qkv = branch.input(&self.c_attn);
        let seq = qkv.dims()[1];
        let windowed = self.window.is_some_and(|window| seq > window);
        let plain = self.q_norm.is_none() && self.k_norm.is_none() && !windowed;
        if plain && self.n_kv_head == self.n_head {
            let rope = rope.map(|rope| (rope, 0));
            if let Some(cache) = cache {
                let (_, keys, values) = split_heads(qkv.clone(), self.n_head, self.n_head, rope);
                cache.write_prefix(keys, values);
            }
            return self.project(branch, causal_self_attention(qkv, self.n_head, rope));
        }
        let (q, k, v) = split_heads(qkv, self.n_head, self.n_kv_head, None);
        let (mut q, mut k) = self.norm_heads(q, k);
        if let Some(rope) = rope {
            q = rope.apply(q, 0);
            k = rope.apply(k, 0);
        }
        if let Some(cache) = cache {
            cache.write_prefix(k.clone(), v.clone());
        }
        // Grouped-query attention: every key/value head serves a group of query heads.
        let group = self.n_head / self.n_kv_head;
        let (k, v) = (repeat_heads(k, group), repeat_heads(v, group));
        let y = windowed_causal_attention(q, k, v, self.window.unwrap_or(seq));
        self.project(branch, merge_heads(y))
    }

    /// Queries and keys through their per-head norms, where the model has them.
    ///
    /// # Shapes
    /// - q: `[batch, n_head, seq, head_dim]`, k: `[batch, n_kv_head, seq, head_dim]` -> the same
    fn norm_heads(&self, q: Tensor<4>, k: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let norm = |norm: &Option<Norm>, x: Tensor<4>| match norm {
            Some(norm) => norm.forward_heads(x),
            None => x,
        };
        (norm(&self.q_norm, q), norm(&self.k_norm, k))
    }

    /// One new token per row, attending to that row's cached positions and itself.
    ///
    /// # Shapes
    /// - the branch's residual stream: `[rows, 1, d_model]`, and so is its output
    pub(crate) fn forward_decode(
        &self,
        branch: Branch<'_>,
        rope: Option<&RotaryEncoding>,
        step: &DecodeStep,
        cache: &mut LayerCache,
    ) -> BranchOutput {
        let qkv = branch.input(&self.c_attn);
        let (q, k, v) = split_heads(qkv, self.n_head, self.n_kv_head, None);
        let (mut q, mut k) = self.norm_heads(q, k);
        if let Some(rope) = rope {
            q = rotate_rows_at(rope, q, &step.positions);
            k = rotate_rows_at(rope, k, &step.positions);
        }
        cache.write_at(&step.positions, k, v);
        // A sliding-window layer's cache is a ring of its window: its valid keys are the first
        // `min(position + 1, window)` slots, the step's masks cut to that length.
        let len = cache.readable(step.key_len);
        let (keys, values) = cache.prefix(len);
        let (key_lens, mask) = match len < step.key_len {
            true => (
                step.key_lens.clone().clamp_max(len as i32),
                step.mask.clone().slice(s![.., .., .., 0..len]),
            ),
            false => (step.key_lens.clone(), step.mask.clone()),
        };
        let y = decode_attention(q, keys, values, key_lens, mask);
        self.project(branch, merge_heads(y))
    }

    /// New positions `start..start + seq` of a one-row sequence whose first `start` positions
    /// are cached: each attends to the cached ones and to the new ones up to itself. Stores the
    /// new keys and values in the cache. Continues a cached prompt prefix, and prefills a long
    /// prompt a chunk at a time. A sliding-window layer takes it only while `start + seq` is
    /// within its window (its cache has not wrapped, and no position is out of sight yet).
    ///
    /// # Shapes
    /// - the branch's residual stream: `[1, seq, d_model]`, and so is its output
    pub(crate) fn forward_extend(
        &self,
        branch: Branch<'_>,
        rope: Option<&RotaryEncoding>,
        start: usize,
        cache: &mut LayerCache,
    ) -> BranchOutput {
        let qkv = branch.input(&self.c_attn);
        let [rows, seq, _] = qkv.dims();
        assert!(
            self.window.is_none_or(|window| start + seq <= window),
            "positions past a sliding window cannot extend a cache"
        );
        let (q, k, v) = split_heads(qkv, self.n_head, self.n_kv_head, None);
        let (mut q, mut k) = self.norm_heads(q, k);
        if let Some(rope) = rope {
            q = rope.apply(q, start);
            k = rope.apply(k, start);
        }
        cache.write_range(start, k, v);
        let len = start + seq;
        let (keys, values) = cache.prefix_f32(len);
        // The queries of a key/value head's group read its keys together: `[group * seq]`
        // queries of one head, query `g * seq + i` at position `start + i`.
        let group = self.n_head / self.n_kv_head;
        let head_dim = q.dims()[3];
        let q = q.reshape([rows, self.n_kv_head, group * seq, head_dim]);
        let hidden: Vec<bool> = (0..group * seq)
            .flat_map(|query| (0..len).map(move |key| key > start + query % seq))
            .collect();
        let mask = Tensor::<2, Bool>::from_data(
            TensorData::new(hidden, [group * seq, len]),
            &keys.device(),
        )
        .reshape([1, 1, group * seq, len])
        .expand([rows, self.n_kv_head, group * seq, len]);
        let options = AttentionModuleOptions::default();
        let y = attention(q, keys, values, Some(mask), None, options);
        self.project(
            branch,
            merge_heads(y.reshape([rows, self.n_head, seq, head_dim])),
        )
    }

    /// The output projection (and dropout) of the merged heads, as the branch's output.
    ///
    /// # Shapes
    /// - y: `[batch, seq, d_model]`
    fn project(&self, branch: Branch<'_>, y: Tensor<3>) -> BranchOutput {
        (branch.output(&self.c_proj, y)).map_apart(|y| dropout(&self.resid_dropout, y))
    }

    /// Number of key/value heads.
    pub fn n_kv_head(&self) -> usize {
        self.n_kv_head
    }

    /// Number of (query) heads.
    pub fn n_head(&self) -> usize {
        self.n_head
    }

    /// The window of a sliding-window layer (positions a query sees, itself included); `None`
    /// on a global layer.
    pub fn window(&self) -> Option<usize> {
        self.window
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
