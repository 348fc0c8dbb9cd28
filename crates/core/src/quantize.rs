//! Packing a float model's weights in a quantized format, for inference: every projection
//! (attention, MLP, a separate output head), and the token table when asked. Norms, biases and
//! position tables stay float. [`Gpt::dequantize`] unpacks them again.

use burn::prelude::*;
use claude_quant::{PackedMatrix, RowFormat};

use crate::embedding::TokenEmbedding;
use crate::model_file::gguf::arch::Architecture;
use crate::model_file::weights::{Matrix, set_embedding, set_linear};
use crate::projection::Projection;
use crate::quant_mix::{QuantScheme, TensorRole};
use crate::transformer::{Gpt, TOKEN_TABLE_NAME};

/// Why a model cannot be quantized.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    /// Some weights are packed already (quantizing twice would compound the rounding).
    #[error("the model is already quantized ({0} is packed)")]
    AlreadyQuantized(String),
    /// A matrix whose rows do not split into the format's blocks.
    #[error(
        "{tensor}: rows of {cols} values do not split into {format} blocks of {block} (int8 takes any width)"
    )]
    Width {
        /// The tensor.
        tensor: String,
        /// Its row length (inputs).
        cols: usize,
        /// The format.
        format: &'static str,
        /// The format's block size.
        block: usize,
    },
    /// A format that cannot be encoded.
    #[error("{0}")]
    Format(#[from] claude_quant::Error),
}

impl Gpt {
    /// Packs every projection as `scheme` says (one format, or a llama.cpp K-quant mixture: see
    /// [`QuantScheme`]), and the token table (also a tied output head) when `embeddings` is set
    /// or the scheme always does. Each matrix is quantized row by row in llama.cpp's `[out][in]`
    /// layout (GGML blocks run along the inputs; int8 has one scale per output); a fused
    /// projection is quantized part by part (query, key, value; gate, up) as a GGUF file stores
    /// it, so a mixture gives each part its own format.
    pub fn quantize(&mut self, scheme: QuantScheme, embeddings: bool) -> Result<(), QuantizeError> {
        if let Some(name) = self.packed_tensor_names().into_iter().next() {
            return Err(QuantizeError::AlreadyQuantized(name));
        }
        let config = self.config().clone();
        let layers = config.n_layer;
        let fused_qkv =
            Architecture::of_config(&config).is_ok_and(|arch| arch.attention_parts().len() == 1);
        let (q, kv) = (
            config.attention_width(),
            config.kv_heads() * config.head_dim(),
        );
        let hidden = config.mlp_hidden();
        for (layer, block) in self.h.iter_mut().enumerate() {
            let name = |part: &str| format!("h.{layer}.{part}.weight");
            let attention = match fused_qkv {
                true => vec![(q + 2 * kv, TensorRole::AttentionQkv)],
                false => vec![
                    (q, TensorRole::Other),
                    (kv, TensorRole::Other),
                    (kv, TensorRole::AttentionValue { layer, layers }),
                ],
            };
            pack_projection(
                &mut block.attn.c_attn,
                scheme,
                &attention,
                &name("attn.c_attn"),
            )?;
            let other = |rows| vec![(rows, TensorRole::Other)];
            pack_projection(
                &mut block.attn.c_proj,
                scheme,
                &other(config.d_model),
                &name("attn.c_proj"),
            )?;
            let parts = if config.activation.is_gated() { 2 } else { 1 };
            pack_projection(
                &mut block.mlp.c_fc,
                scheme,
                &vec![(hidden, TensorRole::Other); parts],
                &name("mlp.c_fc"),
            )?;
            let down = vec![(
                config.d_model,
                TensorRole::FeedForwardDown { layer, layers },
            )];
            pack_projection(&mut block.mlp.c_proj, scheme, &down, &name("mlp.c_proj"))?;
        }
        if let Some(head) = &mut self.lm_head {
            let output = vec![(config.vocab_size, TensorRole::Output)];
            pack_projection(head, scheme, &output, "lm_head.weight")?;
        }
        if (embeddings || scheme.quantizes_token_table())
            && let TokenEmbedding::Float(table) = &self.wte
        {
            let [vocab, width] = table.weight.dims();
            let role = match self.lm_head {
                Some(_) => TensorRole::TokenTable,
                None => TensorRole::Output,
            };
            let format = scheme.format_for(role, width);
            check_width(format, width, TOKEN_TABLE_NAME)?;
            let rows = values(table.weight.val());
            self.wte = TokenEmbedding::packed(PackedMatrix::quantize(format, vocab, width, &rows)?);
        }
        Ok(())
    }

