//! The tokenizer and chat template of a Hugging Face model folder, beside the model
//! [`open`](crate::open) reads from it:
//!
//! - the tokenizer from `tokenizer.json` (and the special tokens `tokenizer_config.json` names),
//!   built as the GGUF tokenizer type ([`GgufTokenizer::from_hf_dir`]);
//! - its end-of-generation set extended with `generation_config.json`'s `eos_token_id` (one id
//!   or a list: Llama 3 Instruct stops at `<|eot_id|>` as well as at its EOS);
//! - the chat template from `tokenizer_config.json`'s `chat_template` (a text, or a list of named
//!   templates, of which `default` is taken), else the file `chat_template.jinja`, rendered with
//!   `bos_token` / `eos_token` as `tokenizer_config.json` names them (else the tokenizer's own).

use std::path::{Path, PathBuf};

use claude_tokenizer::GgufTokenizer;
use claude_tokenizer::gguf::{TOKENIZER_CONFIG_JSON, TOKENIZER_JSON};
use serde_json::Value;

use crate::chat_template::ChatTemplate;
use crate::load::LoadError;

/// The stop tokens' file.
pub const GENERATION_CONFIG_JSON: &str = "generation_config.json";
/// The chat template's own file (transformers 4.43 and later write it apart).
pub const CHAT_TEMPLATE_JINJA: &str = "chat_template.jinja";

/// What [`open`](crate::open) takes from a Hugging Face folder besides the model.
#[derive(Debug)]
pub struct FolderTokenizer {
    /// The tokenizer, stop tokens included.
    pub tokenizer: GgufTokenizer,
    /// The folder's chat template, if it has one.
    pub chat_template: Option<ChatTemplate>,
    /// `tokenizer.json`.
    pub path: PathBuf,
}

/// Reads the tokenizer, stop tokens and chat template of the folder `dir` (what
/// [`open`](crate::open) reads beside the model, for a caller that has the model already, such
/// as `claude-rust export`).
pub fn read(dir: &Path) -> Result<FolderTokenizer, LoadError> {
    let path = dir.join(TOKENIZER_JSON);
    let mut tokenizer = GgufTokenizer::from_hf_dir(dir).map_err(|e| LoadError::Tokenizer {
        source_path: path.clone(),
        cause: e.into(),
    })?;
    for id in stop_ids(&dir.join(GENERATION_CONFIG_JSON))? {
        tokenizer.add_end_of_generation(id);
    }
    let chat_template = chat_template(dir, &tokenizer)?;
    Ok(FolderTokenizer {
        tokenizer,
        chat_template,
        path,
    })
}

/// The error about field `field` of the file `file`.
fn bad(file: &Path, field: &str, message: impl std::fmt::Display) -> LoadError {
    LoadError::HfFolder {
        file: file.to_path_buf(),
        field: field.to_string(),
        message: message.to_string(),
    }
}

/// The JSON file `path`, or `None` when there is none.
fn read_json(path: &Path) -> Result<Option<Value>, LoadError> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| bad(path, "(file)", e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| bad(path, "(file)", format!("not JSON: {e}")))
}

/// The ids `generation_config.json` (at `path`, if there) stops at: `eos_token_id`, one id or
/// a list.
fn stop_ids(path: &Path) -> Result<Vec<u32>, LoadError> {
    let Some(config) = read_json(path)? else {
        return Ok(Vec::new());
    };
    let id = |value: &Value| {
        value
            .as_u64()
            .and_then(|id| u32::try_from(id).ok())
            .ok_or_else(|| bad(path, "eos_token_id", format!("{value} is not a token id")))
    };
    match &config["eos_token_id"] {
        Value::Null => Ok(Vec::new()),
        Value::Array(ids) => ids.iter().map(id).collect(),
        value => Ok(vec![id(value)?]),
    }
}

/// The folder's chat template with its BOS and EOS texts, if it has one.
fn chat_template(dir: &Path, tokenizer: &GgufTokenizer) -> Result<Option<ChatTemplate>, LoadError> {
    let config_path = dir.join(TOKENIZER_CONFIG_JSON);
    let config = read_json(&config_path)?.unwrap_or(Value::Null);
    let (source, file, field) = match &config["chat_template"] {
        Value::String(source) => (source.clone(), config_path.clone(), "chat_template"),
        Value::Array(named) => {
            let default = named
                .iter()
                .find(|t| t["name"] == "default")
                .and_then(|t| t["template"].as_str());
            let Some(source) = default else {
                return Err(bad(
                    &config_path,
                    "chat_template",
                    "a list of templates without one named \"default\"",
                ));
            };
            (source.to_string(), config_path.clone(), "chat_template")
        }
        Value::Null => {
            let path = dir.join(CHAT_TEMPLATE_JINJA);
            if !path.is_file() {
                return Ok(None);
            }
            let source = std::fs::read_to_string(&path).map_err(|e| bad(&path, "(file)", e))?;
            (source, path, "(file)")
        }
        other => {
            return Err(bad(
                &config_path,
                "chat_template",
                format!(
                    "{} is neither a text nor a list of templates",
                    kind_of(other)
                ),
            ));
        }
    };
    let ids = tokenizer.special_ids();
    let text = |key: &str, id: Option<u32>| -> String {
        let value = &config[key];
        value
            .as_str()
            .or_else(|| value["content"].as_str())
            .or_else(|| id.and_then(|id| tokenizer.token_text(id)))
            .unwrap_or("")
            .to_string()
    };
    let (bos, eos) = (text("bos_token", ids.bos), text("eos_token", ids.eos));
    ChatTemplate::jinja(&source, &bos, &eos)
        .map(Some)
        .map_err(|e| bad(&file, field, e))
}

/// A JSON value's kind, for messages.
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
