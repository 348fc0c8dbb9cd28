//! Hugging Face model folders: `config.json` beside `model.safetensors` (or the shards of
//! `model.safetensors.index.json`), as `save_pretrained` writes them and the hub serves them,
//! read into the one [`Gpt`].
//!
//! [`config`] maps `config.json` onto a [`ModelConfig`](crate::ModelConfig) (the model types,
//! and what is refused by name); [`weights`] maps and decodes the safetensors files; this module
//! puts the tensors into the model:
//!
//! | Hugging Face tensor (under `model.`) | ours |
//! |---|---|
//! | `embed_tokens` | `wte` |
//! | `layers.{i}.input_layernorm` | `h.{i}.ln_1` |
//! | `layers.{i}.self_attn.{q,k,v}_proj` (Phi-3: `qkv_proj`), with biases for Qwen2 | `h.{i}.attn.c_attn`, rows `[q; k; v]` |
//! | `layers.{i}.self_attn.o_proj` | `h.{i}.attn.c_proj` |
//! | `layers.{i}.self_attn.{q,k}_norm` | `h.{i}.attn.{q,k}_norm` |
//! | `layers.{i}.post_attention_layernorm` | `h.{i}.ln_2`; Gemma 3: `h.{i}.ln_1_post` |
//! | `layers.{i}.pre_feedforward_layernorm`, `post_feedforward_layernorm` (Gemma 3) | `h.{i}.ln_2`, `h.{i}.ln_2_post` |
//! | `layers.{i}.mlp.{gate,up}_proj` (Phi-3: `gate_up_proj`) | `h.{i}.mlp.c_fc`, rows `[gate; up]` |
//! | `layers.{i}.mlp.down_proj` | `h.{i}.mlp.c_proj` |
//! | `norm` | `ln_f` |
//! | `lm_head` (top level; absent when `tie_word_embeddings`) | `lm_head` |
//!
//! A multimodal Gemma 3 checkpoint keeps its language model under `model.language_model.` or
//! `language_model.model.`; its vision tower is not read.
//!
//! Hugging Face's linear weights are `[out, in]`, as GGUF rows are. Its rotary embeddings rotate
//! each head's dimension `i` with `i + head_dim/2` (`rotate_half`) in every family, Llama
//! included, where ours rotate adjacent pairs: each head's query and key rows (and their biases,
//! and the per-head norms' weights) are reordered exactly as a NeoX GGUF file's are
//! ([`neox_order`]). Gemma's norms compute `x * (1 + w)` and store `w`: 1 is added on reading.

pub(crate) mod config;
pub(crate) mod weights;

use std::path::{Path, PathBuf};

use burn::prelude::*;

use self::config::HfConfig;
use self::weights::Tensors;
use crate::config::ModelConfig;
use crate::model_file::gguf::arch::{Architecture, HeadRows, neox_order, scatter_rows};
use crate::model_file::weights::{Matrix, Weight, set_norm, set_projection, set_token_table};
use crate::model_file::{ModelFileError, init_capped};
use crate::norm::Norm;
use crate::projection::Projection;
use crate::transformer::Gpt;

/// The model config's file in a Hugging Face folder.
pub const HF_CONFIG_FILE: &str = "config.json";

/// Where the language model's tensors may live, tried in turn.
const PREFIXES: [&str; 3] = ["model.", "model.language_model.", "language_model.model."];

/// Where the output head may live, tried in turn.
const HEADS: [&str; 2] = ["lm_head.weight", "language_model.lm_head.weight"];

/// A Hugging Face model folder, opened: `config.json` read into a model config and the
/// safetensors files mapped (their tensors are decoded when the model is built).
#[derive(Debug)]
pub struct HfModel {
    dir: PathBuf,
    config: HfConfig,
    tensors: Tensors,
}

impl HfModel {
    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `model_type` of its `config.json` (`llama`, `qwen2`, `gemma3`...).
    pub fn model_type(&self) -> &str {
        &self.config.model_type
    }

    /// The model config its `config.json` describes.
    pub fn config(&self) -> &ModelConfig {
        &self.config.config
    }
}

/// Whether `path` is a Hugging Face model folder (a directory holding `config.json`).
pub(crate) fn is_folder(path: &Path) -> bool {
    path.is_dir() && path.join(HF_CONFIG_FILE).is_file()
}

