//! Hugging Face `tokenizer.json` files, built into the same [`GgufTokenizer`] a GGUF file's
//! vocabulary gives (one engine, as llama.cpp's converter maps one onto the other): the
//! vocabulary and `added_tokens` become the token list and types, and the JSON's pipeline is
//! matched against the two kinds we run, refused by name otherwise.
//!
//! | kind | `model` | normalizer / pre-tokenizer | ours |
//! |---|---|---|---|
//! | byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM) | `BPE`, merges | `ByteLevel` alone (GPT-2's regex), or `Split` by a known regex then `ByteLevel` without its regex, or `Digits` then `ByteLevel` | [`ModelKind::Bpe`] with the [`PreTokenizer`] of that regex |
//! | SentencePiece-style BPE (Llama 2, Gemma) | `BPE` with `byte_fallback`, `<0xNN>` tokens | `Replace(" ", "▁")`, with `Prepend("▁")` for a leading space, or `Metaspace` | [`ModelKind::Spm`] joining the listed merges, lowest rank first |
//!
//! A byte-level tokenizer's `NFC` normalizer (Qwen2's) is applied to the text between special
//! tokens.
//!
//! Added tokens are control tokens when `special`, user-defined otherwise (both are matched in
//! text as a whole when special tokens are parsed, as `tokenizers` matches every added token);
//! their `lstrip` / `rstrip` flags carry over. BOS and EOS are added where the post-processor's
//! template puts them; their ids come from the template, else from `tokenizer_config.json`'s
//! `bos_token` / `eos_token`.
//!
//! Not covered: a `Metaspace` pre-tokenizer's `prepend_scheme: "first"` prepends `▁` once per
//! text in `tokenizers`, but here (as for `Prepend`) after every special token too, and also
//! where the text already starts with a space.

use std::path::Path;

use claude_gguf::Metadata;
use rustc_hash::FxHashMap;
use serde_json::Value;

use super::bpe::GgufBpe;
use super::config::{Config, MERGES_KEY, ModelKind, SpecialIds};
use super::error::{GgufError, GgufResult};
use super::pre::PreTokenizer;
use super::specials::Specials;
use super::spm::Spm;
use super::vocab::{Attr, TOKEN_TYPE_KEY, TOKENS_KEY, Vocab};
use super::{GgufTokenizer, Model, fixups};

/// The tokenizer's file in a Hugging Face folder.
pub const TOKENIZER_JSON: &str = "tokenizer.json";
/// The file beside it naming the special tokens (and holding the chat template).
pub const TOKENIZER_CONFIG_JSON: &str = "tokenizer_config.json";

/// GPT-2's split pattern, as `tokenizers` writes it.
const GPT2_REGEX: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// Llama 3's (cl100k's) split pattern.
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's: Llama 3's with every digit alone.
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The split regexes we run, with the pre-tokenizer of each.
const KNOWN_REGEXES: [(&str, PreTokenizer); 3] = [
    (GPT2_REGEX, PreTokenizer::Gpt2),
    (LLAMA3_REGEX, PreTokenizer::Llama3),
    (QWEN2_REGEX, PreTokenizer::Qwen2),
];

/// The word-boundary mark of SentencePiece vocabularies.
const SPACE_MARK: &str = "\u{2581}";

/// llama.cpp's token type ids.
const NORMAL: i32 = 1;
const UNKNOWN: i32 = 2;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;
const UNUSED: i32 = 5;
const BYTE: i32 = 6;

/// One entry of `added_tokens`.
struct Added {
    id: u32,
    content: String,
    special: bool,
    lstrip: bool,
    rstrip: bool,
}

