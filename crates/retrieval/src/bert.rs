//! BERT (Devlin et al., 2019), the encoder of sentence-transformers' models: token, position and
//! token-type embeddings summed and normalised, then post-norm layers of bidirectional
//! self-attention and a GeLU feed-forward network, each added to its input and normalised.
//! Padding is masked out of attention, so a padded row gives the same states as the row alone.
//!
//! Products go through [`claude_tensors::kernels`] (our CPU kernels on Flex, burn's ops
//! elsewhere); the query, key and value projections are fused into one matrix.

use std::path::Path;

use burn::module::Param;
use burn::prelude::*;
use claude_tensors::kernels::{gelu, layer_norm, matmul, padded_self_attention};
use serde::Deserialize;

use crate::error::EmbedderError;
use crate::weights::Weights;

/// The fields of a Hugging Face `config.json` that BERT's forward pass needs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BertConfig {
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward network.
    pub intermediate_size: usize,
    /// Positions the position table covers.
    pub max_position_embeddings: usize,
    /// Tokens in the vocabulary.
    pub vocab_size: usize,
    /// LayerNorm's epsilon (1e-12 for BERT).
    pub layer_norm_eps: f64,
    /// The activation; only exact `gelu` is supported.
    pub hidden_act: String,
}

impl BertConfig {
    /// Reads and checks `config.json`.
    pub fn load(path: &Path) -> Result<Self, EmbedderError> {
        let text = std::fs::read_to_string(path).map_err(|e| EmbedderError::io(path, e))?;
        let config: BertConfig = serde_json::from_str(&text)
            .map_err(|e| EmbedderError::invalid(path, format!("not a BERT config: {e}")))?;
        if config.hidden_act != "gelu" {
            return Err(EmbedderError::invalid(
                path,
                format!(
                    "hidden_act {:?} is not supported (only \"gelu\")",
                    config.hidden_act
                ),
            ));
        }
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            return Err(EmbedderError::invalid(
                path,
                format!(
                    "hidden_size {} is not a multiple of num_attention_heads {}",
                    config.hidden_size, config.num_attention_heads
                ),
            ));
        }
        Ok(config)
    }
}

/// An affine map `x W + b`, `W` stored `[in, out]`.
#[derive(Module, Debug)]
struct Affine {
    weight: Param<Tensor<2>>,
    bias: Param<Tensor<1>>,
}

impl Affine {
    /// # Shapes
    /// - x: `[batch, seq, in]` -> `[batch, seq, out]`
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [batch, seq, d_in] = x.dims();
        let d_out = self.weight.dims()[1];
        let y = matmul(x.reshape([batch * seq, d_in]), self.weight.val());
        (y + self.bias.val().unsqueeze::<2>()).reshape([batch, seq, d_out])
    }
}

/// LayerNorm's scale and shift.
#[derive(Module, Debug)]
struct Norm {
    gamma: Param<Tensor<1>>,
    beta: Param<Tensor<1>>,
}

impl Norm {
    fn forward(&self, x: Tensor<3>, eps: f64) -> Tensor<3> {
        layer_norm(x, self.gamma.val(), Some(self.beta.val()), eps)
    }
}

/// One post-norm encoder layer.
#[derive(Module, Debug)]
struct Layer {
    /// Query, key and value side by side: `[d, 3d]`.
    qkv: Affine,
    attention_out: Affine,
    attention_norm: Norm,
    intermediate: Affine,
    output: Affine,
    output_norm: Norm,
}

/// The BERT encoder.
#[derive(Module, Debug)]
pub struct Bert {
    word_embeddings: Param<Tensor<2>>,
    position_embeddings: Param<Tensor<2>>,
    token_type_embeddings: Param<Tensor<2>>,
    embeddings_norm: Norm,
    layers: Vec<Layer>,
    #[module(skip)]
    config: BertConfig,
}

