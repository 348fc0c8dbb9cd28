//! Llama-family models from GGUF files (llama.cpp's format): the config from the `llama.*`
//! metadata, the weights from `token_embd`, `blk.{i}.*`, `output_norm` and `output`. Quantized
//! matrices (Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K) stay packed in their blocks, as packed
//! projections and token tables; float ones (F32, F16, BF16) and the norms are decoded to f32.
//!
//! llama.cpp's converter stores the query and key weights of `llama` models permuted so that
//! rotary embeddings rotate adjacent pairs (ggml's "normal" RoPE), which is the pair layout burn's
//! `RotaryEncoding` rotates: the weights are used as they are.

use std::path::Path;

use burn::prelude::*;
use claude_gguf::{GgufFile, Metadata, TensorInfo};
use claude_quant::{GgmlType, PackedMatrix, dequantize};

use super::ModelFileError;
use super::weights::{Matrix, Weight, set_projection, set_rms_norm, set_token_table};
use crate::config::{Activation, ModelConfig, NormKind, Positions};
use crate::projection::Projection;
use crate::transformer::Gpt;

/// The architectures this reader maps onto [`Gpt`].
const SUPPORTED: &[&str] = &["llama"];

/// Loads the Llama-family model in the GGUF file `path`.
pub(super) fn load(path: &Path, device: &Device) -> Result<Gpt, ModelFileError> {
    let file = GgufFile::open(path).map_err(|e| ModelFileError::invalid(path, strip(e, path)))?;
    let config = config(&file, path)?;
    let reader = Reader { file: &file, path };
    let mut model = config.init(device);
    set_token_table(&mut model.wte, reader.weight("token_embd.weight")?, device);
    for (i, block) in model.h.iter_mut().enumerate() {
        let name = |part: &str| format!("blk.{i}.{part}.weight");
        set_rms_norm(&mut block.ln_1, reader.vector(&name("attn_norm"))?, device);
        let qkv = [name("attn_q"), name("attn_k"), name("attn_v")];
        reader.projection(&mut block.attn.c_attn, &qkv, device)?;
        reader.projection(&mut block.attn.c_proj, &[name("attn_output")], device)?;
        set_rms_norm(&mut block.ln_2, reader.vector(&name("ffn_norm"))?, device);
        let gate_up = [name("ffn_gate"), name("ffn_up")];
        reader.projection(&mut block.mlp.c_fc, &gate_up, device)?;
        reader.projection(&mut block.mlp.c_proj, &[name("ffn_down")], device)?;
    }
    set_rms_norm(
        &mut model.ln_f,
        reader.vector("output_norm.weight")?,
        device,
    );
    if let Some(head) = &mut model.lm_head {
        reader.projection(head, &["output.weight".into()], device)?;
    }
    Ok(model)
}

/// The model config a `llama` GGUF file describes.
fn config(file: &GgufFile, path: &Path) -> Result<ModelConfig, ModelFileError> {
    let meta = file.metadata();
    let arch = get(path, meta.get_str("general.architecture"))?;
    if !SUPPORTED.contains(&arch) {
        return Err(ModelFileError::unsupported(
            path,
            format!("architecture {arch:?} is not supported (supported: {SUPPORTED:?})"),
        ));
    }
    let uint = |key: &str| -> Result<usize, ModelFileError> {
        Ok(get(path, meta.get_uint(&format!("{arch}.{key}")))? as usize)
    };
    let float = |key: &str, default: f64| -> Result<f64, ModelFileError> {
        let value = get(path, optional_float(meta, &format!("{arch}.{key}")))?;
        Ok(value.unwrap_or(default))
    };
    let embedding = file
        .tensor("token_embd.weight")
        .map_err(|e| ModelFileError::invalid(path, strip(e, path)))?;
    let n_head = uint("attention.head_count")?;
    let d_model = uint("embedding_length")?;
    let kv = get(
        path,
        meta.opt_uint(&format!("{arch}.attention.head_count_kv")),
    )?;
    let config = ModelConfig {
        vocab_size: embedding.dims.get(1).copied().unwrap_or(0) as usize,
        context_length: uint("context_length")?,
        n_layer: uint("block_count")?,
        n_head,
        n_kv_head: kv.map(|kv| kv as usize).filter(|&kv| kv != n_head),
        d_model,
        d_ff: Some(uint("feed_forward_length")?),
        positions: Positions::Rope,
        activation: Activation::Swiglu,
        norm: NormKind::Rmsnorm,
        bias: false,
        tie_embeddings: file.tensor("output.weight").is_err(),
        dropout: 0.0,
        rope_theta: float("rope.freq_base", 10_000.0)? as f32,
        norm_eps: float("attention.layer_norm_rms_epsilon", 1e-5)?,
    };
    config.validate().map_err(|cause| ModelFileError::Config {
        path: path.to_path_buf(),
        cause,
    })?;
    let rotated = get(path, meta.opt_uint(&format!("{arch}.rope.dimension_count")))?;
    if let Some(dims) = rotated.filter(|&d| d as usize != config.head_dim()) {
        return Err(ModelFileError::unsupported(
            path,
            format!(
                "rotary embeddings on {dims} of each head's {} dimensions are not supported",
                config.head_dim()
            ),
        ));
    }
    Ok(config)
}