impl GgufTokenizer {
    /// Builds the tokenizer of the Hugging Face folder `dir`: its `tokenizer.json`, with the
    /// special tokens `tokenizer_config.json` names when the folder has one.
    pub fn from_hf_dir(dir: impl AsRef<Path>) -> GgufResult<Self> {
        let dir = dir.as_ref();
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|e| GgufError::HfTokenizer {
                path: path.to_path_buf(),
                field: "(file)".into(),
                message: e.to_string(),
            })
        };
        let path = dir.join(TOKENIZER_JSON);
        let json = read(&path)?;
        let config_path = dir.join(TOKENIZER_CONFIG_JSON);
        let config = match config_path.is_file() {
            true => Some(read(&config_path)?),
            false => None,
        };
        Self::from_hf_json(&json, config.as_deref(), &path)
    }

    /// Builds the tokenizer the `tokenizer.json` text `json` describes (`config`: the text of
    /// `tokenizer_config.json`, if any); errors name `path` and the field at fault.
    pub fn from_hf_json(json: &str, config: Option<&str>, path: &Path) -> GgufResult<Self> {
        let fail = |field: &str, message: String| GgufError::HfTokenizer {
            path: path.to_path_buf(),
            field: field.to_string(),
            message,
        };
        let root: Value =
            serde_json::from_str(json).map_err(|e| fail("(file)", format!("not JSON: {e}")))?;
        let token_config: Value = match config {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| fail(TOKENIZER_CONFIG_JSON, format!("not JSON: {e}")))?,
            None => Value::Null,
        };
        let model = &root["model"];
        match model["type"].as_str() {
            Some("BPE") => {}
            other => {
                return Err(fail(
                    "model.type",
                    format!(
                        "{} is not supported (BPE is: byte-level, or SentencePiece-style with \
                         byte_fallback)",
                        other.map_or("missing".into(), |t| format!("{t:?}"))
                    ),
                ));
            }
        }
        let added = added_tokens(&root, &fail)?;
        let (texts, mut types) = token_list(model, &added, &fail)?;
        let byte_level = [&root["pre_tokenizer"], &root["decoder"]]
            .iter()
            .any(|part| mentions_type(part, "ByteLevel"));
        let kind = if byte_level {
            ModelKind::Bpe
        } else if model["byte_fallback"].as_bool() == Some(true) {
            ModelKind::Spm
        } else {
            return Err(fail(
                "model",
                "neither byte-level (a ByteLevel pre-tokenizer) nor SentencePiece-style \
                 (byte_fallback) BPE"
                    .into(),
            ));
        };
        let unk = model["unk_token"]
            .as_str()
            .and_then(|text| texts.iter().position(|t| t == text).map(|id| id as u32));
        if kind == ModelKind::Spm {
            for (id, text) in texts.iter().enumerate() {
                if types[id] == NORMAL && is_byte_token(text) {
                    types[id] = BYTE;
                }
            }
        }
        if let Some(unk) = unk
            && types[unk as usize] != CONTROL
        {
            types[unk as usize] = UNKNOWN;
        }

        let mut metadata = Metadata::new(path);
        metadata.insert(TOKENS_KEY, texts);
        metadata.insert(TOKEN_TYPE_KEY, types);
        let mut pre = None;
        let mut add_space_prefix = false;
        let mut nfc = false;
        match kind {
            ModelKind::Bpe => {
                pre = Some(byte_level_pre(&root["pre_tokenizer"], &fail)?);
                let normalizers = stages(&root["normalizer"]);
                if let Some(other) = normalizers.iter().find(|stage| stage["type"] != "NFC") {
                    return Err(fail(
                        "normalizer",
                        format!("{other} is not supported before byte-level BPE (NFC is)"),
                    ));
                }
                nfc = !normalizers.is_empty();
                metadata.insert(MERGES_KEY, merge_lines(model, &fail)?);
            }
            ModelKind::Spm => add_space_prefix = spm_prefix(&root, &fail)?,
        }
        let mut vocab = Vocab::load(&metadata)?;
        for entry in &added {
            let attr = &mut vocab.attrs[entry.id as usize];
            if entry.lstrip {
                *attr = attr.with(Attr::LSTRIP);
            }
            if entry.rstrip {
                *attr = attr.with(Attr::RSTRIP);
            }
        }

        let template_ids = post_processor(&root["post_processor"], &fail)?;
        let (add_bos, add_eos) = (template_ids.0.is_some(), template_ids.1.is_some());
        let special_id = |key: &str| -> Option<u32> {
            let value = &token_config[key];
            let text = value.as_str().or_else(|| value["content"].as_str())?;
            vocab.id(text)
        };
        let mut ids = SpecialIds {
            bos: template_ids
                .0
                .filter(|&id| (id as usize) < vocab.len())
                .or_else(|| special_id("bos_token")),
            eos: template_ids
                .1
                .filter(|&id| (id as usize) < vocab.len())
                .or_else(|| special_id("eos_token")),
            unk: unk.or_else(|| special_id("unk_token")),
            pad: special_id("pad_token"),
            ..SpecialIds::default()
        };
        for (add, id, what) in [(add_bos, ids.bos, "BOS"), (add_eos, ids.eos, "EOS")] {
            if add && id.is_none() {
                return Err(fail(
                    "post_processor",
                    format!("adds {what}, but its id is not a token of the vocabulary"),
                ));
            }
        }
        let clean_spaces = token_config["clean_up_tokenization_spaces"]
            .as_bool()
            .unwrap_or(false);
        let ignore_merges = model["ignore_merges"].as_bool().unwrap_or(false);
        let declared_ids = ids;
        let eog = fixups::apply(&mut vocab, &mut ids, "");
        let config = Config {
            kind,
            pre,
            ignore_merges,
            clean_spaces,
            add_space_prefix,
            add_bos,
            add_eos,
            ids,
            pre_name: None,
            declared_ids,
        };
        let specials = Specials::new(&vocab);
        let model = match pre {
            Some(pre) => Model::Bpe(GgufBpe::new(&vocab, &metadata, pre, ignore_merges)?),
            None => {
                let ranks = merge_ranks(model, &vocab, &fail)?;
                Model::Spm(Spm::new(&vocab, config.ids.unk).with_merges(ranks))
            }
        };
        Ok(GgufTokenizer {
            vocab,
            config,
            specials,
            eog,
            model,
            nfc,
        })
    }

    /// Makes `id` end generation too (a model's `generation_config.json` names its stop
    /// tokens); ids outside the vocabulary are ignored.
    pub fn add_end_of_generation(&mut self, id: u32) {
        if (id as usize) < self.vocab.len() {
            self.eog.insert(id);
        }
    }
}