/// Reads the config of the folder `dir` and maps its safetensors files.
pub(crate) fn open(dir: &Path) -> Result<HfModel, ModelFileError> {
    let path = dir.join(HF_CONFIG_FILE);
    let json = std::fs::read_to_string(&path).map_err(|e| ModelFileError::io(&path, e))?;
    let config = config::parse(&json, &path)?;
    let tensors = Tensors::open(dir)?;
    Ok(HfModel {
        dir: dir.to_path_buf(),
        config,
        tensors,
    })
}

/// Builds the model of the opened folder `hf`.
pub(crate) fn load(
    hf: &HfModel,
    device: &Device,
    context: Option<usize>,
) -> Result<Gpt, ModelFileError> {
    let config = hf.config();
    let reader = Reader {
        tensors: &hf.tensors,
        config,
        arch: hf.config.arch,
        plus_one: hf.config.norm_plus_one(),
        prefix: PREFIXES
            .into_iter()
            .find(|p| hf.tensors.contains(&format!("{p}embed_tokens.weight")))
            .unwrap_or(PREFIXES[0]),
    };
    let mut model = init_capped(config, context, device);
    let d = config.d_model;
    let table = reader.matrix("embed_tokens.weight", Some(config.vocab_size), d)?;
    set_token_table(&mut model.wte, Weight::Float(table), device);
    for (i, block) in model.h.iter_mut().enumerate() {
        let layer = |part: &str| format!("layers.{i}.{part}");
        reader.norm(&mut block.ln_1, &layer("input_layernorm"), d, device)?;
        reader.attention(&mut block.attn.c_attn, &layer("self_attn"), device)?;
        let o_proj = reader.matrix(
            &layer("self_attn.o_proj.weight"),
            Some(d),
            config.attention_width(),
        )?;
        set_projection(
            &mut block.attn.c_proj,
            vec![Weight::Float(o_proj)],
            None,
            device,
        );
        let head_norms = [
            (&mut block.attn.q_norm, "self_attn.q_norm"),
            (&mut block.attn.k_norm, "self_attn.k_norm"),
        ];
        for (norm, part) in head_norms {
            if let Some(norm) = norm {
                reader.head_norm(norm, &layer(part), device)?;
            }
        }
        let ln_2 = match config.post_norms {
            true => "pre_feedforward_layernorm",
            false => "post_attention_layernorm",
        };
        reader.norm(&mut block.ln_2, &layer(ln_2), d, device)?;
        if let Some(norm) = &mut block.ln_1_post {
            reader.norm(norm, &layer("post_attention_layernorm"), d, device)?;
        }
        if let Some(norm) = &mut block.ln_2_post {
            reader.norm(norm, &layer("post_feedforward_layernorm"), d, device)?;
        }
        reader.mlp_in(&mut block.mlp.c_fc, &layer("mlp"), device)?;
        let ff = config.mlp_hidden();
        let down = reader.matrix(&layer("mlp.down_proj.weight"), Some(d), ff)?;
        set_projection(
            &mut block.mlp.c_proj,
            vec![Weight::Float(down)],
            None,
            device,
        );
    }
    reader.norm(&mut model.ln_f, "norm", d, device)?;
    if let Some(head) = &mut model.lm_head {
        let name = HEADS
            .into_iter()
            .find(|name| hf.tensors.contains(name))
            .unwrap_or(HEADS[0]);
        let weight = hf.tensors.matrix(name, Some(config.vocab_size), d)?;
        set_projection(head, vec![Weight::Float(weight)], None, device);
    }
    Ok(model)
}

/// Reads the tensors of one folder into one model.
struct Reader<'a> {
    tensors: &'a Tensors,
    config: &'a ModelConfig,
    arch: Architecture,
    /// Norm weights are stored as `w` for `1 + w` (Gemma).
    plus_one: bool,
    /// Where the language model's tensors live (`model.`).
    prefix: &'static str,
}

