//! Loading a WordPiece tokenizer: BERT's `vocab.txt` (one token a line, the id is the line
//! number from 0) with `tokenizer_config.json`, Hugging Face's `tokenizer.json`, and the
//! sequence length limit of sentence-transformers' `sentence_bert_config.json`.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::{BertNormalizer, SpecialTokenNames, WordPieceConfig, WordPieceTokenizer};
use crate::error::{Error, Result};

/// Hugging Face's serialized tokenizer, the parts WordPiece needs.
#[derive(Deserialize)]
struct TokenizerJson {
    model: Value,
    #[serde(default)]
    normalizer: Value,
    #[serde(default)]
    pre_tokenizer: Value,
    #[serde(default)]
    post_processor: Value,
    #[serde(default)]
    padding: Value,
    #[serde(default)]
    added_tokens: Vec<AddedToken>,
    #[serde(default)]
    truncation: Option<Truncation>,
}

/// One of `tokenizer.json`'s added tokens.
#[derive(Deserialize)]
struct AddedToken {
    id: u32,
    content: String,
    /// Matched in the normalized text rather than the raw text.
    #[serde(default)]
    normalized: bool,
    /// Matched only as a whole word.
    #[serde(default)]
    single_word: bool,
    /// Takes the whitespace on its left with it.
    #[serde(default)]
    lstrip: bool,
    /// Takes the whitespace on its right with it.
    #[serde(default)]
    rstrip: bool,
}

/// `tokenizer.json`'s truncation settings.
#[derive(Deserialize)]
struct Truncation {
    max_length: usize,
}

/// `tokenizer.json`'s model, when its type is WordPiece.
#[derive(Deserialize)]
struct WordPieceJson {
    vocab: std::collections::HashMap<String, u32>,
    unk_token: String,
    #[serde(default = "default_prefix")]
    continuing_subword_prefix: String,
    #[serde(default = "default_max_chars")]
    max_input_chars_per_word: usize,
}

fn default_prefix() -> String {
    "##".into()
}

fn default_max_chars() -> usize {
    100
}

/// `tokenizer.json`'s BertNormalizer.
#[derive(Deserialize)]
struct NormalizerJson {
    #[serde(default = "yes")]
    clean_text: bool,
    #[serde(default = "yes")]
    handle_chinese_chars: bool,
    #[serde(default)]
    strip_accents: Option<bool>,
    #[serde(default = "yes")]
    lowercase: bool,
}

fn yes() -> bool {
    true
}

impl WordPieceTokenizer {
    /// Loads the tokenizer of a model directory: `tokenizer.json` when there is one, else
    /// `vocab.txt` with the settings of `tokenizer_config.json` (BERT uncased's when that is
    /// absent). The length limit is sentence-transformers' `max_seq_length` from
    /// `sentence_bert_config.json` when present (256 for all-MiniLM-L6-v2), else the
    /// tokenizer's own truncation length, else none.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let json = dir.join("tokenizer.json");
        let mut tokenizer = if json.is_file() {
            Self::from_tokenizer_json(&json)?
        } else {
            let config = read_tokenizer_config(&dir.join("tokenizer_config.json"))?;
            Self::from_vocab_txt(dir.join("vocab.txt"), &config)?
        };
        let sentence_bert = dir.join("sentence_bert_config.json");
        if sentence_bert.is_file() {
            let max_len = read_max_seq_length(&sentence_bert)?;
            tokenizer
                .set_max_len(max_len)
                .map_err(|e| Error::bad_file(&sentence_bert, 0, e.to_string()))?;
        }
        Ok(tokenizer)
    }

    /// Loads BERT's `vocab.txt`, with `config` for everything else.
    pub fn from_vocab_txt(path: impl AsRef<Path>, config: &WordPieceConfig) -> Result<Self> {
        let path = path.as_ref();
        let tokens = read_vocab_txt(path)?;
        // Duplicates were caught with their line numbers while reading.
        Self::build(tokens, config).map_err(|e| Error::bad_file(path, 0, e))
    }

    /// Loads Hugging Face's `tokenizer.json`; it must hold a WordPiece model with a
    /// BertNormalizer (or none) and a BertPreTokenizer. The length limit is its truncation
    /// length, if any.
    pub fn from_tokenizer_json(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bad = |message: String| Error::bad_file(path, 0, message);
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let file: TokenizerJson = serde_json::from_str(&text).map_err(|source| Error::Json {
            path: path.into(),
            source,
        })?;
        let kind = file.model.get("type").and_then(Value::as_str);
        if kind.is_some_and(|k| k != "WordPiece") {
            return Err(bad(format!(
                "model type {:?} is not supported (WordPiece only)",
                kind.unwrap_or_default()
            )));
        }
        let model: WordPieceJson =
            serde_json::from_value(file.model).map_err(|e| bad(format!("model: {e}")))?;
        let tokens = tokens_by_id(model.vocab).map_err(bad)?;
        for added in &file.added_tokens {
            if tokens.get(added.id as usize) != Some(&added.content) {
                return Err(bad(format!(
                    "added token {:?} (id {}) is not that id of the WordPiece vocabulary",
                    added.content, added.id
                )));
            }
            if added.normalized || added.single_word || added.lstrip || added.rstrip {
                return Err(bad(format!(
                    "added token {:?}: normalized, single_word, lstrip and rstrip are not \
                     supported (tokens are matched exactly as written in the raw text)",
                    added.content
                )));
            }
        }
        check_pre_tokenizer(&file.pre_tokenizer).map_err(bad)?;
        let (cls, sep) = cls_and_sep(&file.post_processor).map_err(bad)?;
        let defaults = SpecialTokenNames::default();
        let pad = file.padding.get("pad_token").and_then(Value::as_str);
        let config = WordPieceConfig {
            normalizer: normalizer_from_json(&file.normalizer).map_err(bad)?,
            continuing_subword_prefix: model.continuing_subword_prefix,
            max_input_chars_per_word: model.max_input_chars_per_word,
            special_tokens: SpecialTokenNames {
                unk: model.unk_token,
                cls: cls.unwrap_or(defaults.cls),
                sep: sep.unwrap_or(defaults.sep),
                pad: pad.map_or(defaults.pad, String::from),
                mask: defaults.mask,
            },
            tokens_in_text: file.added_tokens.into_iter().map(|t| t.content).collect(),
            max_len: file.truncation.map(|t| t.max_length),
        };
        Self::build(tokens, &config).map_err(bad)
    }
}