    /// Unpacks every packed weight to f32 on `device`, the inverse of [`Gpt::quantize`] up to its
    /// rounding: the same model run by burn's float matmuls (to compare speed and memory with the
    /// packed products, or to fine-tune a quantized model's decoded weights).
    pub fn dequantize(&mut self, device: &Device) {
        self.dequantize_projections(device, |_| true);
        if let TokenEmbedding::Packed(packed) = &self.wte {
            let table = decoded(&packed.table);
            set_embedding(&mut self.wte, table, device);
        }
    }

    /// Unpacks to f32 the packed projections that carry LoRA adapters (to merge them).
    pub(crate) fn dequantize_adapted(&mut self, device: &Device) {
        self.dequantize_projections(device, |layer| layer.lora().is_some());
    }

    /// Unpacks the packed projections `which` picks, keeping their bias and adapters.
    fn dequantize_projections(&mut self, device: &Device, which: impl Fn(&Projection) -> bool) {
        for (_, layer) in self.projections_mut() {
            let Projection::Packed(packed) = &*layer else {
                continue;
            };
            if !which(layer) {
                continue;
            }
            let weight = decoded(&packed.weight);
            let bias = layer.take_bias();
            let lora = layer.lora_mut().take();
            set_linear(layer, &[&weight], device);
            layer.set_bias(bias);
            *layer.lora_mut() = lora;
        }
    }

    /// The names of the packed tensors, as a model file names them.
    pub fn packed_tensor_names(&self) -> Vec<String> {
        self.packed_matrices()
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    /// The packed matrices by tensor name: the token table first, then the projections.
    pub(crate) fn packed_matrices(&self) -> Vec<(String, &PackedMatrix)> {
        let table = match &self.wte {
            TokenEmbedding::Packed(packed) => Some((TOKEN_TABLE_NAME.to_string(), &*packed.table)),
            TokenEmbedding::Float(_) => None,
        };
        let layers = self
            .projections()
            .into_iter()
            .filter_map(|(name, layer)| match layer {
                Projection::Packed(packed) => Some((name, &*packed.weight)),
                Projection::Float(_) => None,
            });
        table.into_iter().chain(layers).collect()
    }
}

/// Replaces a float projection by its weight packed part by part (`parts`: rows and role, top
/// to bottom along the outputs), each in the format `scheme` gives its role, keeping the bias.
fn pack_projection(
    layer: &mut Projection,
    scheme: QuantScheme,
    parts: &[(usize, TensorRole)],
    name: &str,
) -> Result<(), QuantizeError> {
    let Projection::Float(linear) = layer else {
        return Ok(());
    };
    let [d_in, d_out] = linear.weight.dims();
    debug_assert_eq!(parts.iter().map(|&(rows, _)| rows).sum::<usize>(), d_out);
    // burn's `[in, out]` to the `[out][in]` rows the formats pack.
    let rows = values(linear.weight.val().transpose());
    // Neighbouring parts of one format are packed together: one segment each.
    let mut runs: Vec<(usize, RowFormat)> = Vec::with_capacity(parts.len());
    for &(count, role) in parts {
        let format = scheme.format_for(role, d_in);
        match runs.last_mut() {
            Some((rows, last)) if *last == format => *rows += count,
            _ => runs.push((count, format)),
        }
    }
    let mut start = 0;
    let mut packed = Vec::with_capacity(runs.len());
    for (count, format) in runs {
        check_width(format, d_in, name)?;
        let part = &rows[start * d_in..(start + count) * d_in];
        packed.push(PackedMatrix::quantize(format, count, d_in, part)?);
        start += count;
    }
    let weight = PackedMatrix::stack(packed)?;
    let bias = layer.take_bias();
    *layer = Projection::packed(weight, bias);
    Ok(())
}

/// Refuses rows that GGML blocks cannot tile.
fn check_width(format: RowFormat, cols: usize, name: &str) -> Result<(), QuantizeError> {
    if let RowFormat::Ggml(ty) = format
        && !cols.is_multiple_of(ty.block_size())
    {
        return Err(QuantizeError::Width {
            tensor: name.to_string(),
            cols,
            format: ty.name(),
            block: ty.block_size(),
        });
    }
    Ok(())
}

/// A float tensor's values in f32, row-major.
pub(crate) fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .try_into_vec_as::<f32>()
        .expect("float weights convert to f32")
}
/// A packed matrix decoded to f32 rows.
fn decoded(packed: &PackedMatrix) -> Matrix {
    Matrix {
        data: packed.dequantize(),
        rows: packed.rows(),
        cols: packed.cols(),
    }
}