/// The `added_tokens` list.
fn added_tokens(root: &Value, fail: &dyn Fn(&str, String) -> GgufError) -> GgufResult<Vec<Added>> {
    let Some(list) = root["added_tokens"].as_array() else {
        return match root["added_tokens"].is_null() {
            true => Ok(Vec::new()),
            false => Err(fail("added_tokens", "not a list".into())),
        };
    };
    list.iter()
        .enumerate()
        .map(|(i, entry)| {
            let field = format!("added_tokens[{i}]");
            let id = entry["id"]
                .as_u64()
                .and_then(|id| u32::try_from(id).ok())
                .ok_or_else(|| fail(&format!("{field}.id"), "not a token id".into()))?;
            let content = entry["content"]
                .as_str()
                .ok_or_else(|| fail(&format!("{field}.content"), "not a string".into()))?;
            let flag = |key: &str| entry[key].as_bool().unwrap_or(false);
            Ok(Added {
                id,
                content: content.to_string(),
                special: flag("special"),
                lstrip: flag("lstrip"),
                rstrip: flag("rstrip"),
            })
        })
        .collect()
}

/// Every token's text by id (the model's vocabulary and the added tokens), with its type; ids
/// neither names are `[PAD{id}]` stand-ins, unused, as llama.cpp's converter writes them.
fn token_list(
    model: &Value,
    added: &[Added],
    fail: &dyn Fn(&str, String) -> GgufError,
) -> GgufResult<(Vec<String>, Vec<i32>)> {
    let Some(vocab) = model["vocab"].as_object() else {
        return Err(fail("model.vocab", "missing, or not an object".into()));
    };
    let mut entries: Vec<(u32, &str, i32)> = Vec::with_capacity(vocab.len() + added.len());
    for (text, id) in vocab {
        let id = id
            .as_u64()
            .and_then(|id| u32::try_from(id).ok())
            .ok_or_else(|| fail(&format!("model.vocab.{text}"), "not a token id".into()))?;
        entries.push((id, text, NORMAL));
    }
    for token in added {
        let kind = if token.special { CONTROL } else { USER_DEFINED };
        entries.push((token.id, &token.content, kind));
    }
    let n = entries
        .iter()
        .map(|&(id, ..)| id as usize + 1)
        .max()
        .unwrap_or(0);
    if n == 0 {
        return Err(fail("model.vocab", "empty".into()));
    }
    if n > 1 << 24 {
        return Err(fail(
            "model.vocab",
            format!("token id {} is too large", n - 1),
        ));
    }
    let mut texts: Vec<Option<String>> = vec![None; n];
    let mut types = vec![UNUSED; n];
    for (id, text, kind) in entries {
        let slot = &mut texts[id as usize];
        match slot {
            Some(existing) if existing != text => {
                return Err(fail(
                    "added_tokens",
                    format!("id {id} is both {existing:?} and {text:?}"),
                ));
            }
            _ => *slot = Some(text.to_string()),
        }
        // An added token keeps its own kind over the vocabulary's.
        if kind != NORMAL || types[id as usize] == UNUSED {
            types[id as usize] = kind;
        }
    }
    let texts = texts
        .into_iter()
        .enumerate()
        .map(|(id, text)| text.unwrap_or_else(|| format!("[PAD{id}]")))
        .collect();
    Ok((texts, types))
}