impl Reader<'_> {
    fn name(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The matrix `{prefix}{name}`.
    fn matrix(
        &self,
        name: &str,
        rows: Option<usize>,
        cols: usize,
    ) -> Result<Matrix, ModelFileError> {
        self.tensors.matrix(&self.name(name), rows, cols)
    }

    /// The matrix `{prefix}{name}` of `rows` rows stored in NeoX order `order`, back in ours.
    fn reordered(
        &self,
        name: &str,
        rows: usize,
        order: Option<&[usize]>,
    ) -> Result<Matrix, ModelFileError> {
        let mut matrix = self.matrix(name, Some(rows), self.config.d_model)?;
        if let Some(order) = order {
            matrix.data = scatter_rows(&matrix.data, matrix.cols, order);
        }
        Ok(matrix)
    }

    /// The fused query/key/value projection from `{attn}.{q,k,v}_proj` (Phi-3: `qkv_proj`),
    /// with Qwen2's biases.
    fn attention(
        &self,
        layer: &mut Projection,
        attn: &str,
        device: &Device,
    ) -> Result<(), ModelFileError> {
        let c = self.config;
        let hd = c.head_dim();
        let (q_rows, kv_rows) = (c.n_head * hd, c.kv_heads() * hd);
        let parts: Vec<(&str, usize, HeadRows)> = match self.arch {
            Architecture::Phi3 => vec![("qkv_proj", q_rows + 2 * kv_rows, HeadRows::NeoxFused)],
            _ => vec![
                ("q_proj", q_rows, HeadRows::NeoxQueries),
                ("k_proj", kv_rows, HeadRows::NeoxKeys),
                ("v_proj", kv_rows, HeadRows::Plain),
            ],
        };
        let mut weights = Vec::with_capacity(parts.len());
        let mut bias = layer.has_bias().then(Vec::new);
        for (part, rows, head_rows) in parts {
            let order = head_rows.order(c);
            let name = format!("{attn}.{part}");
            let weight = self.reordered(&format!("{name}.weight"), rows, order.as_deref())?;
            weights.push(Weight::Float(weight));
            if let Some(bias) = &mut bias {
                let mut values = self
                    .tensors
                    .vector(&self.name(&format!("{name}.bias")), rows)?;
                if let Some(order) = &order {
                    values = scatter_rows(&values, 1, order);
                }
                bias.extend(values);
            }
        }
        set_projection(layer, weights, bias, device);
        Ok(())
    }

    /// The MLP's input projection `[gate; up]` from `{mlp}.{gate,up}_proj` (Phi-3:
    /// `gate_up_proj`, already stacked).
    fn mlp_in(
        &self,
        layer: &mut Projection,
        mlp: &str,
        device: &Device,
    ) -> Result<(), ModelFileError> {
        let (d, ff) = (self.config.d_model, self.config.mlp_hidden());
        let parts = match self.arch {
            Architecture::Phi3 => {
                vec![self.matrix(&format!("{mlp}.gate_up_proj.weight"), Some(2 * ff), d)?]
            }
            _ => vec![
                self.matrix(&format!("{mlp}.gate_proj.weight"), Some(ff), d)?,
                self.matrix(&format!("{mlp}.up_proj.weight"), Some(ff), d)?,
            ],
        };
        set_projection(
            layer,
            parts.into_iter().map(Weight::Float).collect(),
            None,
            device,
        );
        Ok(())
    }

    /// The weights `{name}.weight` of a norm over `width` values (plus one for Gemma).
    fn norm_weights(&self, name: &str, width: usize) -> Result<Vec<f32>, ModelFileError> {
        let mut gamma = self
            .tensors
            .vector(&self.name(&format!("{name}.weight")), width)?;
        if self.plus_one {
            gamma.iter_mut().for_each(|w| *w += 1.0);
        }
        Ok(gamma)
    }

    /// Sets the norm `{name}` over `width` values.
    fn norm(
        &self,
        norm: &mut Norm,
        name: &str,
        width: usize,
        device: &Device,
    ) -> Result<(), ModelFileError> {
        set_norm(norm, self.norm_weights(name, width)?, None, device);
        Ok(())
    }

    /// Sets a per-head query or key norm, its weights put in our pair order.
    fn head_norm(
        &self,
        norm: &mut Norm,
        name: &str,
        device: &Device,
    ) -> Result<(), ModelFileError> {
        let width = self.config.head_dim();
        let gamma = self.norm_weights(name, width)?;
        let gamma = scatter_rows(&gamma, 1, &neox_order(1, width));
        set_norm(norm, gamma, None, device);
        Ok(())
    }
}
