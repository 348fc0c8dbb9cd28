//! Hugging Face PEFT's LoRA folder, as `PeftModel.save_pretrained` writes it and
//! `PeftModel.from_pretrained(base, dir)` reads it: `adapter_config.json` (see
//! [`super::peft_config`]) and `adapter_model.safetensors`, holding for each adapted module
//! `base_model.model.model.layers.{i}.{self_attn.q_proj,...}.lora_A.weight` (`[r, in]`) and
//! `.lora_B.weight` (`[out, r]`), whose product PEFT scales by `lora_alpha / r`.
//!
//! Hugging Face stores each query and key head's rows in NeoX (`rotate_half`) order where ours
//! are interleaved, so `lora_B`'s rows of `q_proj` and `k_proj` are written in that order and
//! put back on reading, as the model loader does with the weights themselves.

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use claude_files::{AtomicDir, AtomicPath};
use claude_quant::{GgmlType, dequantize};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use super::pairs::{FoundPair, StoredPair, attach_all, common_alpha, stored_pairs};
use super::{AdapterInfo, peft_config};
use crate::lora::LoraTarget;
use crate::model_file::{InvalidModelFile, ModelFileError, UnsupportedModelFile};
use crate::transformer::Gpt;

/// The config file of a PEFT adapter folder.
pub const PEFT_CONFIG_FILE: &str = "adapter_config.json";
/// The weights file of a PEFT adapter folder.
pub const PEFT_WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// What precedes `{i}.` in a tensor name: PEFT's wrapper (`base_model.model.`) around a
/// `*ForCausalLM` model's layers.
const LAYERS_PREFIX: &str = "base_model.model.model.layers.";

/// The name of `target`'s `lora_A` (`which = 'A'`) or `lora_B` in block `layer`.
pub(super) fn tensor_name(layer: usize, target: LoraTarget, which: char) -> String {
    format!(
        "{LAYERS_PREFIX}{layer}.{}.lora_{which}.weight",
        target.hf_path()
    )
}

/// Writes `model`'s adapters as a PEFT folder `dir` (see [`super`]'s `save_adapter_peft`).
pub(super) fn save(model: &Gpt, dir: &Path, info: &AdapterInfo) -> Result<(), ModelFileError> {
    let mut pairs = stored_pairs(model, true);
    if pairs.is_empty() {
        return Err(ModelFileError::unsupported(
            dir,
            UnsupportedModelFile::NoAdapters,
        ));
    }
    let mut ranks: Vec<usize> = pairs.iter().map(|pair| pair.rank).collect();
    ranks.sort_unstable();
    ranks.dedup();
    if let [rank] = ranks[..] {
        let alpha = common_alpha(&mut pairs);
        let mut targets: Vec<LoraTarget> = pairs.iter().map(|pair| pair.target).collect();
        targets.sort();
        targets.dedup();
        let mut layers: Vec<usize> = pairs.iter().map(|pair| pair.layer).collect();
        layers.dedup();
        let layers = (layers.len() < model.h.len()).then_some(&layers[..]);
        let config = peft_config::to_json(rank, alpha, &targets, layers, info);
        let weights = weights_bytes(&pairs, dir)?;
        write_folder(dir, &weights, &config)
    } else {
        let cause = UnsupportedModelFile::AdapterRanks {
            ranks,
            format: "PEFT's adapter_config.json",
        };
        Err(ModelFileError::unsupported(dir, cause))
    }
}

