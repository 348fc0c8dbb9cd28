//! The llama.cpp architectures a [`ModelConfig`] maps onto, in one place for reading and writing
//! GGUF: their names, tensor names and metadata keys, and the variants each stands for. Every
//! architecture is the one [`Gpt`](crate::Gpt) with some variants switched on, never a second
//! model.
//!
//! | architecture | positions | norms | MLP | biases | query, key, value | also |
//! |---|---|---|---|---|---|---|
//! | `llama` | RoPE, adjacent pairs | RMSNorm | SwiGLU (`ffn_gate`, `ffn_up`) | none | `attn_q`, `attn_k`, `attn_v` | |
//! | `gpt2` | learned (`position_embd`) | LayerNorm | GeLU (`ffn_up`) | all | `attn_qkv` | |
//! | `starcoder2` | RoPE, NeoX halves | LayerNorm | GeLU (`ffn_up`) | all | `attn_q`, `attn_k`, `attn_v` | |
//! | `qwen2` | RoPE, NeoX halves | RMSNorm | SwiGLU | query, key, value | `attn_q`, `attn_k`, `attn_v` | |
//! | `qwen3` | RoPE, NeoX halves | RMSNorm | SwiGLU | none | `attn_q`, `attn_k`, `attn_v` | per-head query/key norms (`attn_q_norm`, `attn_k_norm`), `attention.key_length` |
//! | `gemma3` | RoPE, NeoX halves | RMSNorm, also after attention and MLP (`post_attention_norm`, `post_ffw_norm`) | tanh-GeGLU | none | `attn_q`, `attn_k`, `attn_v` | query/key norms, embeddings times `sqrt(d)`, 5 of 6 layers attend in a window (`attention.sliding_window`) with RoPE base 10,000 |
//! | `phi3` | RoPE, NeoX halves | RMSNorm | SwiGLU (gate and up fused in `ffn_up`) | none | `attn_qkv` | |
//!
//! Our rotary embeddings rotate adjacent pairs `(2i, 2i+1)` of each head, which is ggml's
//! "normal" RoPE (`llama`). llama.cpp rotates dimension `i` with `i + d/2` (NeoX) in every other
//! rotary architecture here: writing such a file reorders each head's query and key rows (and
//! biases, and the per-head norms' weights) so that the NeoX rotation of the stored rows is ours
//! of the model's ([`neox_order`]); a shared reordering of queries and keys leaves their dot
//! products unchanged. Reading undoes it.
//!
//! llama.cpp's converter folds Gemma's `1 + w` norm weights into the stored ones, so they are
//! plain RMSNorm weights here. ggml computes GeLU with its tanh approximation: for `gpt2` and
//! `starcoder2` ours is exact (erf), so llama.cpp's logits of those differ from ours in the third
//! or fourth digit; Gemma's MLP is tanh-GeGLU in both.

use crate::config::{Activation, ModelConfig, NormKind, Positions, SlidingWindow};
use crate::model_file::UnsupportedModelFile;

/// A llama.cpp architecture (`general.architecture`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Architecture {
    /// Llama and its family (SmolLM2, Mistral, TinyLlama, llama2.c exports).
    Llama,
    /// GPT-2.
    Gpt2,
    /// StarCoder2: GPT-2's norms and MLP with rotary positions and grouped-query attention.
    Starcoder2,
    /// Qwen2 and Qwen2.5: Llama with biases on the query, key and value projection.
    Qwen2,
    /// Qwen3: Llama with per-head query and key norms and a head width of its own.
    Qwen3,
    /// Gemma 3: sandwich norms, tanh-GeGLU, query/key norms, scaled embeddings and local
    /// sliding-window layers.
    Gemma3,
    /// Phi-3: Llama with fused query/key/value and gate/up tensors.
    Phi3,
}

/// Gemma 3's layers come in groups of six: five local, then one global.
const GEMMA3_WINDOW_EVERY: usize = 6;

/// The RoPE base of Gemma 3's local layers (llama.cpp sets it; the file does not store it).
const GEMMA3_LOCAL_ROPE_THETA: f32 = 10_000.0;

impl Architecture {
    /// Every architecture, for messages; when two compute the same config, the first is written.
    pub(crate) const ALL: [Architecture; 7] = [
        Architecture::Llama,
        Architecture::Gpt2,
        Architecture::Starcoder2,
        Architecture::Qwen2,
        Architecture::Qwen3,
        Architecture::Gemma3,
        Architecture::Phi3,
    ];

