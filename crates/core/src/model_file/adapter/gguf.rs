//! llama.cpp's LoRA adapter file (what `convert_lora_to_gguf.py` writes and `llama-cli --lora`
//! reads): a GGUF file with `general.type = "adapter"`, `general.architecture` the base model's,
//! `adapter.type = "lora"` and `adapter.lora.alpha` (f32), and for each adapted module
//! `blk.{i}.{attn_q,...}.weight.lora_a` (ggml shape `[in, r]`: `r` rows of `in`) and
//! `.lora_b` (ggml `[r, out]`: `out` rows of `r`). llama.cpp scales each product by
//! `alpha / r`, `r` being that tensor's rank, or by 1 when `alpha` is 0.
//!
//! `lora_b`'s query and key rows are in the order the base architecture stores its weights'
//! (see [`crate::model_file::gguf::arch`]): ours for `llama`, NeoX halves for the others.
//! Architectures that fuse the query, key and value (`gpt2`, `phi3`) or gate and up (`phi3`)
//! projections into one tensor are refused for adapters on those modules.

use std::path::Path;

use burn::prelude::*;
use claude_gguf::{GgufFile, GgufWriter, Value};
use claude_quant::{GgmlType, dequantize};

use super::pairs::{FoundPair, attach_all, common_alpha, stored_pairs};
use crate::lora::LoraTarget;
use crate::model_file::gguf::arch::Architecture;
use crate::model_file::{InvalidModelFile, ModelFileError, UnsupportedModelFile};
use crate::transformer::Gpt;

/// `general.type` of an adapter file.
const ADAPTER_TYPE: &str = "adapter";
/// `adapter.type` of a LoRA adapter.
const LORA_TYPE: &str = "lora";
/// The key of the adapters' `alpha`.
const ALPHA_KEY: &str = "adapter.lora.alpha";

/// The architecture `model` is written as, as [`Gpt::save_gguf`] names it.
fn architecture(model: &Gpt, path: &Path) -> Result<Architecture, ModelFileError> {
    Architecture::of_config(model.config())
        .map_err(|cause| ModelFileError::unsupported(path, cause))
}

/// Whether `arch` stores `target` in a tensor of its own (named [`LoraTarget::gguf_name`]).
fn own_tensor(arch: Architecture, target: LoraTarget, gated: bool) -> bool {
    match target {
        LoraTarget::Q | LoraTarget::K | LoraTarget::V => arch.attention_parts().len() == 3,
        LoraTarget::O | LoraTarget::Down => true,
        LoraTarget::Gate => arch.mlp_in_parts().len() == 2,
        LoraTarget::Up => arch.mlp_in_parts().len() == 2 || !gated,
    }
}

fn fused_error(arch: Architecture, target: LoraTarget, path: &Path) -> ModelFileError {
    let cause = UnsupportedModelFile::AdapterModule {
        module: target.gguf_name().to_string(),
        reason: format!(
            "llama.cpp's {} stores it fused with other projections, so an adapter on it alone \
             has no tensor",
            arch.name()
        ),
    };
    ModelFileError::unsupported(path, cause)
}

/// Writes `model`'s adapters as a llama.cpp LoRA file at `path` (atomically), with `metadata`
/// beside its own; returns the architecture named.
pub(super) fn save(
    model: &Gpt,
    path: &Path,
    metadata: Vec<(String, Value)>,
) -> Result<&'static str, ModelFileError> {
    let arch = architecture(model, path)?;
    let mut pairs = stored_pairs(model, arch.neox());
    if pairs.is_empty() {
        return Err(ModelFileError::unsupported(
            path,
            UnsupportedModelFile::NoAdapters,
        ));
    }
    let gated = model.config().activation.is_gated();
    if let Some(pair) = pairs.iter().find(|p| !own_tensor(arch, p.target, gated)) {
        return Err(fused_error(arch, pair.target, path));
    }
    let alpha = common_alpha(&mut pairs);
    let mut writer = GgufWriter::new();
    writer.set("general.architecture", arch.name());
    writer.set("general.type", ADAPTER_TYPE);
    for (key, value) in metadata {
        writer.set(key, value);
    }
    writer.set("adapter.type", LORA_TYPE);
    writer.set(ALPHA_KEY, alpha as f32);
    for pair in pairs {
        let name = format!("blk.{}.{}.weight", pair.layer, pair.target.gguf_name());
        let (rank, d_in, d_out) = (pair.rank as u64, pair.d_in as u64, pair.d_out as u64);
        let a: Vec<u8> = bytemuck::cast_slice(&pair.a).to_vec();
        let b: Vec<u8> = bytemuck::cast_slice(&pair.b).to_vec();
        writer.add_tensor(
            format!("{name}.lora_a"),
            &[d_in, rank],
            GgmlType::F32.id(),
            a,
        );
        writer.add_tensor(
            format!("{name}.lora_b"),
            &[rank, d_out],
            GgmlType::F32.id(),
            b,
        );
    }
    writer
        .write(path)
        .map_err(|e| ModelFileError::gguf(path, e))?;
    Ok(arch.name())
}

