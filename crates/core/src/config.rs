//! [`ModelConfig`]: every choice that shapes the network, saved with each checkpoint.

use burn::prelude::Device;
use serde::{Deserialize, Serialize};

use crate::transformer::Gpt;

/// How token positions enter the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Positions {
    /// A learned embedding per position, added to the token embedding (GPT-2).
    #[default]
    Learned,
    /// Fixed sine/cosine embeddings (Vaswani et al., 2017), added to the token embedding.
    Sinusoidal,
    /// Rotary embeddings applied to queries and keys in every layer (Su et al., 2021).
    Rope,
}

/// The MLP's non-linearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `gelu(x W1) W2` (GPT-2, exact erf form).
    #[default]
    Gelu,
    /// `(silu(x Wg) * x Wu) W2` (Shazeer, 2020; Llama).
    Swiglu,
    /// `(gelu_tanh(x Wg) * x Wu) W2`, GeLU in its tanh approximation (Gemma).
    GegluTanh,
}

impl Activation {
    /// Whether the MLP's input projection holds a gate and an up half (`[gate, up]`).
    pub fn is_gated(self) -> bool {
        matches!(self, Activation::Swiglu | Activation::GegluTanh)
    }
}

/// Sliding-window attention on some layers (Gemma 2 and 3, Mistral): a local layer attends to
/// the last [`size`](Self::size) positions only, with its own RoPE base; every
/// [`every`](Self::every)-th layer (the last of each group) stays global.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlidingWindow {
    /// Positions a local layer sees, itself included.
    pub size: usize,
    /// Layer `i` is global when `(i + 1) % every == 0` (Gemma 3: 6, Gemma 2: 2); 1 makes every
    /// layer global, and a value above the layer count makes every layer local.
    pub every: usize,
    /// The RoPE base of the local layers.
    pub rope_theta: f32,
}

/// The normalisation before each sub-layer and at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NormKind {
    /// LayerNorm (GPT-2).
    #[default]
    Layernorm,
    /// RMSNorm (Llama).
    Rmsnorm,
}

/// The shape and variant choices of a [`Gpt`].
///
/// Built with named fields; [`Default`] gives GPT-2's variants (learned positions, GeLU,
/// LayerNorm, biases, tied embeddings) and leaves the sizes at 0, which [`validate`](Self::validate)
/// rejects until they are set:
///
/// ```
/// use claude_core::{ModelConfig, Positions};
/// let config = ModelConfig {
///     vocab_size: 65,
///     context_length: 64,
///     n_layer: 4,
///     n_head: 4,
///     d_model: 128,
///     positions: Positions::Rope,
///     ..ModelConfig::default()
/// };
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Number of token ids. In a training config it may be left out (or 0): the tokenizer
    /// decides it.
    #[serde(default)]
    pub vocab_size: usize,
    /// Longest sequence the model accepts.
    pub context_length: usize,
    /// Number of Transformer blocks.
    pub n_layer: usize,
    /// Attention (query) heads per block.
    pub n_head: usize,
    /// Key/value heads for grouped-query attention (Ainslie et al., 2023): each serves
    /// `n_head / n_kv_head` consecutive query heads (Llama 2 70B, Llama 3, SmolLM2). Default:
    /// `n_head` (multi-head attention).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_kv_head: Option<usize>,
    /// Width of the residual stream.
    pub d_model: usize,
    /// Hidden width of the MLP; default `4 * d_model` (GeLU) or `8/3 * d_model` rounded up to a
    /// multiple of 64 (SwiGLU).
    #[serde(default)]
    pub d_ff: Option<usize>,
    /// Position encoding.
    #[serde(default)]
    pub positions: Positions,
    /// MLP activation.
    #[serde(default)]
    pub activation: Activation,
    /// Normalisation layers.
    #[serde(default)]
    pub norm: NormKind,
    /// Biases in linear layers and LayerNorm.
    #[serde(default = "yes")]
    pub bias: bool,
    /// Share the token embedding with the output projection.
    #[serde(default = "yes")]
    pub tie_embeddings: bool,
    /// Dropout probability on embeddings and residual branches (training only).
    #[serde(default)]
    pub dropout: f64,
    /// RoPE base frequency.
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f32,
    /// Epsilon of every norm layer (added to the variance, or to the mean square).
    #[serde(default = "default_norm_eps")]
    pub norm_eps: f64,
    /// Width of one attention head when it is not `d_model / n_head` (Gemma 3, Qwen3): queries,
    /// keys and values are `n_head * head_dim` wide and the output projection maps that width
    /// back to `d_model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    /// Biases on the query, key and value projection even when [`bias`](Self::bias) is off
    /// (Qwen2).
    #[serde(default, skip_serializing_if = "is_false")]
    pub qkv_bias: bool,
    /// An RMSNorm over each query and key head before the rotation (Qwen3, Gemma 3).
    #[serde(default, skip_serializing_if = "is_false")]
    pub qk_norm: bool,
    /// Norms on the outputs of attention and of the MLP, before each joins the residual stream
    /// (Gemma 2 and 3).
    #[serde(default, skip_serializing_if = "is_false")]
    pub post_norms: bool,
    /// Token embeddings multiplied by `sqrt(d_model)` (Gemma).
    #[serde(default, skip_serializing_if = "is_false")]
    pub scale_embeddings: bool,
    /// Linear RoPE scaling: positions are divided by this factor (on global layers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scale: Option<f32>,
    /// Sliding-window attention on the local layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<SlidingWindow>,
}