impl Bert {
    /// The model in `weights` (Hugging Face's `BertModel` names, `[out, in]` matrices).
    pub(crate) fn from_weights(
        config: BertConfig,
        weights: &Weights,
        device: &Device,
    ) -> Result<Self, EmbedderError> {
        let d = config.hidden_size;
        let table = |name: &str, rows: usize| weights.matrix(name, [rows, d], device);
        let vector = |name: &str, len: usize| weights.vector(name, len, device);
        let norm = |prefix: &str| -> Result<Norm, EmbedderError> {
            Ok(Norm {
                gamma: Param::from_tensor(vector(&format!("{prefix}.weight"), d)?),
                beta: Param::from_tensor(vector(&format!("{prefix}.bias"), d)?),
            })
        };
        let affine =
            |names: &[String], d_in: usize, d_out: usize| -> Result<Affine, EmbedderError> {
                let weight = weights.linear(names, [d_in, d_out], device)?;
                let biases = names
                    .iter()
                    .map(|name| {
                        let bias = name.replace(".weight", ".bias");
                        vector(&bias, d_out / names.len())
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Affine {
                    weight: Param::from_tensor(weight),
                    bias: Param::from_tensor(Tensor::cat(biases, 0)),
                })
            };
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                let qkv: Vec<String> = ["query", "key", "value"]
                    .iter()
                    .map(|part| format!("{p}.attention.self.{part}.weight"))
                    .collect();
                Ok(Layer {
                    qkv: affine(&qkv, d, 3 * d)?,
                    attention_out: affine(&[format!("{p}.attention.output.dense.weight")], d, d)?,
                    attention_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                    intermediate: affine(
                        &[format!("{p}.intermediate.dense.weight")],
                        d,
                        config.intermediate_size,
                    )?,
                    output: affine(
                        &[format!("{p}.output.dense.weight")],
                        config.intermediate_size,
                        d,
                    )?,
                    output_norm: norm(&format!("{p}.output.LayerNorm"))?,
                })
            })
            .collect::<Result<Vec<_>, EmbedderError>>()?;
        Ok(Bert {
            word_embeddings: Param::from_tensor(table(
                "embeddings.word_embeddings.weight",
                config.vocab_size,
            )?),
            position_embeddings: Param::from_tensor(table(
                "embeddings.position_embeddings.weight",
                config.max_position_embeddings,
            )?),
            token_type_embeddings: Param::from_tensor(table(
                "embeddings.token_type_embeddings.weight",
                weights.rows("embeddings.token_type_embeddings.weight")?,
            )?),
            embeddings_norm: norm("embeddings.LayerNorm")?,
            layers,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// The final hidden states of token rows `ids`, where `mask` is 1 for a token and 0 for
    /// padding, each row's tokens before its padding (token type 0 everywhere).
    ///
    /// # Shapes
    /// - ids: `[batch, seq]`, mask: `[batch, seq]` -> `[batch, seq, hidden]`
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<3> {
        let [batch, seq] = ids.dims();
        let d = self.config.hidden_size;
        let eps = self.config.layer_norm_eps;
        let words = self
            .word_embeddings
            .val()
            .select(0, ids.reshape([batch * seq]))
            .reshape([batch, seq, d]);
        let positions = self
            .position_embeddings
            .val()
            .narrow(0, 0, seq)
            .unsqueeze::<3>();
        let token_type = self
            .token_type_embeddings
            .val()
            .narrow(0, 0, 1)
            .unsqueeze::<3>();
        let mut x = self
            .embeddings_norm
            .forward(words + positions + token_type, eps);
        // No position attends to padding (each row's real tokens come first).
        let key_lens: Vec<usize> = mask
            .sum_dim(1)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("float mask")
            .into_iter()
            .map(|len| len as usize)
            .collect();
        for layer in &self.layers {
            let attended = self.attention(layer, x.clone(), &key_lens);
            x = layer.attention_norm.forward(x + attended, eps);
            let hidden = gelu(layer.intermediate.forward(x.clone()));
            x = layer
                .output_norm
                .forward(x + layer.output.forward(hidden), eps);
        }
        x
    }

    /// Multi-head attention of every position to its row's first `key_lens[b]` positions (the
    /// real tokens), read from the packed projection ([`padded_self_attention`]).
    fn attention(&self, layer: &Layer, x: Tensor<3>, key_lens: &[usize]) -> Tensor<3> {
        let qkv = layer.qkv.forward(x);
        let heads = self.config.num_attention_heads;
        layer
            .attention_out
            .forward(padded_self_attention(qkv, heads, key_lens))
    }
}
