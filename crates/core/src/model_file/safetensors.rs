//! Our model files: a `.safetensors` file with GPT-2-style tensor names and the
//! [`ModelConfig`] as JSON under the header metadata key `config`, so one file is enough to
//! rebuild the model. Training writes one into every checkpoint directory; generation, serving and
//! conversion read it back.

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use claude_files::AtomicPath;

use super::{InvalidModelFile, ModelFileError, init_capped, quantized};
use crate::config::ModelConfig;
use crate::transformer::Gpt;

/// The model file's name inside a checkpoint directory.
pub const MODEL_FILE: &str = "model.safetensors";
/// Header metadata key holding the model config.
pub(super) const CONFIG_KEY: &str = "config";

/// Reads the model config from a model file's header (the tensors are not read).
pub fn read_config(path: &Path) -> Result<ModelConfig, ModelFileError> {
    let file = std::fs::File::open(path).map_err(|e| ModelFileError::io(path, e))?;
    // SAFETY: the map is only read, and only while `file` stays open; a file truncated
    // underneath us is caught by the header checks below.
    let bytes = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| ModelFileError::io(path, e))?;
    let (_, metadata) =
        safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| not_safetensors(path, e))?;
    let json = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(CONFIG_KEY))
        .ok_or_else(|| ModelFileError::invalid(path, InvalidModelFile::MissingConfig))?;
    let config: ModelConfig = serde_json::from_str(json)
        .map_err(|e| ModelFileError::invalid(path, InvalidModelFile::BadConfig(e)))?;
    config.validate().map_err(|cause| ModelFileError::Config {
        path: path.to_path_buf(),
        cause,
    })?;
    Ok(config)
}

/// Loads our model file `file`, float or quantized.
pub(super) fn load(
    file: &Path,
    device: &Device,
    context: Option<usize>,
) -> Result<Gpt, ModelFileError> {
    let file = file.to_path_buf();
    let config = read_config(&file)?;
    let mut model = init_capped(&config, context, device);
    unpack_packed_weights(&mut model, &file)?;
    let mut store = SafetensorsStore::from_file(&file).skip_enum_variants(true);
    let result = model
        .load_from(&mut store)
        .map_err(|e| ModelFileError::invalid(&file, InvalidModelFile::Store(e)))?;
    if !result.missing.is_empty() || !result.errors.is_empty() {
        return Err(ModelFileError::invalid(
            &file,
            InvalidModelFile::Parameters {
                missing: result.missing.into_iter().map(|(path, _)| path).collect(),
                errors: result.errors,
            },
        ));
    }
    Ok(model)
}

/// Replaces the layers a quantized file packs by its packed weights (a float file packs none).
fn unpack_packed_weights(model: &mut Gpt, path: &Path) -> Result<(), ModelFileError> {
    let file = std::fs::File::open(path).map_err(|e| ModelFileError::io(path, e))?;
    // SAFETY: as in `read_config`: read only, while `file` stays open.
    let bytes = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| ModelFileError::io(path, e))?;
    let (_, metadata) =
        safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| not_safetensors(path, e))?;
    let Some(table) = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(quantized::QUANTIZATION_KEY))
    else {
        return Ok(());
    };
    let formats: BTreeMap<String, String> = serde_json::from_str(table)
        .map_err(|e| ModelFileError::invalid(path, InvalidModelFile::BadQuantizationTable(e)))?;
    let tensors =
        safetensors::SafeTensors::deserialize(&bytes).map_err(|e| not_safetensors(path, e))?;
    quantized::unpack_into(model, &tensors, &formats, path)
}

/// The safetensors reader's error `cause` about `path`, which is not (or no longer) a
/// safetensors file.
fn not_safetensors(path: &Path, cause: safetensors::SafeTensorError) -> ModelFileError {
    ModelFileError::invalid(path, InvalidModelFile::NotSafetensors(cause))
}

/// Writes `model` to `path` atomically (see [`Gpt::save`]).
pub(super) fn save(model: &Gpt, path: &Path) -> Result<(), ModelFileError> {
    let json = serde_json::to_string(model.config()).expect("model config serializes");
    if path.file_name().is_none() {
        let cause = std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name");
        return Err(ModelFileError::io(path, cause));
    }
    // Removed, unless committed, when dropped.
    let tmp = AtomicPath::beside(path).map_err(|e| ModelFileError::io(path, e))?;
    if model.packed_tensor_names().is_empty() {
        let mut store = SafetensorsStore::from_file(tmp.path())
            .metadata(CONFIG_KEY, json)
            .skip_enum_variants(true)
            .overwrite(true);
        model
            .save_into(&mut store)
            .map_err(|e| ModelFileError::invalid(path, InvalidModelFile::Store(e)))?;
    } else {
        quantized::write(model, json, tmp.path())?;
    }
    tmp.commit().map_err(|e| ModelFileError::io(path, e))
}