    /// The `general.architecture` name, which also prefixes the hyperparameter keys.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Architecture::Llama => "llama",
            Architecture::Gpt2 => "gpt2",
            Architecture::Starcoder2 => "starcoder2",
            Architecture::Qwen2 => "qwen2",
            Architecture::Qwen3 => "qwen3",
            Architecture::Gemma3 => "gemma3",
            Architecture::Phi3 => "phi3",
        }
    }

    /// The architecture called `name`.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|arch| arch.name() == name)
    }

    /// The names of every architecture, for messages.
    pub(crate) fn names() -> Vec<&'static str> {
        Self::ALL.map(Self::name).to_vec()
    }

    /// The architecture whose computation is `config`'s, or why there is none.
    pub(crate) fn of_config(config: &ModelConfig) -> Result<Self, UnsupportedModelFile> {
        Self::ALL
            .into_iter()
            .find(|arch| arch.computes(config))
            .ok_or_else(|| UnsupportedModelFile::NoArchitecture {
                variants: describe_variants(config),
                supported: Self::names(),
            })
    }

    /// Whether a file of this architecture computes what `config` does.
    fn computes(self, config: &ModelConfig) -> bool {
        let own = self.variants();
        let any_bias = matches!(self, Architecture::Gpt2 | Architecture::Starcoder2);
        let window = |c: &ModelConfig| c.sliding_window.map(|w| (w.every, w.rope_theta));
        (own.positions, own.activation, own.norm)
            == (config.positions, config.activation, config.norm)
            && (any_bias || (own.bias, own.qkv_bias) == (config.bias, config.qkv_bias))
            && (own.qk_norm, own.post_norms, own.scale_embeddings)
                == (config.qk_norm, config.post_norms, config.scale_embeddings)
            && window(&own) == window(config)
    }

    /// The variants the architecture stands for, in a config with no sizes yet (a window of
    /// size 0 where the size is the file's to say).
    pub(crate) fn variants(self) -> ModelConfig {
        use Activation::*;
        use NormKind::*;
        use Positions::*;
        let base = |positions, activation, norm, bias| ModelConfig {
            positions,
            activation,
            norm,
            bias,
            ..ModelConfig::default()
        };
        match self {
            Architecture::Llama | Architecture::Phi3 => base(Rope, Swiglu, Rmsnorm, false),
            Architecture::Gpt2 => base(Learned, Gelu, Layernorm, true),
            Architecture::Starcoder2 => base(Rope, Gelu, Layernorm, true),
            Architecture::Qwen2 => ModelConfig {
                qkv_bias: true,
                ..base(Rope, Swiglu, Rmsnorm, false)
            },
            Architecture::Qwen3 => ModelConfig {
                qk_norm: true,
                ..base(Rope, Swiglu, Rmsnorm, false)
            },
            Architecture::Gemma3 => ModelConfig {
                qk_norm: true,
                post_norms: true,
                scale_embeddings: true,
                sliding_window: Some(SlidingWindow {
                    size: 0,
                    every: GEMMA3_WINDOW_EVERY,
                    rope_theta: GEMMA3_LOCAL_ROPE_THETA,
                }),
                ..base(Rope, GegluTanh, Rmsnorm, false)
            },
        }
    }

    /// The hyperparameter key `{arch}.{key}`.
    pub(crate) fn key(self, key: &str) -> String {
        format!("{}.{key}", self.name())
    }

    /// The key of the norms' epsilon (without the architecture prefix).
    pub(crate) fn eps_key(self) -> &'static str {
        match self.variants().norm {
            NormKind::Rmsnorm => "attention.layer_norm_rms_epsilon",
            NormKind::Layernorm => "attention.layer_norm_epsilon",
        }
    }

    /// Whether llama.cpp rotates this architecture's queries and keys in NeoX halves (so their
    /// rows are stored in [`neox_order`]).
    pub(crate) fn neox(self) -> bool {
        !matches!(self, Architecture::Llama | Architecture::Gpt2)
    }

    /// The tensors of a block's fused query/key/value projection, top to bottom, each with how
    /// its rows are stored.
    pub(crate) fn attention_parts(self) -> &'static [(&'static str, HeadRows)] {
        match self {
            Architecture::Llama => &[
                ("attn_q", HeadRows::Plain),
                ("attn_k", HeadRows::Plain),
                ("attn_v", HeadRows::Plain),
            ],
            Architecture::Gpt2 => &[("attn_qkv", HeadRows::Plain)],
            Architecture::Phi3 => &[("attn_qkv", HeadRows::NeoxFused)],
            Architecture::Starcoder2
            | Architecture::Qwen2
            | Architecture::Qwen3
            | Architecture::Gemma3 => &[
                ("attn_q", HeadRows::NeoxQueries),
                ("attn_k", HeadRows::NeoxKeys),
                ("attn_v", HeadRows::Plain),
            ],
        }
    }

    /// The tensors of a block's fused MLP input projection, top to bottom.
    pub(crate) fn mlp_in_parts(self) -> &'static [&'static str] {
        match self {
            Architecture::Gpt2 | Architecture::Starcoder2 | Architecture::Phi3 => &["ffn_up"],
            Architecture::Llama
            | Architecture::Qwen2
            | Architecture::Qwen3
            | Architecture::Gemma3 => &["ffn_gate", "ffn_up"],
        }
    }

    /// The names of the norms after attention and after the MLP, where the architecture has
    /// them.
    pub(crate) fn post_norm_names(self) -> Option<[&'static str; 2]> {
        self.variants()
            .post_norms
            .then_some(["post_attention_norm", "post_ffw_norm"])
    }

    /// Whether llama.cpp needs `output.weight` even when the model ties it to the token table.
    pub(crate) fn needs_output(self) -> bool {
        self == Architecture::Gpt2
    }
}