/// Whether `text` is a byte-fallback token `<0xNN>`.
fn is_byte_token(text: &str) -> bool {
    text.len() == 6
        && text.starts_with("<0x")
        && text.ends_with('>')
        && text[3..5].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `part` (a pipeline stage, or a `Sequence` of them) has a stage of type `kind`.
fn mentions_type(part: &Value, kind: &str) -> bool {
    stages(part).iter().any(|stage| stage["type"] == kind)
}

/// The stages of a pipeline part: those of a `Sequence`, else the part itself.
fn stages(part: &Value) -> Vec<&Value> {
    let nested = ["pretokenizers", "normalizers", "decoders", "processors"];
    match part["type"].as_str() {
        Some("Sequence") => nested
            .iter()
            .filter_map(|key| part[key].as_array())
            .flatten()
            .collect(),
        Some(_) => vec![part],
        None => Vec::new(),
    }
}

/// The pre-tokenizer of a byte-level BPE `pre_tokenizer`.
fn byte_level_pre(
    part: &Value,
    fail: &dyn Fn(&str, String) -> GgufError,
) -> GgufResult<PreTokenizer> {
    let byte_level = |stage: &Value, regex: bool| {
        stage["type"] == "ByteLevel"
            && stage["add_prefix_space"].as_bool() != Some(true)
            && stage["use_regex"].as_bool().unwrap_or(true) == regex
    };
    let found = match stages(part)[..] {
        [only] if byte_level(only, true) => Some(PreTokenizer::Gpt2),
        [split, level]
            if split["type"] == "Split"
                && split["behavior"] == "Isolated"
                && split["invert"].as_bool() != Some(true)
                && byte_level(level, false) =>
        {
            let regex = split["pattern"]["Regex"].as_str().unwrap_or("");
            (KNOWN_REGEXES.iter())
                .find(|(known, _)| *known == regex)
                .map(|&(_, pre)| pre)
        }
        [digits, level]
            if digits["type"] == "Digits"
                && digits["individual_digits"].as_bool() == Some(true)
                && byte_level(level, true) =>
        {
            Some(PreTokenizer::SmolLm)
        }
        _ => None,
    };
    found.ok_or_else(|| {
        fail(
            "pre_tokenizer",
            format!(
                "{part} is not a pre-tokenizer we run (supported: ByteLevel with GPT-2's regex; \
                 Split by GPT-2's, Llama 3's or Qwen2's regex, then ByteLevel; individual Digits, \
                 then ByteLevel)"
            ),
        )
    })
}

/// Whether a SentencePiece-style tokenizer puts `▁` before the text, checking that its
/// normalizer and pre-tokenizer only write spaces as `▁`.
fn spm_prefix(root: &Value, fail: &dyn Fn(&str, String) -> GgufError) -> GgufResult<bool> {
    let mut prefix = false;
    let mut escaped = false;
    for stage in stages(&root["normalizer"]) {
        let replaces_spaces = stage["type"] == "Replace"
            && stage["pattern"]["String"] == " "
            && stage["content"] == SPACE_MARK;
        if replaces_spaces {
            escaped = true;
        } else if stage["type"] == "Prepend" && stage["prepend"] == SPACE_MARK {
            prefix = true;
        } else {
            return Err(fail(
                "normalizer",
                format!(
                    "{stage} is not supported before SentencePiece-style BPE (Replace(\" \", \
                     \"▁\") and Prepend(\"▁\") are)"
                ),
            ));
        }
    }
    for stage in stages(&root["pre_tokenizer"]) {
        let noop_split = escaped
            && stage["type"] == "Split"
            && stage["pattern"]["String"] == " "
            && stage["invert"].as_bool() != Some(true);
        let metaspace = stage["type"] == "Metaspace"
            && stage["replacement"] == SPACE_MARK
            && stage["split"].as_bool() == Some(false);
        if metaspace {
            escaped = true;
            prefix = match stage["prepend_scheme"].as_str() {
                Some("never") => false,
                Some("first" | "always") => true,
                _ => stage["add_prefix_space"].as_bool().unwrap_or(true),
            };
        } else if !noop_split {
            return Err(fail(
                "pre_tokenizer",
                format!(
                    "{stage} is not supported before SentencePiece-style BPE (none, or a \
                     Metaspace that does not split, is)"
                ),
            ));
        }
    }
    if !escaped {
        return Err(fail(
            "normalizer",
            "SentencePiece-style BPE needs spaces written as \"▁\" (a Replace normalizer or a \
             Metaspace pre-tokenizer)"
                .into(),
        ));
    }
    Ok(prefix)
}

/// The merges as `left right` lines (either spelling `tokenizers` writes: such a line, or a
/// pair).
fn merge_lines(model: &Value, fail: &dyn Fn(&str, String) -> GgufError) -> GgufResult<Vec<String>> {
    merge_pairs(model, fail)?
        .into_iter()
        .map(|(l, r)| Ok(format!("{l} {r}")))
        .collect()
}

/// The merges as pairs of texts, in rank order.
fn merge_pairs<'a>(
    model: &'a Value,
    fail: &dyn Fn(&str, String) -> GgufError,
) -> GgufResult<Vec<(&'a str, &'a str)>> {
    let Some(merges) = model["merges"].as_array() else {
        return Err(fail("model.merges", "missing, or not a list".into()));
    };
    merges
        .iter()
        .enumerate()
        .map(|(i, merge)| {
            let pair = match merge {
                Value::String(line) => line.split_once(' '),
                Value::Array(pair) => match &pair[..] {
                    [Value::String(l), Value::String(r)] => Some((l.as_str(), r.as_str())),
                    _ => None,
                },
                _ => None,
            };
            pair.ok_or_else(|| {
                fail(
                    &format!("model.merges[{i}]"),
                    format!("{merge} is not a pair"),
                )
            })
        })
        .collect()
}