fn is_false(value: &bool) -> bool {
    !value
}

fn yes() -> bool {
    true
}

fn default_rope_theta() -> f32 {
    10_000.0
}

fn default_norm_eps() -> f64 {
    1e-5
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            vocab_size: 0,
            context_length: 0,
            n_layer: 0,
            n_head: 0,
            n_kv_head: None,
            d_model: 0,
            d_ff: None,
            positions: Positions::default(),
            activation: Activation::default(),
            norm: NormKind::default(),
            bias: yes(),
            tie_embeddings: yes(),
            dropout: 0.0,
            rope_theta: default_rope_theta(),
            norm_eps: default_norm_eps(),
            head_dim: None,
            qkv_bias: false,
            qk_norm: false,
            post_norms: false,
            scale_embeddings: false,
            rope_scale: None,
            sliding_window: None,
        }
    }
}

/// A configuration that cannot build a model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid model config: {field} {message}")]
pub struct ConfigError {
    /// The field at fault.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl ModelConfig {
    /// Key/value heads ([`n_kv_head`](Self::n_kv_head), else `n_head`).
    pub fn kv_heads(&self) -> usize {
        self.n_kv_head.unwrap_or(self.n_head)
    }

    /// Width of one attention head ([`head_dim`](Self::head_dim), else `d_model / n_head`).
    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.d_model / self.n_head)
    }

    /// Width of all query heads together (`n_head * head_dim`): what the output projection
    /// maps back to `d_model`.
    pub fn attention_width(&self) -> usize {
        self.n_head * self.head_dim()
    }

    /// Whether the query, key and value projection has biases.
    pub fn attention_bias(&self) -> bool {
        self.bias || self.qkv_bias
    }

    /// The window of layer `layer`'s attention: `Some(size)` on a local layer of a
    /// sliding-window model, `None` on a global one.
    pub fn layer_window(&self, layer: usize) -> Option<usize> {
        let window = self.sliding_window?;
        (!(layer + 1).is_multiple_of(window.every)).then_some(window.size)
    }

    /// The MLP's hidden width.
    pub fn mlp_hidden(&self) -> usize {
        self.d_ff.unwrap_or(match self.activation {
            Activation::Gelu => 4 * self.d_model,
            Activation::Swiglu | Activation::GegluTanh => (8 * self.d_model / 3).div_ceil(64) * 64,
        })
    }

    /// Checks that the sizes fit together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |field, message: String| Err(ConfigError { field, message });
        for (field, value) in [
            ("vocab_size", self.vocab_size),
            ("context_length", self.context_length),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("d_model", self.d_model),
        ] {
            if value == 0 {
                return fail(field, "must be positive".into());
            }
        }
        if self.head_dim == Some(0) {
            return fail("head_dim", "must be positive".into());
        }
        if let Some(window) = self.sliding_window
            && (window.size == 0 || window.every == 0)
        {
            return fail("sliding_window", "size and every must be positive".into());
        }
        if self.rope_scale.is_some_and(|f| !(f.is_finite() && f > 0.0)) {
            return fail("rope_scale", "must be a positive factor".into());
        }
        if self.head_dim.is_none() && !self.d_model.is_multiple_of(self.n_head) {
            return fail(
                "n_head",
                format!("{} does not divide d_model {}", self.n_head, self.d_model),
            );
        }
        if let Some(kv) = self.n_kv_head
            && (kv == 0 || !self.n_head.is_multiple_of(kv))
        {
            return fail(
                "n_kv_head",
                format!("{kv} does not divide n_head {}", self.n_head),
            );
        }
        if !(self.norm_eps > 0.0 && self.norm_eps < 1.0) {
            return fail("norm_eps", format!("{} is not in (0, 1)", self.norm_eps));
        }
        if self.positions == Positions::Rope && !self.head_dim().is_multiple_of(2) {
            return fail(
                "positions",
                format!("rope needs an even head width, not {}", self.head_dim()),
            );
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return fail("dropout", format!("{} is not in [0, 1)", self.dropout));
        }
        if self.d_ff == Some(0) {
            return fail("d_ff", "must be positive".into());
        }
        Ok(())
    }

    /// Builds a freshly initialised model on `device` (GPT-2 initialisation).
    ///
    /// # Panics
    ///
    /// If the configuration does not [`validate`](Self::validate).
    pub fn init(&self, device: &Device) -> Gpt {
        if let Err(err) = self.validate() {
            panic!("{err}");
        }
        Gpt::new(self, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// nanoGPT's small character model: 4 layers, 4 heads, 128 wide, context 64.
    fn small() -> ModelConfig {
        ModelConfig {
            vocab_size: 65,
            context_length: 64,
            n_layer: 4,
            n_head: 4,
            d_model: 128,
            ..ModelConfig::default()
        }
    }

    #[test]
    fn validation_names_the_field() {
        let mut c = ModelConfig {
            n_head: 5,
            ..small()
        };
        assert_eq!(c.validate().unwrap_err().field, "n_head");
        c.n_head = 4;
        c.validate().unwrap();
        c.dropout = 1.0;
        assert_eq!(c.validate().unwrap_err().field, "dropout");
        c.dropout = 0.0;
        c.n_kv_head = Some(3);
        assert_eq!(c.validate().unwrap_err().field, "n_kv_head");
        c.n_kv_head = Some(2);
        c.validate().unwrap();
        assert_eq!(c.kv_heads(), 2);
    }

    #[test]
    fn the_default_needs_its_sizes() {
        assert_eq!(
            ModelConfig::default().validate().unwrap_err().field,
            "vocab_size"
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let json = r#"{"vocab_size": 65, "context_length": 64, "n_layer": 1, "n_head": 1, "d_model": 8, "heads": 2}"#;
        let err = serde_json::from_str::<ModelConfig>(json).unwrap_err();
        assert!(err.to_string().contains("unknown field `heads`"), "{err}");
    }

    #[test]
    fn swiglu_hidden_width_is_rounded() {
        let mut c = small();
        assert_eq!(c.mlp_hidden(), 512);
        c.activation = Activation::Swiglu;
        assert_eq!(c.mlp_hidden(), 384);
    }
}