/// The variant choices of `config`, for messages.
fn describe_variants(config: &ModelConfig) -> String {
    format!(
        "positions = {:?}, activation = {:?}, norm = {:?}, bias = {}, qkv_bias = {}, qk_norm = {}, \
         post_norms = {}, scale_embeddings = {}, sliding_window = {:?}",
        config.positions,
        config.activation,
        config.norm,
        config.bias,
        config.qkv_bias,
        config.qk_norm,
        config.post_norms,
        config.scale_embeddings,
        config.sliding_window,
    )
}

/// How one part of the query/key/value projection stores its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadRows {
    /// As the model uses them.
    Plain,
    /// Query heads in [`neox_order`].
    NeoxQueries,
    /// Key heads in [`neox_order`].
    NeoxKeys,
    /// A fused query/key/value tensor whose query and key heads are in [`neox_order`].
    NeoxFused,
}

impl HeadRows {
    /// The stored order of the part's rows (`order[stored] = model row`), `None` when plain.
    pub(crate) fn order(self, config: &ModelConfig) -> Option<Vec<usize>> {
        let head_dim = config.head_dim();
        let heads = match self {
            HeadRows::Plain => return None,
            HeadRows::NeoxQueries => config.n_head,
            HeadRows::NeoxKeys => config.kv_heads(),
            HeadRows::NeoxFused => {
                // The query and key heads rotate alike; the value rows follow as they are.
                let rotated = config.n_head + config.kv_heads();
                let mut order = neox_order(rotated, head_dim);
                order.extend(rotated * head_dim..(rotated + config.kv_heads()) * head_dim);
                return Some(order);
            }
        };
        Some(neox_order(heads, head_dim))
    }
}

/// For `heads` heads of `head_dim` rows, the model row stored at each position when adjacent
/// rotary pairs `(2i, 2i+1)` are stored as NeoX's `(i, i + head_dim/2)`.
pub(crate) fn neox_order(heads: usize, head_dim: usize) -> Vec<usize> {
    let half = head_dim / 2;
    (0..heads * head_dim)
        .map(|stored| {
            let (head, j) = (stored / head_dim, stored % head_dim);
            head * head_dim + if j < half { 2 * j } else { 2 * (j - half) + 1 }
        })
        .collect()
}

/// `rows` of `row_len` items reordered so that row `i` of the result is row `order[i]` of `rows`.
pub(crate) fn gather_rows<T: Copy>(rows: &[T], row_len: usize, order: &[usize]) -> Vec<T> {
    order
        .iter()
        .flat_map(|&r| &rows[r * row_len..(r + 1) * row_len])
        .copied()
        .collect()
}

/// The inverse of [`gather_rows`]: row `order[i]` of the result is row `i` of `rows`.
pub(crate) fn scatter_rows<T: Copy + Default>(
    rows: &[T],
    row_len: usize,
    order: &[usize],
) -> Vec<T> {
    let mut out = vec![T::default(); rows.len()];
    for (i, &r) in order.iter().enumerate() {
        out[r * row_len..(r + 1) * row_len].copy_from_slice(&rows[i * row_len..(i + 1) * row_len]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neox_order_pairs_halves_with_adjacent_rows() {
        assert_eq!(neox_order(2, 4), vec![0, 2, 1, 3, 4, 6, 5, 7]);
        let rows: Vec<u32> = (0..12).collect();
        let order = neox_order(1, 6);
        let stored = gather_rows(&rows, 2, &order);
        assert_eq!(stored[..4], [0, 1, 4, 5]);
        assert_eq!(scatter_rows(&stored, 2, &order), rows);
    }

    #[test]
    fn configs_map_to_architectures_and_back() {
        for arch in Architecture::ALL {
            // Phi-3 computes what Llama does: only the file layout differs.
            let written = match arch {
                Architecture::Phi3 => Architecture::Llama,
                arch => arch,
            };
            assert_eq!(
                Architecture::of_config(&arch.variants()).ok(),
                Some(written)
            );
            assert_eq!(Architecture::from_name(arch.name()), Some(arch));
        }
        let sinusoidal = ModelConfig {
            positions: Positions::Sinusoidal,
            ..ModelConfig::default()
        };
        let err = Architecture::of_config(&sinusoidal)
            .unwrap_err()
            .to_string();
        assert!(err.contains("positions = Sinusoidal"), "{err}");
        assert!(err.contains("gemma3"), "{err}");
    }
}
