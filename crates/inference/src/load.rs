//! Opening a model file: the one loader that the CLI's commands, the server, the examples and the
//! benchmarks share.
//!
//! [`open`] reads a model file once: its format is told once and a GGUF file is mapped and parsed
//! once ([`ModelFile::open`]); the model, its tokenizer, its chat template and what the file
//! says about itself all come from that one read. A model format plugs in at [`ModelFile`]
//! (claude-core); this module only adds the tokenizer and the chat template beside it.
//!
//! A Hugging Face model folder brings its own tokenizer (`tokenizer.json`), stop tokens
//! (`generation_config.json`) and chat template ([`crate::hf_folder`]).
//!
//! The chat template follows one rule for every command: the model file's own template (GGUF
//! `tokenizer.chat_template`, or a Hugging Face folder's `chat_template`, with its tokenizer's BOS
//! and EOS texts) when it has one, else
//! [`ChatTemplate::default_for`] its tokenizer (ChatML where the tokenizer has ChatML's markers
//! as special tokens, plain text otherwise).

use std::path::{Path, PathBuf};

use burn::prelude::*;
use claude_core::{Gpt, InvalidModelFile, ModelFile, ModelFileError, ModelFormat};
use claude_gguf::GgufFile;
use claude_tokenizer::{GgufTokenizer, Tokenizer};

use crate::chat_template::{ChatTemplate, ChatTemplateError};
use crate::generate::Generator;

/// Why a model file could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The model file is missing, unreadable or holds no model we run.
    #[error(transparent)]
    Model(#[from] ModelFileError),
    /// The tokenizer (a directory, or the GGUF file's own) is missing or unreadable.
    #[error("tokenizer {source_path}: {cause}")]
    Tokenizer {
        /// The tokenizer directory, or the model file holding it.
        source_path: PathBuf,
        /// The cause (in the message, so not also a `source`).
        cause: claude_tokenizer::Error,
    },
    /// The model file's chat template does not compile.
    #[error("{file}: tokenizer.chat_template: {cause}")]
    ChatTemplate {
        /// The model file.
        file: PathBuf,
        /// What is wrong with the template (in the message, so not also a `source`).
        cause: ChatTemplateError,
    },
    /// A Hugging Face folder's `generation_config.json` or `tokenizer_config.json` (or its chat
    /// template) cannot be read.
    #[error("{file}: {field}: {message}")]
    HfFolder {
        /// The file.
        file: PathBuf,
        /// The field at fault, or `(file)`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// No tokenizer was named, the model file holds none, and none sits in the run directory
    /// above the model.
    #[error(
        "no tokenizer/ directory above {0}; name the tokenizer directory explicitly (training \
         writes it to <run>/tokenizer)"
    )]
    NoTokenizer(PathBuf),
}

/// What a model file says about itself, beside its weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// The model file (for a checkpoint directory, its `model.safetensors`).
    pub path: PathBuf,
    /// Its format.
    pub format: ModelFormat,
    /// The architecture it names (GGUF `general.architecture`, a Hugging Face folder's
    /// `model_type`), if it names one.
    pub architecture: Option<String>,
    /// The model's own name (GGUF `general.name`), if it has one.
    pub name: Option<String>,
    /// Where the tokenizer came from: a tokenizer directory, the model file itself, or a
    /// Hugging Face folder's `tokenizer.json`.
    pub tokenizer_path: PathBuf,
    /// Whether [`OpenedModel::chat_template`] is the model file's own (else the default rule's).
    pub own_chat_template: bool,
}

/// A model file opened by [`open`]: the model, its tokenizer, its chat template and its
/// metadata, together.
#[derive(Debug)]
pub struct OpenedModel {
    /// The model, on the device it was opened for.
    pub model: Gpt,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
    /// Its chat template: the file's own, else the default rule's (see the [module](self)).
    pub chat_template: ChatTemplate,
    /// What the file says about itself.
    pub info: ModelInfo,
}

impl OpenedModel {
    /// A generator running this model on `device` (the device it was opened for).
    pub fn into_generator(self, device: &Device) -> Generator {
        Generator::new(self.model, self.tokenizer, device.clone())
    }
}

/// Opens the model at `model` (any model file [`ModelFile::open`] reads, a checkpoint
/// directory, or a Hugging Face folder) on `device`, with the tokenizer in the directory
/// `tokenizer`; without one, a GGUF file's or a Hugging Face folder's own, else the run's
/// `tokenizer/` directory above the model ([`find_tokenizer`]: our checkpoints, and GGUF files we
/// exported without one). The file is read once.
pub fn open(
    model: &Path,
    tokenizer: Option<&Path>,
    device: &Device,
) -> Result<OpenedModel, LoadError> {
    open_limited(model, tokenizer, device, None)
}