/// `adapter_model.safetensors`'s bytes: every pair's `lora_A` and `lora_B` as f32.
fn weights_bytes(pairs: &[StoredPair], dir: &Path) -> Result<Vec<u8>, ModelFileError> {
    let mut tensors = Vec::with_capacity(2 * pairs.len());
    for pair in pairs {
        let a = (
            tensor_name(pair.layer, pair.target, 'A'),
            [pair.rank, pair.d_in],
            &pair.a,
        );
        let b = (
            tensor_name(pair.layer, pair.target, 'B'),
            [pair.d_out, pair.rank],
            &pair.b,
        );
        tensors.push(a);
        tensors.push(b);
    }
    let views = tensors
        .iter()
        .map(|(name, shape, data)| {
            TensorView::new(Dtype::F32, shape.to_vec(), bytemuck::cast_slice(data))
                .map(|view| (name.clone(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| safetensors_error(dir, e))?;
    let metadata = [("format".to_string(), "pt".to_string())]
        .into_iter()
        .collect();
    safetensors::serialize(views, Some(metadata)).map_err(|e| safetensors_error(dir, e))
}

fn safetensors_error(dir: &Path, cause: safetensors::SafeTensorError) -> ModelFileError {
    ModelFileError::invalid(
        &dir.join(PEFT_WEIGHTS_FILE),
        InvalidModelFile::Safetensors(cause),
    )
}

/// Writes the two files into `dir`: as a whole new folder replacing it when `dir` holds nothing
/// else, else each file atomically beside whatever else is there (never removing it).
fn write_folder(dir: &Path, weights: &[u8], config: &str) -> Result<(), ModelFileError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| ModelFileError::io(&path, e)
    };
    if holds_only_adapter_files(dir).map_err(io(dir))? {
        let folder = AtomicDir::create(dir).map_err(io(dir))?;
        let weights_path = folder.path().join(PEFT_WEIGHTS_FILE);
        std::fs::write(&weights_path, weights).map_err(io(&weights_path))?;
        let config_path = folder.path().join(PEFT_CONFIG_FILE);
        std::fs::write(&config_path, config).map_err(io(&config_path))?;
        return folder.commit().map_err(io(dir));
    }
    for (name, bytes) in [
        (PEFT_WEIGHTS_FILE, weights),
        (PEFT_CONFIG_FILE, config.as_bytes()),
    ] {
        let path = dir.join(name);
        let file = AtomicPath::beside(&path).map_err(io(&path))?;
        std::fs::write(file.path(), bytes).map_err(io(&path))?;
        file.commit().map_err(io(&path))?;
    }
    Ok(())
}

/// Whether `dir` is absent, or holds nothing but a PEFT adapter's files.
fn holds_only_adapter_files(dir: &Path) -> std::io::Result<bool> {
    if !dir.exists() {
        return Ok(true);
    }
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        if name != PEFT_CONFIG_FILE && name != PEFT_WEIGHTS_FILE {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Attaches the adapters of the PEFT folder `dir` to `model`; returns how many.
pub(super) fn load(model: &mut Gpt, dir: &Path, device: &Device) -> Result<usize, ModelFileError> {
    let config = peft_config::read(&dir.join(PEFT_CONFIG_FILE))?;
    let path = dir.join(PEFT_WEIGHTS_FILE);
    let bytes = std::fs::read(&path).map_err(|e| ModelFileError::io(&path, e))?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| ModelFileError::invalid(&path, InvalidModelFile::NotSafetensors(e)))?;
    let mut found: BTreeMap<(usize, LoraTarget), Halves> = BTreeMap::new();
    for (name, view) in file.tensors() {
        let (layer, target, which) = parse_name(&name).ok_or_else(|| {
            let cause = InvalidModelFile::AdapterTensor {
                tensor: name.clone(),
                message: format!(
                    "not a LoRA tensor of a layer's projection (expected names such as {})",
                    tensor_name(0, LoraTarget::Q, 'A')
                ),
            };
            ModelFileError::invalid(&path, cause)
        })?;
        let tensor = decode(&name, &view, &path)?;
        let halves = found.entry((layer, target)).or_default();
        match which {
            'A' => halves.a = Some((name, tensor)),
            _ => halves.b = Some((name, tensor)),
        }
    }
    let mut pairs = Vec::with_capacity(found.len());
    for ((layer, target), halves) in found {
        let missing = |which| {
            let tensor = tensor_name(layer, target, which);
            ModelFileError::invalid(&path, InvalidModelFile::MissingTensor { tensor })
        };
        let (a_name, a) = halves.a.ok_or_else(|| missing('A'))?;
        let (b_name, b) = halves.b.ok_or_else(|| missing('B'))?;
        if a.0[0] != config.rank {
            let cause = InvalidModelFile::Shape {
                tensor: a_name,
                found: a.0.to_vec(),
                expected: vec![config.rank, a.0[1]],
            };
            return Err(ModelFileError::invalid(&path, cause));
        }
        pairs.push(FoundPair {
            layer,
            target,
            a_name,
            a,
            b_name,
            b,
        });
    }
    let scale = config.alpha / config.rank as f64;
    attach_all(model, pairs, true, |_| scale, &path, device)
}

/// A tensor's name, with its shape and values.
type Named = (String, ([usize; 2], Vec<f32>));

/// The `lora_A` and `lora_B` found for one module.
#[derive(Default)]
struct Halves {
    a: Option<Named>,
    b: Option<Named>,
}

/// `(layer, target, 'A' or 'B')` of a PEFT tensor name.
fn parse_name(name: &str) -> Option<(usize, LoraTarget, char)> {
    let rest = name.strip_prefix(LAYERS_PREFIX)?;
    let (layer, rest) = rest.split_once('.')?;
    let layer = layer.parse().ok()?;
    let (which, module) = if let Some(module) = rest.strip_suffix(".lora_A.weight") {
        ('A', module)
    } else {
        ('B', rest.strip_suffix(".lora_B.weight")?)
    };
    let target = LoraTarget::ALL
        .into_iter()
        .find(|t| t.hf_path() == module)?;
    Some((layer, target, which))
}

/// A 2-D F32, F16 or BF16 tensor decoded to f32.
fn decode(
    name: &str,
    view: &TensorView<'_>,
    path: &Path,
) -> Result<([usize; 2], Vec<f32>), ModelFileError> {
    let ty = match view.dtype() {
        Dtype::F32 => GgmlType::F32,
        Dtype::F16 => GgmlType::F16,
        Dtype::BF16 => GgmlType::BF16,
        dtype => {
            let tensor = name.to_string();
            let cause = UnsupportedModelFile::TensorDtype { tensor, dtype };
            return Err(ModelFileError::unsupported(path, cause));
        }
    };
    let [rows, cols] = view.shape()[..] else {
        let cause = InvalidModelFile::Rank {
            tensor: name.to_string(),
            shape: view.shape().to_vec(),
            rank: 2,
        };
        return Err(ModelFileError::invalid(path, cause));
    };
    let mut data = vec![0.0; rows * cols];
    dequantize(ty, view.data(), &mut data).map_err(|cause| {
        let tensor = name.to_string();
        ModelFileError::invalid(path, InvalidModelFile::Quant { tensor, cause })
    })?;
    Ok(([rows, cols], data))
}