/// Each merge's rank by the ids of its pair (the first rank of a pair listed twice); merges
/// whose parts or result are not tokens can never apply and are left out.
fn merge_ranks(
    model: &Value,
    vocab: &Vocab,
    fail: &dyn Fn(&str, String) -> GgufError,
) -> GgufResult<FxHashMap<(u32, u32), u32>> {
    let pairs = merge_pairs(model, fail)?;
    if pairs.len() >= 1 << 24 {
        return Err(fail(
            "model.merges",
            format!("{} merges are too many", pairs.len()),
        ));
    }
    let mut ranks = FxHashMap::default();
    ranks.reserve(pairs.len());
    let mut joined = String::new();
    for (rank, (l, r)) in pairs.into_iter().enumerate() {
        joined.clear();
        joined.push_str(l);
        joined.push_str(r);
        if let (Some(a), Some(b), Some(_)) = (vocab.id(l), vocab.id(r), vocab.id(&joined)) {
            ranks.entry((a, b)).or_insert(rank as u32);
        }
    }
    Ok(ranks)
}

/// The tokens the post-processor puts before and after a single text: `(BOS, EOS)`.
fn post_processor(
    part: &Value,
    fail: &dyn Fn(&str, String) -> GgufError,
) -> GgufResult<(Option<u32>, Option<u32>)> {
    let mut result = (None, None);
    for stage in stages(part) {
        match stage["type"].as_str() {
            Some("ByteLevel") => {}
            Some("TemplateProcessing") => {
                let Some(single) = stage["single"].as_array() else {
                    return Err(fail("post_processor.single", "not a list".into()));
                };
                let special_ids = &stage["special_tokens"];
                let token_id = |item: &Value| -> GgufResult<u32> {
                    let name = item["SpecialToken"]["id"].as_str().unwrap_or("");
                    let ids = special_ids[name]["ids"].as_array();
                    match ids.map(|ids| &ids[..]) {
                        Some([id]) => id.as_u64().and_then(|id| u32::try_from(id).ok()),
                        _ => None,
                    }
                    .ok_or_else(|| {
                        fail(
                            "post_processor.single",
                            format!("{item} is not a special token of one id"),
                        )
                    })
                };
                let is_text = |item: &Value| !item["Sequence"].is_null();
                let (bos, eos) = match &single[..] {
                    [a] if is_text(a) => (None, None),
                    [bos, a] if is_text(a) => (Some(token_id(bos)?), None),
                    [a, eos] if is_text(a) => (None, Some(token_id(eos)?)),
                    [bos, a, eos] if is_text(a) => (Some(token_id(bos)?), Some(token_id(eos)?)),
                    _ => {
                        return Err(fail(
                            "post_processor.single",
                            format!("{} is not [BOS] text [EOS]", stage["single"]),
                        ));
                    }
                };
                result = (bos, eos);
            }
            _ => {
                return Err(fail(
                    "post_processor",
                    format!("{stage} is not supported (TemplateProcessing and ByteLevel are)"),
                ));
            }
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::EncodeOptions;

    const PARSE: EncodeOptions = EncodeOptions {
        add_special: true,
        parse_special: true,
    };

    /// A tiny SentencePiece-style vocabulary, as transformers writes Gemma's: merges rank
    /// `▁t`+`he` below `▁th`+`e`, so `▁the` comes from the first pair.
    fn spm_json() -> String {
        let vocab = [
            "<pad>", "<eos>", "<bos>", "<unk>", "<0x41>", "<0xE2>", "<0x82>", "<0xAC>", "▁", "t",
            "h", "e", "▁t", "he", "▁th", "▁the", "a",
        ];
        let vocab: serde_json::Map<String, Value> = vocab
            .iter()
            .enumerate()
            .map(|(id, t)| (t.to_string(), Value::from(id)))
            .collect();
        serde_json::json!({
            "added_tokens": [
                {"id": 0, "content": "<pad>", "special": true},
                {"id": 1, "content": "<eos>", "special": true},
                {"id": 2, "content": "<bos>", "special": true},
                {"id": 3, "content": "<unk>", "special": true}
            ],
            "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
            "pre_tokenizer": {"type": "Split", "pattern": {"String": " "},
                              "behavior": "MergedWithPrevious", "invert": false},
            "post_processor": {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}},
                           {"Sequence": {"id": "A", "type_id": 0}}],
                "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]}}},
            "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}]},
            "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": true,
                      "vocab": vocab,
                      "merges": [["▁", "t"], ["h", "e"], ["▁t", "he"], ["▁t", "h"], ["▁th", "e"]]}
        })
        .to_string()
    }

    #[test]
    fn sentencepiece_style_joins_listed_merges_by_rank() {
        let tok = GgufTokenizer::from_hf_json(&spm_json(), None, Path::new("t.json")).unwrap();
        assert_eq!(tok.kind(), ModelKind::Spm);
        // "▁the" from "▁t" + "he" (rank 2); "€" has no token: its three bytes; "A" its byte.
        assert_eq!(tok.encode(" the€A<eos>", PARSE), [2, 15, 5, 6, 7, 4, 1]);
        assert_eq!(tok.special_ids().bos, Some(2));
        assert!(tok.is_end_of_generation(1));
    }

    #[test]
    fn sentencepiece_style_gives_the_same_ids_through_gguf() {
        let tok = GgufTokenizer::from_hf_json(&spm_json(), None, Path::new("t.json")).unwrap();
        let metadata = tok.gguf_metadata();
        let mut m = Metadata::new("t.gguf");
        for (key, value) in metadata {
            m.insert(key, value);
        }
        assert_eq!(m.get_str("tokenizer.ggml.model").unwrap(), "llama");
        // "▁the" is made by rank 2 first, "▁th" by rank 3; tokens no merge makes score below
        // the last rank, 4.
        let scores = m.get_f32_array("tokenizer.ggml.scores").unwrap();
        assert_eq!((scores[15], scores[14], scores[12]), (-2.0, -3.0, 0.0));
        assert_eq!(scores[16], -5.0);
        let back = GgufTokenizer::from_metadata(&m).unwrap();
        for text in [" the€A<eos>", "the the thethe", "a th he"] {
            for options in [PARSE, EncodeOptions::default()] {
                assert_eq!(
                    back.encode(text, options),
                    tok.encode(text, options),
                    "{text:?}"
                );
            }
        }
        // Without tokenizer_config.json there is no EOS: none is written, and reading takes
        // llama.cpp's default for SentencePiece, id 2.
        assert_eq!(tok.special_ids().eos, None);
        let eos = SpecialIds {
            eos: Some(2),
            ..tok.special_ids()
        };
        assert_eq!(back.special_ids(), eos);
        assert!(back.adds_bos() && back.is_end_of_generation(1));
    }

    #[test]
    fn unsupported_pipelines_are_named() {
        let json = spm_json().replace("\"BPE\"", "\"Unigram\"");
        let err = GgufTokenizer::from_hf_json(&json, None, Path::new("t.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t.json: model.type") && err.contains("Unigram"),
            "{err}"
        );
        let json = spm_json()
            .replace("MergedWithPrevious", "Removed")
            .replace("\"Split\"", "\"WhitespaceSplit\"");
        let err = GgufTokenizer::from_hf_json(&json, None, Path::new("t.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pre_tokenizer") && err.contains("WhitespaceSplit"),
            "{err}"
        );
        let err = GgufTokenizer::from_hf_json("{", None, Path::new("t.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.json: (file): not JSON"), "{err}");
    }

    #[test]
    fn an_nfc_normalizer_composes_before_byte_level_bpe() {
        let mut vocab: Vec<String> = (0..=255u8)
            .map(|b| crate::bytes::encode_token(&[b]))
            .collect();
        vocab.push("Ã©".into());
        let vocab: serde_json::Map<String, Value> = (vocab.iter().enumerate())
            .map(|(id, t)| (t.clone(), Value::from(id)))
            .collect();
        let json = serde_json::json!({
            "normalizer": {"type": "NFC"},
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
            "decoder": {"type": "ByteLevel"},
            "model": {"type": "BPE", "vocab": vocab, "merges": [["Ã", "©"]]}
        })
        .to_string();
        let tok = GgufTokenizer::from_hf_json(&json, None, Path::new("t.json")).unwrap();
        // "e" + U+0301 (combining acute) composes to "é", bytes C3 A9: one token.
        assert_eq!(tok.encode("e\u{301}", PARSE), [256]);
        let plain = json.replace(r#""normalizer":{"type":"NFC"},"#, "");
        let tok = GgufTokenizer::from_hf_json(&plain, None, Path::new("t.json")).unwrap();
        assert_eq!(tok.encode("e\u{301}", PARSE).len(), 3);
    }

    #[test]
    fn byte_level_regexes_map_to_pre_tokenizers() {
        let fail = |field: &str, message: String| GgufError::HfTokenizer {
            path: "t.json".into(),
            field: field.into(),
            message,
        };
        let split = |regex: &str| {
            serde_json::json!({"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false},
                {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]})
        };
        assert_eq!(
            byte_level_pre(&split(QWEN2_REGEX), &fail).unwrap(),
            PreTokenizer::Qwen2
        );
        assert_eq!(
            byte_level_pre(&split(LLAMA3_REGEX), &fail).unwrap(),
            PreTokenizer::Llama3
        );
        let err = byte_level_pre(&split(r"\w+"), &fail)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pre_tokenizer") && err.contains("Qwen2's"),
            "{err}"
        );
        let smollm = serde_json::json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true},
            {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}]});
        assert_eq!(
            byte_level_pre(&smollm, &fail).unwrap(),
            PreTokenizer::SmolLm
        );
    }
}
