//! Writing a [`Gpt`] as a GGUF file llama.cpp runs: the architecture its config computes (see
//! [`super::arch`]), its hyperparameters under `{arch}.*`, and its tensors under llama.cpp's names,
//! float weights as F32 and packed ones in their GGML blocks as they are (int8 rows have no GGML
//! type and are refused). Where the architecture has biases and the model none, zeros are
//! written, which compute the same.

use std::path::Path;

use claude_gguf::{GgufWriter, Value};
use claude_quant::{GgmlType, PackedMatrix, RowFormat};

use super::arch::{Architecture, HeadRows, gather_rows, neox_order};
use crate::config::ModelConfig;
use crate::embedding::TokenEmbedding;
use crate::model_file::{ModelFileError, UnsupportedModelFile};
use crate::norm::Norm;
use crate::position::PositionEmbedding;
use crate::projection::Projection;
use crate::quantize::values;
use crate::transformer::Gpt;

/// Writes `model` to `path` with `metadata` (a tokenizer, `general.name`) beside its own,
/// atomically; returns the architecture written.
pub(in crate::model_file) fn save(
    model: &Gpt,
    path: &Path,
    metadata: Vec<(String, Value)>,
) -> Result<&'static str, ModelFileError> {
    let arch = Architecture::of_config(model.config())
        .map_err(|cause| ModelFileError::unsupported(path, cause))?;
    save_as(model, path, metadata, arch)
}

/// Writes `model` to `path` as a file of architecture `arch`, which must compute what the
/// model's config does (as [`Architecture::of_config`] finds, or another of the same
/// computation, such as `phi3` for `llama`).
pub(super) fn save_as(
    model: &Gpt,
    path: &Path,
    metadata: Vec<(String, Value)>,
    arch: Architecture,
) -> Result<&'static str, ModelFileError> {
    let config = model.config();
    let mut tensors = Tensors {
        writer: GgufWriter::new(),
        path,
        config,
        arch,
    };
    tensors.hyperparameters(metadata);
    tensors.table("token_embd.weight", &model.wte)?;
    if let PositionEmbedding::Learned(table) = &model.wpe {
        let [rows, cols] = table.weight.dims();
        tensors.f32_matrix(
            "position_embd.weight",
            rows,
            cols,
            &values(table.weight.val()),
        );
    }
    let d_head = config.head_dim();
    let (q, kv) = (config.n_head * d_head, config.kv_heads() * d_head);
    for (i, block) in model.h.iter().enumerate() {
        let name = |part: &str| format!("blk.{i}.{part}");
        tensors.norm(&name("attn_norm"), &block.ln_1);
        let attention = arch.attention_parts();
        let sizes = match attention.len() {
            1 => vec![q + 2 * kv],
            _ => vec![q, kv, kv],
        };
        let parts: Vec<Part> = attention
            .iter()
            .zip(sizes)
            .map(|(&(part, rows), size)| Part {
                name: name(part),
                rows: size,
                order: rows,
            })
            .collect();
        tensors.projection(&block.attn.c_attn, &parts)?;
        tensors.projection(
            &block.attn.c_proj,
            &[Part::plain(name("attn_output"), config.d_model)],
        )?;
        let head_norms = [
            (&block.attn.q_norm, "attn_q_norm"),
            (&block.attn.k_norm, "attn_k_norm"),
        ];
        for (norm, part) in head_norms {
            if let Some(norm) = norm {
                tensors.head_norm(&name(part), norm);
            }
        }
        tensors.norm(&name("ffn_norm"), &block.ln_2);
        // The gate and up halves, stored apart or fused in one tensor.
        let mlp_parts = arch.mlp_in_parts();
        let rows = block.mlp.c_fc.dims().1 / mlp_parts.len();
        let mlp_in: Vec<Part> = mlp_parts
            .iter()
            .map(|part| Part::plain(name(part), rows))
            .collect();
        tensors.projection(&block.mlp.c_fc, &mlp_in)?;
        tensors.projection(
            &block.mlp.c_proj,
            &[Part::plain(name("ffn_down"), config.d_model)],
        )?;
        let post_norms = [&block.ln_1_post, &block.ln_2_post];
        for (norm, part) in post_norms
            .into_iter()
            .zip(arch.post_norm_names().unwrap_or_default())
        {
            if let Some(norm) = norm {
                tensors.norm(&name(part), norm);
            }
        }
    }
    tensors.norm("output_norm", &model.ln_f);
    match &model.lm_head {
        Some(head) => {
            let output = Part::plain("output".into(), config.vocab_size);
            tensors.projection(head, &[output])?;
        }
        None if arch.needs_output() => tensors.table("output.weight", &model.wte)?,
        None => {}
    }
    tensors
        .writer
        .write(path)
        .map_err(|e| ModelFileError::gguf(path, e))?;
    Ok(arch.name())
}