/// [`open`], with the model's context capped at `context` positions when given (as llama.cpp's
/// `-c`; at least 1, at most the model's own): the model is built at the capped length from the
/// start ([`Gpt::from_file_limited`]), so its rotary tables take only what the cap needs.
pub fn open_limited(
    model: &Path,
    tokenizer: Option<&Path>,
    device: &Device,
    context: Option<usize>,
) -> Result<OpenedModel, LoadError> {
    let file = ModelFile::open(model)?;
    let gpt = Gpt::from_file_limited(&file, device, context)?;
    let gguf = file.gguf();
    let gguf_tokenizer =
        gguf.filter(|gguf| gguf.metadata().contains(claude_tokenizer::gguf::MODEL_KEY));
    let tokenizer_error = |path: &Path, cause| LoadError::Tokenizer {
        source_path: path.to_path_buf(),
        cause,
    };
    let hf = file.hf_folder();
    let (tokenizer_path, tokenizer, own_template) = match (tokenizer, gguf_tokenizer, hf) {
        (Some(dir), _, _) => {
            let loaded = Tokenizer::load(dir).map_err(|e| tokenizer_error(dir, e))?;
            (dir.to_path_buf(), loaded, None)
        }
        (None, Some(gguf), _) => {
            let loaded = GgufTokenizer::from_metadata(gguf.metadata())
                .map_err(|e| tokenizer_error(file.path(), e.into()))?;
            let template = own_chat_template(gguf, &loaded)?;
            (file.path().to_path_buf(), Tokenizer::Gguf(loaded), template)
        }
        (None, None, Some(folder)) => {
            let read = crate::hf_folder::read(folder.dir())?;
            (
                read.path,
                Tokenizer::Gguf(read.tokenizer),
                read.chat_template,
            )
        }
        (None, None, None) => {
            let dir = find_tokenizer(model)?;
            let loaded = Tokenizer::load(&dir).map_err(|e| tokenizer_error(&dir, e))?;
            (dir, loaded, None)
        }
    };
    let info = ModelInfo {
        path: file.path().to_path_buf(),
        format: file.format(),
        architecture: gguf
            .and_then(|g| metadata_text(g, "general.architecture"))
            .or_else(|| hf.map(|folder| folder.model_type().to_string())),
        name: gguf.and_then(|g| metadata_text(g, "general.name")),
        tokenizer_path,
        own_chat_template: own_template.is_some(),
    };
    let chat_template = own_template.unwrap_or_else(|| ChatTemplate::default_for(&tokenizer));
    Ok(OpenedModel {
        model: gpt,
        tokenizer,
        chat_template,
        info,
    })
}

/// The run directory's tokenizer for a model at `<run>/checkpoints/<name>[/model.safetensors]`:
/// the nearest `tokenizer/` directory above it.
pub fn find_tokenizer(model: &Path) -> Result<PathBuf, LoadError> {
    model
        .ancestors()
        .skip(1)
        .map(|dir| dir.join("tokenizer"))
        .find(|candidate| candidate.is_dir())
        .ok_or_else(|| LoadError::NoTokenizer(model.to_path_buf()))
}

impl Generator {
    /// A generator for the model at `model` with its tokenizer ([`open`]; its chat template and
    /// metadata are dropped).
    pub fn load(
        model: &Path,
        tokenizer: Option<&Path>,
        device: &Device,
    ) -> Result<Self, LoadError> {
        Ok(open(model, tokenizer, device)?.into_generator(device))
    }
}

/// The chat template the GGUF `file` ships (`tokenizer.chat_template`), with the BOS and EOS
/// texts of its tokenizer `gguf`; `None` when it has none.
fn own_chat_template(
    file: &GgufFile,
    gguf: &GgufTokenizer,
) -> Result<Option<ChatTemplate>, LoadError> {
    let invalid = |cause: ChatTemplateError| LoadError::ChatTemplate {
        file: file.path().to_path_buf(),
        cause,
    };
    let source = file
        .metadata()
        .opt_str("tokenizer.chat_template")
        .map_err(|e| {
            LoadError::Model(ModelFileError::Invalid {
                path: file.path().to_path_buf(),
                cause: InvalidModelFile::Gguf(e),
            })
        })?;
    let Some(source) = source else {
        return Ok(None);
    };
    let ids = gguf.special_ids();
    let text = |id: Option<u32>| id.and_then(|id| gguf.token_text(id)).unwrap_or("");
    ChatTemplate::jinja(source, text(ids.bos), text(ids.eos))
        .map(Some)
        .map_err(invalid)
}

/// A text metadata value of `file`, if it has one.
fn metadata_text(file: &GgufFile, key: &str) -> Option<String> {
    file.metadata()
        .opt_str(key)
        .ok()
        .flatten()
        .map(str::to_string)
}