/// Reads BERT's `vocab.txt`: one token a line (`\n` or `\r\n`), the id of a token its line
/// number counted from 0. An empty line, a line that is not UTF-8, a token on two lines or an
/// empty file is an error naming the line.
pub fn read_vocab_txt(path: impl AsRef<Path>) -> Result<Vec<String>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    if body.is_empty() {
        return Err(Error::bad_file(path, 0, "the vocabulary is empty"));
    }
    let mut tokens = Vec::new();
    let mut seen = rustc_hash::FxHashMap::default();
    for (index, line) in body.split(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let token = std::str::from_utf8(line)
            .map_err(|e| Error::bad_file(path, number, format!("not valid UTF-8: {e}")))?;
        if token.is_empty() {
            return Err(Error::bad_file(path, number, "empty token"));
        }
        if let Some(first) = seen.insert(token, number) {
            return Err(Error::bad_file(
                path,
                number,
                format!("token {token:?} is already on line {first}"),
            ));
        }
        tokens.push(token.to_string());
    }
    Ok(tokens)
}

/// The vocabulary map of `tokenizer.json` as a list by id; the ids must be 0..n.
fn tokens_by_id(
    vocab: std::collections::HashMap<String, u32>,
) -> std::result::Result<Vec<String>, String> {
    let n = vocab.len();
    let mut tokens: Vec<Option<String>> = vec![None; n];
    for (token, id) in vocab {
        match tokens.get_mut(id as usize) {
            None => {
                return Err(format!(
                    "vocab: id {id} of {token:?} is not below the vocabulary size {n}"
                ));
            }
            Some(Some(other)) => {
                return Err(format!("vocab: {token:?} and {other:?} share id {id}"));
            }
            Some(slot) => *slot = Some(token),
        }
    }
    // n distinct ids below n: every slot is filled.
    Ok(tokens.into_iter().flatten().collect())
}

/// The normalizer settings of `tokenizer.json` (none: every step off).
fn normalizer_from_json(normalizer: &Value) -> std::result::Result<BertNormalizer, String> {
    if normalizer.is_null() {
        return Ok(BertNormalizer {
            clean_text: false,
            handle_chinese_chars: false,
            strip_accents: false,
            lowercase: false,
        });
    }
    let kind = normalizer.get("type").and_then(Value::as_str);
    if kind != Some("BertNormalizer") {
        return Err(format!(
            "normalizer type {kind:?} is not supported (BertNormalizer only)"
        ));
    }
    let n = NormalizerJson::deserialize(normalizer).map_err(|e| format!("normalizer: {e}"))?;
    Ok(BertNormalizer {
        clean_text: n.clean_text,
        handle_chinese_chars: n.handle_chinese_chars,
        strip_accents: n.strip_accents.unwrap_or(n.lowercase),
        lowercase: n.lowercase,
    })
}

