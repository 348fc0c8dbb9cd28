//! Why a model file cannot be read or written: [`ModelFileError`] names the file, and what is
//! wrong with it ([`InvalidModelFile`]) or what it holds that this crate does not run
//! ([`UnsupportedModelFile`]), with the tensor, the shapes and the types at fault as fields.

use std::path::{Path, PathBuf};

use burn::store::{ApplyError, SafetensorsStoreError, burn_pack};
use burn::tensor::DType;
use claude_quant::RowFormat;
use safetensors::{Dtype, SafeTensorError};

use super::llama2c::HEADER_BYTES;
use crate::config::ConfigError;

/// A model file that cannot be read or written; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// The file could not be opened, read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause (in the message, so not also a `source`).
        cause: std::io::Error,
    },
    /// The file is damaged, or its contents do not fit its config.
    #[error("{path}: {}", without_path(.cause, .path))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (in the message, so not also a `source`).
        cause: InvalidModelFile,
    },
    /// The file holds a model this crate cannot run (another architecture, a tensor type
    /// `claude-quant` does not decode), or the model cannot be written in the file's format.
    #[error("{path}: {cause}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is not supported (in the message, so not also a `source`).
        cause: UnsupportedModelFile,
    },
    /// The config in (or derived from) the file cannot build a model.
    #[error("{path}: {cause}")]
    Config {
        /// The file.
        path: PathBuf,
        /// The invalid field (in the message, so not also a `source`).
        cause: ConfigError,
    },
}

impl ModelFileError {
    pub(crate) fn invalid(path: &Path, cause: InvalidModelFile) -> Self {
        ModelFileError::Invalid {
            path: path.to_path_buf(),
            cause,
        }
    }

    /// The GGUF reader's or writer's error `cause` about `path`.
    pub(crate) fn gguf(path: &Path, cause: claude_gguf::Error) -> Self {
        Self::invalid(path, InvalidModelFile::Gguf(cause))
    }

    pub(crate) fn unsupported(path: &Path, cause: UnsupportedModelFile) -> Self {
        ModelFileError::Unsupported {
            path: path.to_path_buf(),
            cause,
        }
    }

    pub(crate) fn io(path: &Path, cause: std::io::Error) -> Self {
        ModelFileError::Io {
            path: path.to_path_buf(),
            cause,
        }
    }
}

/// `cause`'s message without a leading `<path>: `: the GGUF reader's errors name the file
/// themselves, and [`ModelFileError`]'s message names it once.
fn without_path(cause: &InvalidModelFile, path: &Path) -> String {
    let message = cause.to_string();
    let prefix = format!("{}: ", path.display());
    match message.strip_prefix(&prefix) {
        Some(rest) => rest.to_string(),
        None => message,
    }
}

