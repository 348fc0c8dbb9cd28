//! The llama.cpp architectures a [`ModelConfig`] maps onto, in one place for reading and writing
//! GGUF: their names, tensor names and metadata keys, and the variants each stands for.
//!
//! | architecture | positions | norms | MLP | biases | query, key, value |
//! |---|---|---|---|---|---|
//! | `llama` | RoPE, adjacent pairs | RMSNorm | SwiGLU (`ffn_gate`, `ffn_up`) | none | `attn_q`, `attn_k`, `attn_v` |
//! | `gpt2` | learned (`position_embd`) | LayerNorm | GeLU (`ffn_up`) | all | `attn_qkv` |
//! | `starcoder2` | RoPE, NeoX halves | LayerNorm | GeLU (`ffn_up`) | all | `attn_q`, `attn_k`, `attn_v` |
//!
//! Our rotary embeddings rotate adjacent pairs `(2i, 2i+1)` of each head, which is ggml's
//! "normal" RoPE (`llama`). llama.cpp rotates `starcoder2`'s dimension `i` with `i + d/2`
//! (NeoX): writing such a file reorders each head's query and key rows (and biases) so that the
//! NeoX rotation of the stored rows is ours of the model's ([`neox_order`]); a shared reordering
//! of queries and keys leaves their dot products unchanged. Reading undoes it.
//!
//! ggml computes GeLU with its tanh approximation, ours is exact (erf): llama.cpp's logits of a
//! GeLU model differ from ours in the third or fourth digit.

use crate::config::{Activation, ModelConfig, NormKind, Positions};
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
}

impl Architecture {
    /// Every architecture, for messages.
    pub(crate) const ALL: [Architecture; 3] = [
        Architecture::Llama,
        Architecture::Gpt2,
        Architecture::Starcoder2,
    ];

    /// The `general.architecture` name, which also prefixes the hyperparameter keys.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Architecture::Llama => "llama",
            Architecture::Gpt2 => "gpt2",
            Architecture::Starcoder2 => "starcoder2",
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
        use Activation::*;
        use NormKind::*;
        use Positions::*;
        match (
            config.positions,
            config.activation,
            config.norm,
            config.bias,
        ) {
            (Rope, Swiglu, Rmsnorm, false) => Ok(Architecture::Llama),
            (Learned, Gelu, Layernorm, _) => Ok(Architecture::Gpt2),
            (Rope, Gelu, Layernorm, _) => Ok(Architecture::Starcoder2),
            (positions, activation, norm, bias) => Err(UnsupportedModelFile::NoArchitecture {
                positions,
                activation,
                norm,
                bias,
            }),
        }
    }

    /// The variants the architecture stands for, in a config with no sizes yet.
    pub(crate) fn variants(self) -> ModelConfig {
        let (positions, activation, norm, bias) = match self {
            Architecture::Llama => (
                Positions::Rope,
                Activation::Swiglu,
                NormKind::Rmsnorm,
                false,
            ),
            Architecture::Gpt2 => (
                Positions::Learned,
                Activation::Gelu,
                NormKind::Layernorm,
                true,
            ),
            Architecture::Starcoder2 => {
                (Positions::Rope, Activation::Gelu, NormKind::Layernorm, true)
            }
        };
        ModelConfig {
            positions,
            activation,
            norm,
            bias,
            ..ModelConfig::default()
        }
    }

    /// The hyperparameter key `{arch}.{key}`.
    pub(crate) fn key(self, key: &str) -> String {
        format!("{}.{key}", self.name())
    }

    /// The key of the norms' epsilon (without the architecture prefix).
    pub(crate) fn eps_key(self) -> &'static str {
        match self {
            Architecture::Llama => "attention.layer_norm_rms_epsilon",
            Architecture::Gpt2 | Architecture::Starcoder2 => "attention.layer_norm_epsilon",
        }
    }

    /// The tensors of a block's fused query/key/value projection, top to bottom, each with the
    /// number of heads whose rows rotate (`Some` where the rows are stored in NeoX order).
    pub(crate) fn attention_parts(self) -> &'static [(&'static str, HeadRows)] {
        match self {
            Architecture::Llama => &[
                ("attn_q", HeadRows::Plain),
                ("attn_k", HeadRows::Plain),
                ("attn_v", HeadRows::Plain),
            ],
            Architecture::Gpt2 => &[("attn_qkv", HeadRows::Plain)],
            Architecture::Starcoder2 => &[
                ("attn_q", HeadRows::NeoxQueries),
                ("attn_k", HeadRows::NeoxKeys),
                ("attn_v", HeadRows::Plain),
            ],
        }
    }

    /// The tensors of a block's fused MLP input projection, top to bottom.
    pub(crate) fn mlp_in_parts(self) -> &'static [&'static str] {
        match self {
            Architecture::Llama => &["ffn_gate", "ffn_up"],
            Architecture::Gpt2 | Architecture::Starcoder2 => &["ffn_up"],
        }
    }

    /// Whether llama.cpp needs `output.weight` even when the model ties it to the token table.
    pub(crate) fn needs_output(self) -> bool {
        self == Architecture::Gpt2
    }
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
}

impl HeadRows {
    /// The stored order of the part's rows (`order[stored] = model row`), `None` when plain.
    pub(crate) fn order(self, config: &ModelConfig) -> Option<Vec<usize>> {
        let heads = match self {
            HeadRows::Plain => return None,
            HeadRows::NeoxQueries => config.n_head,
            HeadRows::NeoxKeys => config.kv_heads(),
        };
        Some(neox_order(heads, config.head_dim()))
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
            assert_eq!(Architecture::of_config(&arch.variants()).ok(), Some(arch));
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
    }
}
