//! Reading a GGUF file into a [`Gpt`]: the config from the `{arch}.*` metadata, the weights from
//! `token_embd`, `position_embd`, `blk.{i}.*`, `output_norm` and `output`. Quantized matrices
//! (Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K) stay packed in their blocks, as packed projections and
//! token tables that read the memory-mapped file in place (no copy: the page cache holds them
//! once for every process); float ones (F32, F16, BF16), the norms and biases are decoded to
//! f32.
//!
//! llama.cpp's converter stores the query and key weights of `llama` models permuted so that
//! rotary embeddings rotate adjacent pairs (ggml's "normal" RoPE), which is the pair layout burn's
//! `RotaryEncoding` rotates: those weights are used as they are. `starcoder2`'s are stored for
//! NeoX's rotation and are reordered back (see [`super::arch`]).

use std::path::Path;

use burn::prelude::*;
use claude_gguf::{GgufFile, Metadata, TensorInfo};
use claude_quant::{GgmlType, PackedMatrix, dequantize};

use super::arch::{Architecture, HeadRows, neox_order, scatter_rows};
use crate::config::{ModelConfig, SlidingWindow};
use crate::model_file::weights::{
    Matrix, Weight, float_table, set_norm, set_projection, set_token_table,
};
use crate::model_file::{InvalidModelFile, ModelFileError, UnsupportedModelFile, init_capped};
use crate::norm::Norm;
use crate::position::PositionEmbedding;
use crate::projection::Projection;
use crate::transformer::Gpt;

/// Opens and maps the GGUF file `path` and parses its header (once: the model, its tokenizer and
/// its chat template are all read from what this returns).
pub(in crate::model_file) fn open(path: &Path) -> Result<GgufFile, ModelFileError> {
    get(path, GgufFile::open(path))
}

/// Builds the model in the opened GGUF `file`.
pub(in crate::model_file) fn load(
    file: &GgufFile,
    device: &Device,
    context: Option<usize>,
) -> Result<Gpt, ModelFileError> {
    let path = file.path();
    let arch = architecture(file, path)?;
    let config = config(file, arch, path)?;
    let reader = Reader {
        file,
        path,
        config: &config,
    };
    let mut model = init_capped(&config, context, device);
    set_token_table(
        &mut model.wte,
        reader.weight("token_embd.weight", None)?,
        device,
    );
    if let PositionEmbedding::Learned(table) = &mut model.wpe {
        *table = float_table(reader.float_matrix("position_embd.weight")?, device);
    }
    for (i, block) in model.h.iter_mut().enumerate() {
        let name = |part: &str| format!("blk.{i}.{part}");
        reader.norm(&mut block.ln_1, &name("attn_norm"), device)?;
        let qkv: Vec<(String, HeadRows)> = arch
            .attention_parts()
            .iter()
            .map(|&(part, rows)| (name(part), rows))
            .collect();
        reader.projection(&mut block.attn.c_attn, &qkv, device)?;
        let plain = |parts: &[&str]| -> Vec<(String, HeadRows)> {
            parts.iter().map(|p| (name(p), HeadRows::Plain)).collect()
        };
        reader.projection(&mut block.attn.c_proj, &plain(&["attn_output"]), device)?;
        let head_norms = [
            (&mut block.attn.q_norm, "attn_q_norm"),
            (&mut block.attn.k_norm, "attn_k_norm"),
        ];
        for (norm, part) in head_norms {
            if let Some(norm) = norm {
                reader.head_norm(norm, &name(part), arch.neox(), device)?;
            }
        }
        reader.norm(&mut block.ln_2, &name("ffn_norm"), device)?;
        reader.projection(&mut block.mlp.c_fc, &plain(arch.mlp_in_parts()), device)?;
        reader.projection(&mut block.mlp.c_proj, &plain(&["ffn_down"]), device)?;
        let post_norms = [&mut block.ln_1_post, &mut block.ln_2_post];
        for (norm, part) in post_norms
            .into_iter()
            .zip(arch.post_norm_names().unwrap_or_default())
        {
            if let Some(norm) = norm {
                reader.norm(norm, &name(part), device)?;
            }
        }
    }
    reader.norm(&mut model.ln_f, "output_norm", device)?;
    if let Some(head) = &mut model.lm_head {
        reader.projection(head, &[("output".into(), HeadRows::Plain)], device)?;
    }
    Ok(model)
}