/// What is wrong with a model file ([`ModelFileError::Invalid`]). Shapes list the outermost
/// dimension first (`[rows, columns]`), whichever order the file stores them in.
#[derive(Debug, thiserror::Error)]
pub enum InvalidModelFile {
    /// The GGUF reader's (or writer's) own error. It names the file itself; the
    /// [`ModelFileError`] holding it names it once.
    #[error("{0}")]
    Gguf(claude_gguf::Error),
    /// The file's safetensors header or layout cannot be read.
    #[error("not a safetensors file ({0})")]
    NotSafetensors(SafeTensorError),
    /// The safetensors writer's error.
    #[error("{0}")]
    Safetensors(SafeTensorError),
    /// burn's safetensors store could not read or write the model's parameters.
    #[error("{0}")]
    Store(SafetensorsStoreError),
    /// A parameter's values could not be taken from the model to be written.
    #[error("{0}")]
    Snapshot(burn_pack::Error),
    /// Our model file's header metadata holds no model config.
    #[error("no model config in the header metadata")]
    MissingConfig,
    /// The model config in the header is not a config's JSON.
    #[error("bad model config in the header: {0}")]
    BadConfig(serde_json::Error),
    /// The quantization table in the header is not a JSON map of tensor names to formats.
    #[error("bad quantization table in the header: {0}")]
    BadQuantizationTable(serde_json::Error),
    /// The quantization table names tensors the model does not have (these).
    #[error("the quantization table names tensors the model does not have: {0:?}")]
    UnknownQuantizedTensors(Vec<String>),
    /// Loading the model's parameters by name found some missing, or failed on some.
    #[error("missing tensors {missing:?}, errors {errors:?}")]
    Parameters {
        /// The parameters the file does not hold.
        missing: Vec<String>,
        /// The parameters it holds that could not be loaded, and why.
        errors: Vec<ApplyError>,
    },
    /// A tensor the model needs is not in the file.
    #[error("no tensor named {tensor:?}")]
    MissingTensor {
        /// The tensor's name.
        tensor: String,
    },
    /// A tensor has another number of dimensions than its use calls for.
    #[error("tensor {tensor} has shape {shape:?}, expected {rank} dimensions")]
    Rank {
        /// The tensor's name.
        tensor: String,
        /// Its shape.
        shape: Vec<usize>,
        /// The number of dimensions it should have.
        rank: usize,
    },
    /// A tensor has another shape than the config calls for.
    #[error("tensor {tensor} has shape {found:?}, the config calls for {expected:?}")]
    Shape {
        /// The tensor's name.
        tensor: String,
        /// Its shape.
        found: Vec<usize>,
        /// The shape the config calls for.
        expected: Vec<usize>,
    },
    /// The tensors of one projection, stacked along its outputs, give another number of
    /// outputs than the config calls for.
    #[error("tensors {tensors:?} give {found} outputs, the config calls for {expected}")]
    Outputs {
        /// The tensors' names.
        tensors: Vec<String>,
        /// Their rows together.
        found: usize,
        /// The outputs the config calls for.
        expected: usize,
    },
    /// A tensor is stored as another type than its format calls for.
    #[error("tensor {tensor} is stored as {found:?}, expected {expected:?}")]
    StoredType {
        /// The tensor's name.
        tensor: String,
        /// Its stored type.
        found: Dtype,
        /// The type its format calls for.
        expected: Dtype,
    },
    /// A tensor's data does not decode as its format (such as a byte length that is not a
    /// whole number of blocks, or an unknown format name).
    #[error("tensor {tensor}: {cause}")]
    Quant {
        /// The tensor's name.
        tensor: String,
        /// What `claude-quant` found wrong.
        cause: claude_quant::Error,
    },
    /// A field of a Hugging Face `config.json` or `model.safetensors.index.json` that is not
    /// JSON, is missing, or holds a value of the wrong type or range.
    #[error("{field}: {message}")]
    HfField {
        /// The field (`text_config.hidden_size`, `weight_map`...), or `(file)` for the whole file.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A field of an adapter's config (PEFT's `adapter_config.json`, a GGUF adapter's
    /// metadata) that is missing, or holds a value of the wrong type or range.
    #[error("{field}: {message}")]
    AdapterField {
        /// The field (`r`, `lora_alpha`, `general.type`...).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A tensor of an adapter file that is no LoRA tensor of a module we adapt, or whose partner
    /// (`lora_A` for `lora_B`, and the reverse) is missing.
    #[error("tensor {tensor}: {message}")]
    AdapterTensor {
        /// The tensor's name.
        tensor: String,
        /// What is wrong.
        message: String,
    },
    /// An adapter that does not fit the model it is attached to (its shape, or a module the
    /// model does not have).
    #[error("tensor {tensor}: {cause}")]
    Adapter {
        /// The adapter's `B` tensor's name.
        tensor: String,
        /// Why it does not fit.
        cause: crate::lora::LoraError,
    },
    /// A llama2.c checkpoint shorter than its header.
    #[error("{len} bytes: too short for a llama2.c header ({HEADER_BYTES} bytes)")]
    Llama2cShortHeader {
        /// The file's length in bytes.
        len: usize,
    },
    /// A llama2.c header size that cannot be right (zero, negative or absurd).
    #[error("header field {field} is {value}: not a llama2.c checkpoint")]
    Llama2cHeaderField {
        /// The field's name in `run.c` (`dim`, `n_layers`...).
        field: &'static str,
        /// Its value.
        value: i32,
    },
    /// A llama2.c checkpoint holding fewer weights than its header describes.
    #[error("truncated: the header describes more weights than the file's {floats} floats")]
    Llama2cTruncated {
        /// The float32 values the file holds after its header.
        floats: usize,
    },
    /// A llama2.c checkpoint holding more bytes than the weights its header describes.
    #[error("{bytes} bytes after the weights the header describes")]
    Llama2cTrailingBytes {
        /// The bytes left over.
        bytes: usize,
    },
}

/// What a model file holds, or a model to be written has, that this crate does not read or
/// write ([`ModelFileError::Unsupported`]).
#[derive(Debug, thiserror::Error)]
pub enum UnsupportedModelFile {
    /// The file is none of the formats [`ModelFormat`](super::ModelFormat) lists.
    #[error(
        "not a model file claude-rust reads (our .safetensors, GGUF, a llama2.c .bin, or a \
         Hugging Face folder: config.json and safetensors weights)"
    )]
    Format,
    /// A GGUF file of an architecture this crate does not map onto its model.
    #[error("architecture {name:?} is not supported (supported: {supported:?})")]
    Architecture {
        /// The file's `general.architecture`.
        name: String,
        /// The architectures this crate reads.
        supported: Vec<&'static str>,
    },
    /// Rotary embeddings on only some of each head's dimensions.
    #[error(
        "rotary embeddings on {rotated} of each head's {head_dim} dimensions are not supported"
    )]
    PartialRotary {
        /// The rotated dimensions of each head.
        rotated: u64,
        /// The dimensions of each head.
        head_dim: usize,
    },
    /// RoPE scaling other than linear (YaRN, LongRoPE).
    #[error("RoPE scaling of type {kind:?} is not supported (linear is)")]
    RopeScaling {
        /// `{arch}.rope.scaling.type`.
        kind: String,
    },
    /// A Hugging Face `model_type` this crate does not map onto its model.
    #[error("model_type {model_type:?} is not supported (supported: {supported:?})")]
    ModelType {
        /// The config's `model_type`.
        model_type: String,
        /// The model types this crate reads.
        supported: Vec<&'static str>,
    },
    /// A Hugging Face config setting that our model does not compute.
    #[error("{field} = {value}: {reason}")]
    HfSetting {
        /// The config field (`hidden_act`, `text_config.final_logit_softcapping`...).
        field: String,
        /// Its value, as JSON.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A Hugging Face folder without safetensors weights.
    #[error(
        "no model.safetensors or model.safetensors.index.json (only safetensors weights are read)"
    )]
    NoSafetensors,
    /// A safetensors tensor of a type other than F32, F16 and BF16.
    #[error("tensor {tensor} is stored as {dtype:?}; F32, F16 and BF16 are read")]
    TensorDtype {
        /// The tensor's name.
        tensor: String,
        /// Its stored type.
        dtype: Dtype,
    },
    /// A tensor of a GGML type `claude-quant` does not decode.
    #[error("tensor {tensor}: {cause}")]
    TensorType {
        /// The tensor's name.
        tensor: String,
        /// The type, as `claude-quant` names it.
        cause: claude_quant::Error,
    },
    /// A model no llama.cpp architecture computes, so not written as GGUF.
    #[error("no llama.cpp architecture we write ({supported:?}) computes {variants}")]
    NoArchitecture {
        /// The model's variant choices.
        variants: String,
        /// The architectures this crate writes.
        supported: Vec<&'static str>,
    },
    /// A weight packed as int8 rows, which have no GGML type, so not written as GGUF.
    #[error(
        "tensor {tensor}: int8 rows have no GGML type; quantize the float checkpoint to q8_0 for \
         a GGUF file"
    )]
    Int8Rows {
        /// The tensor's name.
        tensor: String,
    },
    /// A packed weight whose rows mix formats, where the file stores one format per tensor.
    #[error("tensor {tensor}: its rows mix {formats:?}, and a stored tensor has one format")]
    MixedRows {
        /// The tensor's name.
        tensor: String,
        /// Its rows' formats, top to bottom.
        formats: Vec<RowFormat>,
    },
    /// An adapter setting whose computation our adapters do not reproduce (such as PEFT's
    /// `use_rslora`), or an adapter made for another architecture.
    #[error("{field} = {value}: {reason}")]
    AdapterSetting {
        /// The setting (`use_rslora`, `general.architecture`...).
        field: String,
        /// Its value, as written in the file.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A module an adapter cannot be read for or written to: unknown to us, or stored fused
    /// with others in the file's layout.
    #[error("module {module}: {reason}")]
    AdapterModule {
        /// The module's name.
        module: String,
        /// Why.
        reason: String,
    },
    /// Adapters of different ranks, where the file stores one rank for all.
    #[error("adapters of ranks {ranks:?}: {format} stores one rank for every adapter")]
    AdapterRanks {
        /// The ranks found, smallest first.
        ranks: Vec<usize>,
        /// The format.
        format: &'static str,
    },
    /// A model without adapters, written as an adapter file.
    #[error("the model has no adapters to write")]
    NoAdapters,
    /// A path that is neither adapter format.
    #[error(
        "not an adapter: a PEFT folder (adapter_config.json, adapter_model.safetensors) or a GGUF \
         LoRA file is read"
    )]
    AdapterFormat,
    /// A parameter of a type our model file does not store.
    #[error("tensor {tensor}: a safetensors model file does not store {dtype:?} parameters")]
    ParameterType {
        /// The parameter's name.
        tensor: String,
        /// Its type.
        dtype: DType,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gguf_errors_name_the_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.gguf");
        std::fs::write(&path, b"GGUF\x01\0\0\0").unwrap();
        let err = crate::ModelFile::open(&path).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(
                &err,
                ModelFileError::Invalid {
                    cause: InvalidModelFile::Gguf(claude_gguf::Error::UnsupportedVersion { .. }),
                    ..
                }
            ),
            "{message}"
        );
        let name = path.display().to_string();
        assert!(
            message.starts_with(&format!("{name}: GGUF version 1")),
            "{message}"
        );
        assert_eq!(message.matches(&name).count(), 1, "{message}");
    }
}