/// Words are always split BERT's way, so the pre-tokenizer must be BertPreTokenizer.
fn check_pre_tokenizer(pre_tokenizer: &Value) -> std::result::Result<(), String> {
    match pre_tokenizer.get("type").and_then(Value::as_str) {
        Some("BertPreTokenizer") => Ok(()),
        kind => Err(format!(
            "pre_tokenizer type {kind:?} is not supported (BertPreTokenizer only)"
        )),
    }
}

/// The names of `[CLS]` and `[SEP]` as a post-processor gives them (`None`: not given).
type ClsSep = (Option<String>, Option<String>);

/// The names of the tokens the post-processor puts around a sequence: BertProcessing's `cls`
/// and `sep`, or a TemplateProcessing `single` template of the form `special $A special`.
/// `None` for a missing post-processor (BERT's names are used).
fn cls_and_sep(post_processor: &Value) -> std::result::Result<ClsSep, String> {
    let name = |v: Option<&Value>| v.and_then(Value::as_str).map(String::from);
    match post_processor.get("type").and_then(Value::as_str) {
        None if post_processor.is_null() => Ok((None, None)),
        Some("BertProcessing") => Ok((
            name(post_processor.pointer("/cls/0")),
            name(post_processor.pointer("/sep/0")),
        )),
        Some("TemplateProcessing") => {
            let single = post_processor.get("single").and_then(Value::as_array);
            let special = |i: usize| name(single?.get(i)?.pointer("/SpecialToken/id"));
            let sequence = single
                .and_then(|s| s.get(1))
                .is_some_and(|s| s.get("Sequence").is_some());
            match (single.map(Vec::len), special(0), sequence, special(2)) {
                (Some(3), Some(cls), true, Some(sep)) => Ok((Some(cls), Some(sep))),
                _ => Err("post_processor: the single template is not [CLS] $A [SEP]".into()),
            }
        }
        kind => Err(format!(
            "post_processor type {kind:?} is not supported (BertProcessing or TemplateProcessing)"
        )),
    }
}

/// The settings of transformers' `tokenizer_config.json` for a BertTokenizer (BERT uncased's
/// when the file is absent); the length limit is its `model_max_length` unless that is one of
/// the huge "no limit" values.
fn read_tokenizer_config(path: &Path) -> Result<WordPieceConfig> {
    let mut config = WordPieceConfig::default();
    if !path.is_file() {
        return Ok(config);
    }
    let value = read_json(path)?;
    let bad = |message: String| Error::bad_file(path, 0, message);
    let flag = |key: &str, default: bool| match value.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(bad(format!("{key}: expected true or false, found {other}"))),
    };
    if !flag("do_basic_tokenize", true)? {
        return Err(bad("do_basic_tokenize false is not supported".into()));
    }
    let lowercase = flag("do_lower_case", true)?;
    config.normalizer = BertNormalizer {
        clean_text: true,
        handle_chinese_chars: flag("tokenize_chinese_chars", true)?,
        strip_accents: flag("strip_accents", lowercase)?,
        lowercase,
    };
    // A token is written as a string or as an object with a "content" field.
    let token = |key: &str, name: &mut String| {
        let v = value.get(key);
        if let Some(t) = v.and_then(|v| v.as_str().or_else(|| v.get("content")?.as_str())) {
            *name = t.to_string();
        }
    };
    let names = &mut config.special_tokens;
    token("unk_token", &mut names.unk);
    token("cls_token", &mut names.cls);
    token("sep_token", &mut names.sep);
    token("pad_token", &mut names.pad);
    token("mask_token", &mut names.mask);
    config.tokens_in_text = names.all().map(String::from).to_vec();
    config.max_len = value
        .get("model_max_length")
        .and_then(Value::as_u64)
        .filter(|&n| (2..=1 << 24).contains(&n))
        .map(|n| n as usize);
    Ok(config)
}

/// sentence-transformers' `max_seq_length`.
fn read_max_seq_length(path: &Path) -> Result<Option<usize>> {
    let value = read_json(path)?;
    match value.get("max_seq_length") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(|n| Some(n as usize)).ok_or_else(|| {
            Error::bad_file(
                path,
                0,
                format!("max_seq_length: expected a count, found {v}"),
            )
        }),
    }
}

/// Parses a JSON file.
fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.into(),
        source,
    })
}
