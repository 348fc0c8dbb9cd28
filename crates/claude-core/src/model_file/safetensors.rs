//! Our model files: a `.safetensors` file with GPT-2-style tensor names and the
//! [`ModelConfig`] as JSON under the header metadata key `config`, so one file is enough to
//! rebuild the model. Training writes one into every checkpoint directory; generation, serving and
//! conversion read it back.

use std::path::Path;

use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};

use super::ModelFileError;
use crate::config::ModelConfig;
use crate::transformer::Gpt;

/// The model file's name inside a checkpoint directory.
pub const MODEL_FILE: &str = "model.safetensors";
/// Header metadata key holding the model config.
const CONFIG_KEY: &str = "config";

/// Reads the model config from a model file's header (the tensors are not read).
pub fn read_config(path: &Path) -> Result<ModelConfig, ModelFileError> {
    let file = std::fs::File::open(path).map_err(|e| ModelFileError::io(path, e))?;
    // SAFETY: the map is only read, and only while `file` stays open; a file truncated
    // underneath us is caught by the header checks below.
    let bytes = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| ModelFileError::io(path, e))?;
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| ModelFileError::invalid(path, format!("not a safetensors file ({e})")))?;
    let json = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(CONFIG_KEY))
        .ok_or_else(|| ModelFileError::invalid(path, "no model config in the header metadata"))?;
    let config: ModelConfig = serde_json::from_str(json).map_err(|e| {
        ModelFileError::invalid(path, format!("bad model config in the header: {e}"))
    })?;
    config.validate().map_err(|source| ModelFileError::Config {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(config)
}

/// Loads our model file `file`.
pub(super) fn load(file: &Path, device: &Device) -> Result<Gpt, ModelFileError> {
    let file = file.to_path_buf();
    let config = read_config(&file)?;
    let mut model = config.init(device);
    let mut store = SafetensorsStore::from_file(&file).skip_enum_variants(true);
    let result = model
        .load_from(&mut store)
        .map_err(|e| ModelFileError::invalid(&file, e.to_string()))?;
    if !result.missing.is_empty() || !result.errors.is_empty() {
        let missing: Vec<&str> = result.missing.iter().map(|(p, _)| p.as_str()).collect();
        return Err(ModelFileError::invalid(
            &file,
            format!("missing tensors {missing:?}, errors {:?}", result.errors),
        ));
    }
    Ok(model)
}

/// Writes `model` to `path` atomically (see [`Gpt::save`]).
pub(super) fn save(model: &Gpt, path: &Path) -> Result<(), ModelFileError> {
    let json = serde_json::to_string(model.config()).expect("model config serializes");
    let name = path
        .file_name()
        .ok_or_else(|| ModelFileError::invalid(path, "not a file name"))?;
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut store = SafetensorsStore::from_file(&tmp)
        .metadata(CONFIG_KEY, json)
        .skip_enum_variants(true)
        .overwrite(true);
    let written = model
        .save_into(&mut store)
        .map_err(|e| ModelFileError::invalid(path, e.to_string()))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| ModelFileError::io(path, e)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
