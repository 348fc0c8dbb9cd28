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
    /// Attention heads per block.
    pub n_head: usize,
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
}

fn yes() -> bool {
    true
}

fn default_rope_theta() -> f32 {
    10_000.0
}

impl burn::config::Config for ModelConfig {}

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
    /// A GPT-2-style configuration (learned positions, GeLU, LayerNorm, biases, tied embeddings).
    pub fn new(
        vocab_size: usize,
        context_length: usize,
        n_layer: usize,
        n_head: usize,
        d_model: usize,
    ) -> Self {
        ModelConfig {
            vocab_size,
            context_length,
            n_layer,
            n_head,
            d_model,
            d_ff: None,
            positions: Positions::default(),
            activation: Activation::default(),
            norm: NormKind::default(),
            bias: true,
            tie_embeddings: true,
            dropout: 0.0,
            rope_theta: default_rope_theta(),
        }
    }

    /// GPT-2 small (124M parameters): 12 layers, 12 heads, 768 wide, context 1024, vocab 50257.
    pub fn gpt2_small() -> Self {
        Self::new(50257, 1024, 12, 12, 768)
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_head
    }

    /// The MLP's hidden width.
    pub fn mlp_hidden(&self) -> usize {
        self.d_ff.unwrap_or(match self.activation {
            Activation::Gelu => 4 * self.d_model,
            Activation::Swiglu => (8 * self.d_model / 3).div_ceil(64) * 64,
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
        if !self.d_model.is_multiple_of(self.n_head) {
            return fail(
                "n_head",
                format!("{} does not divide d_model {}", self.n_head, self.d_model),
            );
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

    #[test]
    fn validation_names_the_field() {
        let mut c = ModelConfig::new(65, 64, 4, 5, 128);
        assert_eq!(c.validate().unwrap_err().field, "n_head");
        c.n_head = 4;
        c.validate().unwrap();
        c.dropout = 1.0;
        assert_eq!(c.validate().unwrap_err().field, "dropout");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let json = r#"{"vocab_size": 65, "context_length": 64, "n_layer": 1, "n_head": 1, "d_model": 8, "heads": 2}"#;
        let err = serde_json::from_str::<ModelConfig>(json).unwrap_err();
        assert!(err.to_string().contains("unknown field `heads`"), "{err}");
    }

    #[test]
    fn swiglu_hidden_width_is_rounded() {
        let mut c = ModelConfig::new(65, 64, 4, 4, 128);
        assert_eq!(c.mlp_hidden(), 512);
        c.activation = Activation::Swiglu;
        assert_eq!(c.mlp_hidden(), 384);
    }
}