/// One stored tensor of a fused projection: its name (without `.weight`), its rows, and their
/// order.
struct Part {
    name: String,
    rows: usize,
    order: HeadRows,
}

impl Part {
    fn plain(name: String, rows: usize) -> Self {
        Part {
            name,
            rows,
            order: HeadRows::Plain,
        }
    }
}

/// The file being assembled.
struct Tensors<'a> {
    writer: GgufWriter<'static>,
    path: &'a Path,
    config: &'a ModelConfig,
    arch: Architecture,
}

impl Tensors<'_> {
    /// `general.*` and `{arch}.*`, as llama.cpp reads them (integers as u32, floats as f32).
    fn hyperparameters(&mut self, metadata: Vec<(String, Value)>) {
        let (arch, config) = (self.arch, self.config);
        let writer = &mut self.writer;
        writer.set("general.architecture", arch.name());
        for (key, value) in metadata {
            writer.set(key, value);
        }
        let uint = |value: usize| Value::U32(value as u32);
        writer.set(arch.key("context_length"), uint(config.context_length));
        writer.set(arch.key("embedding_length"), uint(config.d_model));
        writer.set(arch.key("block_count"), uint(config.n_layer));
        writer.set(arch.key("feed_forward_length"), uint(config.mlp_hidden()));
        writer.set(arch.key("attention.head_count"), uint(config.n_head));
        writer.set(arch.key("attention.head_count_kv"), uint(config.kv_heads()));
        writer.set(arch.key(arch.eps_key()), config.norm_eps as f32);
        if arch.variants().positions == crate::config::Positions::Rope {
            writer.set(arch.key("rope.freq_base"), config.rope_theta);
            writer.set(arch.key("rope.dimension_count"), uint(config.head_dim()));
        }
        if let Some(scale) = config.rope_scale {
            writer.set(arch.key("rope.scaling.type"), "linear");
            writer.set(arch.key("rope.scaling.factor"), scale);
        }
        if config.head_dim.is_some() {
            writer.set(arch.key("attention.key_length"), uint(config.head_dim()));
            writer.set(arch.key("attention.value_length"), uint(config.head_dim()));
        }
        if let Some(window) = config.sliding_window {
            writer.set(arch.key("attention.sliding_window"), uint(window.size));
        }
    }

    /// A per-head query or key norm's `{name}.weight`, in the stored head order.
    fn head_norm(&mut self, name: &str, norm: &Norm) {
        let mut gamma = match norm {
            Norm::Layer(layer) => values(layer.gamma.val()),
            Norm::Rms(rms) => values(rms.gamma.val()),
        };
        if self.arch.neox() {
            gamma = gather_rows(&gamma, 1, &neox_order(1, gamma.len()));
        }
        self.f32_vector(&format!("{name}.weight"), &gamma);
    }

    /// An F32 tensor of ggml shape `dims` (innermost first).
    fn f32_tensor(&mut self, name: &str, dims: &[u64], data: &[f32]) {
        let bytes: Vec<u8> = bytemuck::cast_slice(data).to_vec();
        self.writer
            .add_tensor(name, dims, GgmlType::F32.id(), bytes);
    }

    /// A row-major `rows x cols` f32 matrix (ggml's shape `[cols, rows]`).
    fn f32_matrix(&mut self, name: &str, rows: usize, cols: usize, data: &[f32]) {
        self.f32_tensor(name, &[cols as u64, rows as u64], data);
    }

    fn f32_vector(&mut self, name: &str, data: &[f32]) {
        self.f32_tensor(name, &[data.len() as u64], data);
    }

    /// The token table (or a tied output head): float, or its packed rows.
    fn table(&mut self, name: &str, table: &TokenEmbedding) -> Result<(), ModelFileError> {
        match table {
            TokenEmbedding::Float(embedding) => {
                let [rows, cols] = embedding.weight.dims();
                self.f32_matrix(name, rows, cols, &values(embedding.weight.val()));
                Ok(())
            }
            TokenEmbedding::Packed(packed) => {
                let rows = packed.table.rows();
                self.packed(name, &packed.table, 0..rows, None)
            }
        }
    }

    /// `{name}.weight`, and `{name}.bias` where the architecture has biases (zeros when the
    /// model has none).
    fn norm(&mut self, name: &str, norm: &Norm) {
        let (gamma, beta) = match norm {
            Norm::Layer(layer) => (
                values(layer.gamma.val()),
                layer.beta.as_ref().map(|beta| values(beta.val())),
            ),
            Norm::Rms(rms) => (values(rms.gamma.val()), None),
        };
        if self.arch.variants().bias {
            let beta = beta.unwrap_or_else(|| vec![0.0; gamma.len()]);
            self.f32_vector(&format!("{name}.bias"), &beta);
        }
        self.f32_vector(&format!("{name}.weight"), &gamma);
    }

    /// `layer` as the tensors `parts`, top to bottom along its outputs, with their biases where
    /// the architecture has them.
    fn projection(&mut self, layer: &Projection, parts: &[Part]) -> Result<(), ModelFileError> {
        let (d_in, d_out) = layer.dims();
        debug_assert_eq!(parts.iter().map(|p| p.rows).sum::<usize>(), d_out);
        let (float_rows, bias) = match layer {
            // burn's `[in, out]` to the `[out][in]` rows GGUF stores.
            Projection::Float(linear) => (
                Some(values(linear.weight.val().transpose())),
                linear.bias.as_ref().map(|b| values(b.val())),
            ),
            Projection::Packed(packed) => (None, packed.bias.as_ref().map(|b| values(b.val()))),
        };
        let bias = match (bias, self.arch.variants().bias) {
            (bias, false) => bias,
            (bias, true) => Some(bias.unwrap_or_else(|| vec![0.0; d_out])),
        };
        let mut start = 0;
        for part in parts {
            let rows = start..start + part.rows;
            start = rows.end;
            let order = part.order.order(self.config);
            let weight = format!("{}.weight", part.name);
            match (&float_rows, layer) {
                (Some(data), _) => {
                    let mut data = data[rows.start * d_in..rows.end * d_in].to_vec();
                    if let Some(order) = &order {
                        data = gather_rows(&data, d_in, order);
                    }
                    self.f32_matrix(&weight, part.rows, d_in, &data);
                }
                (None, Projection::Packed(packed)) => {
                    self.packed(&weight, &packed.weight, rows.clone(), order.as_deref())?;
                }
                (None, Projection::Float(_)) => unreachable!("float weights have rows"),
            }
            if let Some(bias) = &bias {
                let mut values = bias[rows].to_vec();
                if let Some(order) = &order {
                    values = gather_rows(&values, 1, order);
                }
                self.f32_vector(&format!("{}.bias", part.name), &values);
            }
        }
        Ok(())
    }

    /// Rows `rows` of a packed matrix as one GGML tensor, reordered by `order` if given.
    fn packed(
        &mut self,
        name: &str,
        matrix: &PackedMatrix,
        rows: std::ops::Range<usize>,
        order: Option<&[usize]>,
    ) -> Result<(), ModelFileError> {
        let n_rows = rows.len();
        let Some((ty, mut bytes)) = matrix.ggml_rows(rows) else {
            let tensor = name.to_string();
            let formats = matrix.formats();
            let cause = if formats.contains(&RowFormat::Int8) {
                UnsupportedModelFile::Int8Rows { tensor }
            } else {
                UnsupportedModelFile::MixedRows { tensor, formats }
            };
            return Err(ModelFileError::unsupported(self.path, cause));
        };
        if let Some(order) = order {
            bytes = gather_rows(&bytes, bytes.len() / n_rows.max(1), order);
        }
        self.writer
            .add_tensor(name, &[matrix.cols() as u64, n_rows as u64], ty.id(), bytes);
        Ok(())
    }
}