/// The file's architecture, if we read it.
fn architecture(file: &GgufFile, path: &Path) -> Result<Architecture, ModelFileError> {
    let name = get(path, file.metadata().get_str("general.architecture"))?;
    Architecture::from_name(name).ok_or_else(|| {
        let cause = UnsupportedModelFile::Architecture {
            name: name.to_string(),
            supported: Architecture::names(),
        };
        ModelFileError::unsupported(path, cause)
    })
}

/// The model config the `{arch}.*` metadata describes.
fn config(file: &GgufFile, arch: Architecture, path: &Path) -> Result<ModelConfig, ModelFileError> {
    let meta = file.metadata();
    let uint = |key: &str| -> Result<usize, ModelFileError> {
        Ok(get(path, meta.get_uint(&arch.key(key)))? as usize)
    };
    let float = |key: &str, default: f64| -> Result<f64, ModelFileError> {
        let value = get(path, optional_float(meta, &arch.key(key)))?;
        Ok(value.unwrap_or(default))
    };
    let embedding = get(path, file.tensor("token_embd.weight"))?;
    let n_head = uint("attention.head_count")?;
    let kv = get(path, meta.opt_uint(&arch.key("attention.head_count_kv")))?;
    let variants = arch.variants();
    let d_model = uint("embedding_length")?;
    let head_dim = get(path, meta.opt_uint(&arch.key("attention.key_length")))?
        .map(|width| width as usize)
        .filter(|&width| width * n_head != d_model);
    let sliding_window = match variants.sliding_window {
        Some(window) => Some(SlidingWindow {
            size: uint("attention.sliding_window")?,
            ..window
        }),
        None => None,
    };
    let config = ModelConfig {
        vocab_size: embedding.dims.get(1).copied().unwrap_or(0) as usize,
        context_length: uint("context_length")?,
        n_layer: uint("block_count")?,
        n_head,
        n_kv_head: kv.map(|kv| kv as usize).filter(|&kv| kv != n_head),
        d_model,
        d_ff: Some(uint("feed_forward_length")?),
        tie_embeddings: output_is_token_table(file, embedding),
        dropout: 0.0,
        rope_theta: float("rope.freq_base", 10_000.0)? as f32,
        norm_eps: float(arch.eps_key(), 1e-5)?,
        head_dim,
        rope_scale: rope_scale(meta, arch, path)?,
        sliding_window,
        ..variants
    };
    config.validate().map_err(|cause| ModelFileError::Config {
        path: path.to_path_buf(),
        cause,
    })?;
    let rotated = get(path, meta.opt_uint(&arch.key("rope.dimension_count")))?;
    if let Some(rotated) = rotated.filter(|&d| d as usize != config.head_dim()) {
        let cause = UnsupportedModelFile::PartialRotary {
            rotated,
            head_dim: config.head_dim(),
        };
        return Err(ModelFileError::unsupported(path, cause));
    }
    Ok(config)
}

/// The linear RoPE scaling factor the file asks for (`{arch}.rope.scaling.type` and `.factor`);
/// another kind of scaling is refused by name.
fn rope_scale(
    meta: &Metadata,
    arch: Architecture,
    path: &Path,
) -> Result<Option<f32>, ModelFileError> {
    let kind = match meta.get(&arch.key("rope.scaling.type")) {
        None => return Ok(None),
        Some(_) => get(path, meta.get_str(&arch.key("rope.scaling.type")))?,
    };
    let factor = get(path, optional_float(meta, &arch.key("rope.scaling.factor")))?;
    match (kind, factor) {
        ("none", _) | (_, None) => Ok(None),
        ("linear", Some(1.0)) => Ok(None),
        ("linear", Some(factor)) => Ok(Some(factor as f32)),
        (kind, Some(_)) => Err(ModelFileError::unsupported(
            path,
            UnsupportedModelFile::RopeScaling {
                kind: kind.to_string(),
            },
        )),
    }
}