/// Reads tensors of one file as f32.
struct Reader<'a> {
    file: &'a GgufFile,
    path: &'a Path,
}

impl Reader<'_> {
    /// A 2-D tensor, `[rows][cols]` (ggml lists the contiguous dimension first): kept packed when
    /// it is quantized, decoded when it is a float type.
    fn weight(&self, name: &str) -> Result<Weight, ModelFileError> {
        let info = self.info(name)?;
        let [cols, rows] = info.dims[..] else {
            return Err(self.shape_error(info, "2"));
        };
        let (rows, cols) = (rows as usize, cols as usize);
        let ty = self.ggml_type(info)?;
        if matches!(ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16) {
            let (_, data) = self.decode(name)?;
            return Ok(Weight::Float(Matrix { data, rows, cols }));
        }
        let bytes = self.file.data_of(info).map_err(|e| self.invalid(e))?;
        PackedMatrix::ggml(ty, rows, cols, bytes.to_vec())
            .map(Weight::Packed)
            .map_err(|e| ModelFileError::invalid(self.path, format!("tensor {name}: {e}")))
    }

    /// Sets `layer` to the tensors `names` stacked along the outputs, which must give the shape
    /// the config calls for.
    fn projection(
        &self,
        layer: &mut Projection,
        names: &[String],
        device: &Device,
    ) -> Result<(), ModelFileError> {
        let expected = layer.dims();
        let parts = names
            .iter()
            .map(|name| self.weight(name))
            .collect::<Result<Vec<_>, _>>()?;
        set_projection(layer, parts, device)
            .map_err(|e| ModelFileError::invalid(self.path, format!("tensors {names:?}: {e}")))?;
        if layer.dims() != expected {
            let (d_in, d_out) = layer.dims();
            return Err(ModelFileError::invalid(
                self.path,
                format!(
                    "tensors {names:?} give a {d_in} x {d_out} projection (inputs x outputs); \
                     the metadata calls for {} x {}",
                    expected.0, expected.1
                ),
            ));
        }
        Ok(())
    }

    fn info(&self, name: &str) -> Result<&TensorInfo, ModelFileError> {
        self.file.tensor(name).map_err(|e| self.invalid(e))
    }

    fn ggml_type(&self, info: &TensorInfo) -> Result<GgmlType, ModelFileError> {
        GgmlType::from_id(info.ggml_type).map_err(|e| {
            ModelFileError::unsupported(self.path, format!("tensor {}: {e}", info.name))
        })
    }

    fn invalid(&self, e: claude_gguf::Error) -> ModelFileError {
        ModelFileError::invalid(self.path, strip(e, self.path))
    }

    /// A 1-D tensor.
    fn vector(&self, name: &str) -> Result<Vec<f32>, ModelFileError> {
        let (info, data) = self.decode(name)?;
        match info.dims[..] {
            [_] => Ok(data),
            _ => Err(self.shape_error(info, "1")),
        }
    }

    fn decode(&self, name: &str) -> Result<(&TensorInfo, Vec<f32>), ModelFileError> {
        let info = self.info(name)?;
        let ty = self.ggml_type(info)?;
        let bytes = self.file.data_of(info).map_err(|e| self.invalid(e))?;
        let mut data = vec![0.0; info.n_elements() as usize];
        dequantize(ty, bytes, &mut data)
            .map_err(|e| ModelFileError::invalid(self.path, format!("tensor {name}: {e}")))?;
        Ok((info, data))
    }

    fn shape_error(&self, info: &TensorInfo, rank: &str) -> ModelFileError {
        ModelFileError::invalid(
            self.path,
            format!(
                "tensor {} has shape {:?}, expected {rank} dimensions",
                info.name, info.dims
            ),
        )
    }
}

/// A metadata lookup's result, its error naming the file once.
fn get<T>(path: &Path, result: claude_gguf::Result<T>) -> Result<T, ModelFileError> {
    result.map_err(|e| ModelFileError::invalid(path, strip(e, path)))
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

/// The GGUF reader's message without its leading `<path>: `, which our error adds.
fn strip(error: claude_gguf::Error, path: &Path) -> String {
    let message = error.to_string();
    let prefix = format!("{}: ", path.display());
    message
        .strip_prefix(&prefix)
        .map_or_else(|| message.clone(), str::to_string)
}