/// Attaches the adapters of the llama.cpp LoRA file `path` to `model`; returns how many.
pub(super) fn load(model: &mut Gpt, path: &Path, device: &Device) -> Result<usize, ModelFileError> {
    let file = GgufFile::open(path).map_err(|e| ModelFileError::gguf(path, e))?;
    let meta = file.metadata();
    let text = |key: &str| meta.opt_str(key).map_err(|e| ModelFileError::gguf(path, e));
    for (key, expected) in [("general.type", ADAPTER_TYPE), ("adapter.type", LORA_TYPE)] {
        let found = text(key)?;
        if found != Some(expected) {
            let cause = InvalidModelFile::AdapterField {
                field: key.to_string(),
                message: match found {
                    Some(found) => format!("is {found:?}; a LoRA adapter file has {expected:?}"),
                    None => format!("missing; a LoRA adapter file has {expected:?}"),
                },
            };
            return Err(ModelFileError::invalid(path, cause));
        }
    }
    let arch = architecture(model, path)?;
    let named = text("general.architecture")?.unwrap_or_default();
    if named != arch.name() {
        let cause = UnsupportedModelFile::AdapterSetting {
            field: "general.architecture".into(),
            value: format!("{named:?}"),
            reason: format!("the model is llama.cpp's {:?}", arch.name()),
        };
        return Err(ModelFileError::unsupported(path, cause));
    }
    let alpha = match meta.get(ALPHA_KEY) {
        None => 0.0,
        Some(value) => value.as_f64().ok_or_else(|| {
            let cause = InvalidModelFile::AdapterField {
                field: ALPHA_KEY.into(),
                message: format!("is a {}, expected a float", value.type_description()),
            };
            ModelFileError::invalid(path, cause)
        })?,
    };
    let pairs = pairs(&file, arch, model.config().activation.is_gated())?;
    // llama.cpp: `alpha / r`, or 1 for an alpha of 0.
    let scale = |rank: usize| {
        if alpha == 0.0 {
            1.0
        } else {
            alpha / rank as f64
        }
    };
    attach_all(model, pairs, arch.neox(), scale, path, device)
}

/// Every `lora_a`/`lora_b` pair of `file`, decoded.
fn pairs(
    file: &GgufFile,
    arch: Architecture,
    gated: bool,
) -> Result<Vec<FoundPair>, ModelFileError> {
    let path = file.path();
    let mut pairs = Vec::new();
    for info in file.tensors() {
        let Some(base) = info.name.strip_suffix(".lora_a") else {
            if info.name.ends_with(".lora_b") {
                continue;
            }
            let cause = InvalidModelFile::AdapterTensor {
                tensor: info.name.clone(),
                message: "not a LoRA tensor (names end in .lora_a or .lora_b)".into(),
            };
            return Err(ModelFileError::invalid(path, cause));
        };
        let (layer, target) = parse_name(base).ok_or_else(|| {
            let cause = InvalidModelFile::AdapterTensor {
                tensor: info.name.clone(),
                message: "not the adapter of a block's projection (blk.{i}.attn_q.weight...)"
                    .into(),
            };
            ModelFileError::invalid(path, cause)
        })?;
        if !own_tensor(arch, target, gated) {
            return Err(fused_error(arch, target, path));
        }
        let b_name = format!("{base}.lora_b");
        pairs.push(FoundPair {
            layer,
            target,
            a_name: info.name.clone(),
            a: matrix(file, &info.name)?,
            b: matrix(file, &b_name)?,
            b_name,
        });
    }
    let b_count = file
        .tensors()
        .iter()
        .filter(|t| t.name.ends_with(".lora_b"))
        .count();
    if b_count != pairs.len() {
        let orphan = file
            .tensors()
            .iter()
            .find(|t| {
                t.name
                    .strip_suffix(".lora_b")
                    .is_some_and(|base| file.tensor(&format!("{base}.lora_a")).is_err())
            })
            .map_or_else(String::new, |t| t.name.clone());
        let cause = InvalidModelFile::AdapterTensor {
            tensor: orphan,
            message: "no lora_a beside it".into(),
        };
        return Err(ModelFileError::invalid(path, cause));
    }
    Ok(pairs)
}

/// `(layer, target)` of `blk.{i}.{attn_q,...}.weight`.
fn parse_name(base: &str) -> Option<(usize, LoraTarget)> {
    let rest = base.strip_prefix("blk.")?.strip_suffix(".weight")?;
    let (layer, module) = rest.split_once('.')?;
    let target = LoraTarget::ALL
        .into_iter()
        .find(|t| t.gguf_name() == module)?;
    Some((layer.parse().ok()?, target))
}

/// A 2-D tensor decoded to f32, as `[rows, cols]` (ggml lists the contiguous dimension first).
fn matrix(file: &GgufFile, name: &str) -> Result<([usize; 2], Vec<f32>), ModelFileError> {
    let path = file.path();
    let info = file
        .tensor(name)
        .map_err(|e| ModelFileError::gguf(path, e))?;
    let [cols, rows] = info.dims[..] else {
        let cause = InvalidModelFile::Rank {
            tensor: name.to_string(),
            shape: info.dims.iter().rev().map(|&d| d as usize).collect(),
            rank: 2,
        };
        return Err(ModelFileError::invalid(path, cause));
    };
    let ty = GgmlType::from_id(info.ggml_type).map_err(|cause| {
        let tensor = name.to_string();
        ModelFileError::unsupported(path, UnsupportedModelFile::TensorType { tensor, cause })
    })?;
    let bytes = file
        .data_of(info)
        .map_err(|e| ModelFileError::gguf(path, e))?;
    let mut data = vec![0.0; (rows * cols) as usize];
    dequantize(ty, bytes, &mut data).map_err(|cause| {
        let tensor = name.to_string();
        ModelFileError::invalid(path, InvalidModelFile::Quant { tensor, cause })
    })?;
    Ok(([rows as usize, cols as usize], data))
}