/// Whether the output head is the token table: no `output.weight`, or one holding the same
/// values (llama.cpp's `gpt2` needs the tensor even when the model ties them).
fn output_is_token_table(file: &GgufFile, table: &TensorInfo) -> bool {
    let Ok(output) = file.tensor("output.weight") else {
        return true;
    };
    output.dims == table.dims
        && output.ggml_type == table.ggml_type
        && matches!(
            (file.data_of(output), file.data_of(table)),
            (Ok(a), Ok(b)) if a == b
        )
}

/// Reads tensors of one file.
struct Reader<'a> {
    file: &'a GgufFile,
    path: &'a Path,
    config: &'a ModelConfig,
}

impl Reader<'_> {
    /// A 2-D tensor, `[rows][cols]` (ggml lists the contiguous dimension first), its rows put
    /// back in the model's order when `order` gives the stored one: kept packed when it is
    /// quantized, decoded when it is a float type.
    fn weight(&self, name: &str, order: Option<&[usize]>) -> Result<Weight, ModelFileError> {
        let info = self.info(name)?;
        let [cols, rows] = info.dims[..] else {
            return Err(self.rank_error(info, 2));
        };
        let (rows, cols) = (rows as usize, cols as usize);
        if let Some(order) = order.filter(|order| order.len() != rows) {
            return Err(self.shape_error(name, vec![rows, cols], vec![order.len(), cols]));
        }
        let ty = self.ggml_type(info)?;
        if matches!(ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16) {
            let (_, mut data) = self.decode(name)?;
            if let Some(order) = order {
                data = scatter_rows(&data, cols, order);
            }
            return Ok(Weight::Float(Matrix { data, rows, cols }));
        }
        // Used in place, from the mapping, unless the rows must be reordered.
        let bytes = get(self.path, self.file.shared_data_of(info))?;
        let bytes = match order {
            Some(order) => scatter_rows(&bytes, bytes.len() / rows.max(1), order).into(),
            None => bytes,
        };
        PackedMatrix::ggml(ty, rows, cols, bytes)
            .map(Weight::Packed)
            .map_err(|e| self.quant_error(name, e))
    }

    /// A 2-D tensor decoded to f32, whatever its type.
    fn float_matrix(&self, name: &str) -> Result<Matrix, ModelFileError> {
        match self.weight(name, None)? {
            Weight::Float(matrix) => Ok(matrix),
            Weight::Packed(packed) => Ok(Matrix {
                data: packed.dequantize(),
                rows: packed.rows(),
                cols: packed.cols(),
            }),
        }
    }

    /// Sets `layer` to the tensors `parts` (`{name}.weight`, and `{name}.bias` where the model
    /// has biases) stacked along the outputs, which must give the shape the config calls for.
    fn projection(
        &self,
        layer: &mut Projection,
        parts: &[(String, HeadRows)],
        device: &Device,
    ) -> Result<(), ModelFileError> {
        let (d_in, d_out) = layer.dims();
        let mut weights = Vec::with_capacity(parts.len());
        let mut bias = layer.has_bias().then(Vec::new);
        for (name, head_rows) in parts {
            let order = head_rows.order(self.config);
            let weight_name = format!("{name}.weight");
            let weight = self.weight(&weight_name, order.as_deref())?;
            let (rows, cols) = weight.shape();
            if cols != d_in {
                return Err(self.shape_error(&weight_name, vec![rows, cols], vec![rows, d_in]));
            }
            weights.push(weight);
            if let Some(bias) = &mut bias {
                let mut values = self.vector(&format!("{name}.bias"), rows)?;
                if let Some(order) = &order {
                    values = scatter_rows(&values, 1, order);
                }
                bias.extend(values);
            }
        }
        let outputs = weights.iter().map(|w| w.shape().0).sum();
        if outputs != d_out {
            return Err(self.invalid(InvalidModelFile::Outputs {
                tensors: parts.iter().map(|(name, _)| name.clone()).collect(),
                found: outputs,
                expected: d_out,
            }));
        }
        set_projection(layer, weights, bias, device);
        Ok(())
    }

    /// Sets a per-head query or key norm from `{name}.weight`, its values put back in the
    /// model's order when the architecture stores heads in NeoX order.
    fn head_norm(
        &self,
        norm: &mut Norm,
        name: &str,
        neox: bool,
        device: &Device,
    ) -> Result<(), ModelFileError> {
        let width = self.config.head_dim();
        let mut gamma = self.vector(&format!("{name}.weight"), width)?;
        if neox {
            gamma = scatter_rows(&gamma, 1, &neox_order(1, width));
        }
        set_norm(norm, gamma, None, device);
        Ok(())
    }

    /// Sets a norm from `{name}.weight` (and `{name}.bias` for a LayerNorm with biases).
    fn norm(&self, norm: &mut Norm, name: &str, device: &Device) -> Result<(), ModelFileError> {
        let width = self.config.d_model;
        let gamma = self.vector(&format!("{name}.weight"), width)?;
        let beta = match self.config.bias {
            true => Some(self.vector(&format!("{name}.bias"), width)?),
            false => None,
        };
        set_norm(norm, gamma, beta, device);
        Ok(())
    }

    fn info(&self, name: &str) -> Result<&TensorInfo, ModelFileError> {
        get(self.path, self.file.tensor(name))
    }

    fn ggml_type(&self, info: &TensorInfo) -> Result<GgmlType, ModelFileError> {
        GgmlType::from_id(info.ggml_type).map_err(|cause| {
            let cause = UnsupportedModelFile::TensorType {
                tensor: info.name.clone(),
                cause,
            };
            ModelFileError::unsupported(self.path, cause)
        })
    }

    /// A 1-D tensor of `len` values.
    fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>, ModelFileError> {
        let (info, data) = self.decode(name)?;
        if info.dims.len() != 1 {
            return Err(self.rank_error(info, 1));
        }
        if data.len() != len {
            return Err(self.shape_error(name, vec![data.len()], vec![len]));
        }
        Ok(data)
    }

    fn decode(&self, name: &str) -> Result<(&TensorInfo, Vec<f32>), ModelFileError> {
        let info = self.info(name)?;
        let ty = self.ggml_type(info)?;
        let bytes = get(self.path, self.file.data_of(info))?;
        let mut data = vec![0.0; info.n_elements() as usize];
        dequantize(ty, bytes, &mut data).map_err(|e| self.quant_error(name, e))?;
        Ok((info, data))
    }

    fn invalid(&self, cause: InvalidModelFile) -> ModelFileError {
        ModelFileError::invalid(self.path, cause)
    }

    /// A tensor that has not `rank` dimensions.
    fn rank_error(&self, info: &TensorInfo, rank: usize) -> ModelFileError {
        self.invalid(InvalidModelFile::Rank {
            tensor: info.name.clone(),
            // ggml lists the contiguous dimension first.
            shape: info.dims.iter().rev().map(|&d| d as usize).collect(),
            rank,
        })
    }

    fn shape_error(&self, tensor: &str, found: Vec<usize>, expected: Vec<usize>) -> ModelFileError {
        self.invalid(InvalidModelFile::Shape {
            tensor: tensor.to_string(),
            found,
            expected,
        })
    }

    fn quant_error(&self, tensor: &str, cause: claude_quant::Error) -> ModelFileError {
        self.invalid(InvalidModelFile::Quant {
            tensor: tensor.to_string(),
            cause,
        })
    }
}

/// The GGUF reader's result (a lookup, a parse), its error about `path`.
fn get<T>(path: &Path, result: claude_gguf::Result<T>) -> Result<T, ModelFileError> {
    result.map_err(|e| ModelFileError::gguf(path, e))
}

/// A float stored as f32 or f64, if present.
fn optional_float(meta: &Metadata, key: &str) -> claude_gguf::Result<Option<f64>> {
    match meta.get(key) {
        None => Ok(None),
        Some(value) => value
            .as_f64()
            .map(Some)
            .ok_or_else(|| meta.bad_value(key, "expected a float")),
    }
}
