//! Tokenizer files on disk.
//!
//! A BPE tokenizer directory holds `vocab.json` (token -> id, tokens in GPT-2's printable byte
//! form) and `merges.txt` (`#version: 0.2`, then one `left right` merge per line in rank order):
//! the layout Hugging Face tokenizers and GPT-2 tooling read. A small `claude-tokenizer.json`
//! records what those two files cannot: the tokenizer kind, the split pattern and which tokens
//! are special. GPT-2's original `encoder.json` + `vocab.bpe` load too (special tokens are then
//! the vocabulary entries no merge produces, such as `<|endoftext|>`). A character tokenizer
//! saves `vocab.json` (character -> id) and the metadata file.

use std::path::Path;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use crate::bpe::BpeTokenizer;
use crate::bytes::{byte_to_char, decode_token, encode_token};
use crate::char_level::CharTokenizer;
use crate::error::{Error, Result};
use crate::pretokenize::Pattern;
use crate::tokenizer::Tokenizer;

/// Our (and Hugging Face's) vocabulary file.
pub const VOCAB_FILE: &str = "vocab.json";
/// Our (and Hugging Face's) merges file.
pub const MERGES_FILE: &str = "merges.txt";
/// Our metadata file: kind, pattern, special tokens.
pub const META_FILE: &str = "claude-tokenizer.json";
/// GPT-2's vocabulary file.
pub const GPT2_ENCODER_FILE: &str = "encoder.json";
/// GPT-2's merges file.
pub const GPT2_MERGES_FILE: &str = "vocab.bpe";

/// Which kind of tokenizer a directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Byte-level BPE.
    Bpe,
    /// Character-level.
    Char,
}

/// Contents of `claude-tokenizer.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    kind: Kind,
    #[serde(default)]
    pattern: Pattern,
    #[serde(default)]
    special_tokens: Vec<String>,
}

/// Loads the tokenizer in `dir`: ours, Hugging Face's `vocab.json` + `merges.txt`, GPT-2's, or
/// else Hugging Face's `tokenizer.json` ([`GgufTokenizer::from_hf_dir`](crate::GgufTokenizer::from_hf_dir)).
pub fn load(dir: &Path) -> Result<Tokenizer> {
    let meta_path = dir.join(META_FILE);
    let meta: Option<Meta> = if meta_path.is_file() {
        Some(read_json(&meta_path)?)
    } else {
        None
    };
    if let Some(Meta {
        kind: Kind::Char, ..
    }) = meta
    {
        return load_char(&dir.join(VOCAB_FILE)).map(Tokenizer::Char);
    }
    let ours = (dir.join(VOCAB_FILE), dir.join(MERGES_FILE));
    let gpt2 = (dir.join(GPT2_ENCODER_FILE), dir.join(GPT2_MERGES_FILE));
    let (vocab, merges) = if ours.0.is_file() && ours.1.is_file() {
        ours
    } else if gpt2.0.is_file() && gpt2.1.is_file() {
        gpt2
    } else if dir.join(crate::gguf::TOKENIZER_JSON).is_file() {
        // A Hugging Face folder with only its tokenizer.json.
        return Ok(Tokenizer::Gguf(crate::GgufTokenizer::from_hf_dir(dir)?));
    } else {
        return Err(Error::NoTokenizer(dir.to_path_buf()));
    };
    let (pattern, specials) = match meta {
        Some(meta) => (meta.pattern, Some(meta.special_tokens)),
        None => (Pattern::Gpt2, None),
    };
    load_bpe(&vocab, &merges, pattern, specials.as_deref()).map(Tokenizer::Bpe)
}

/// Saves a tokenizer into `dir` (created if missing); every file is written atomically.
pub fn save(tokenizer: &Tokenizer, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let meta = match tokenizer {
        Tokenizer::Bpe(bpe) => {
            save_bpe(bpe, dir)?;
            Meta {
                kind: Kind::Bpe,
                pattern: bpe.pattern(),
                special_tokens: bpe
                    .special_tokens()
                    .iter()
                    .map(|(t, _)| t.clone())
                    .collect(),
            }
        }
        Tokenizer::Gguf(_) => {
            return Err(Error::InvalidArgument {
                field: "tokenizer",
                message: "a GGUF file's tokenizer is read from the file, not saved apart".into(),
            });
        }
        Tokenizer::Char(chars) => {
            let entries = chars.chars().iter().map(|c| c.to_string());
            write_atomic(&dir.join(VOCAB_FILE), vocab_json(entries).as_bytes())?;
            Meta {
                kind: Kind::Char,
                pattern: Pattern::default(),
                special_tokens: Vec::new(),
            }
        }
    };
    let json = serde_json::to_string_pretty(&meta).expect("metadata serializes");
    write_atomic(&dir.join(META_FILE), json.as_bytes())
}

fn save_bpe(bpe: &BpeTokenizer, dir: &Path) -> Result<()> {
    let specials: FxHashSet<u32> = bpe.special_tokens().iter().map(|&(_, id)| id).collect();
    let tokens = bpe.tokens();
    let printable = |id: u32| {
        let bytes = &tokens[id as usize];
        if specials.contains(&id) {
            String::from_utf8_lossy(bytes).into_owned()
        } else {
            encode_token(bytes)
        }
    };
    let entries = (0..tokens.len() as u32).map(printable);
    write_atomic(&dir.join(VOCAB_FILE), vocab_json(entries).as_bytes())?;
    let mut merges = String::from("#version: 0.2\n");
    for &(left, right) in bpe.merges() {
        merges.push_str(&printable(left));
        merges.push(' ');
        merges.push_str(&printable(right));
        merges.push('\n');
    }
    write_atomic(&dir.join(MERGES_FILE), merges.as_bytes())
}

/// Writes `bytes` to `path` atomically.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    claude_files::write_atomic(path, bytes).map_err(|e| Error::io(path, e))
}

/// A JSON object mapping each entry to its index, one per line, in id order.
fn vocab_json(entries: impl Iterator<Item = String>) -> String {
    let lines: Vec<String> = entries
        .enumerate()
        .map(|(id, token)| {
            let key = serde_json::to_string(&token).expect("strings serialize");
            format!("  {key}: {id}")
        })
        .collect();
    format!("{{\n{}\n}}\n", lines.join(",\n"))
}

fn read_to_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    serde_json::from_str(&read_to_string(path)?).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a `token -> id` JSON file whose ids must be exactly `0..n`; returns tokens by id.
fn read_vocab(path: &Path) -> Result<Vec<String>> {
    let map: FxHashMap<String, u32> = read_json(path)?;
    let mut by_id: Vec<Option<String>> = vec![None; map.len()];
    for (token, id) in map {
        let slot = by_id.get_mut(id as usize).ok_or_else(|| {
            Error::bad_file(
                path,
                0,
                format!("id {id} of {token:?} is not below the vocab size"),
            )
        })?;
        if slot.is_some() {
            return Err(Error::bad_file(path, 0, format!("id {id} is used twice")));
        }
        *slot = Some(token);
    }
    Ok(by_id
        .into_iter()
        .map(|t| t.expect("ids 0..n are all used"))
        .collect())
}

fn load_char(path: &Path) -> Result<CharTokenizer> {
    let entries = read_vocab(path)?;
    let mut chars = Vec::with_capacity(entries.len());
    for entry in entries {
        let mut it = entry.chars();
        match (it.next(), it.next()) {
            (Some(c), None) => chars.push(c),
            _ => {
                return Err(Error::bad_file(
                    path,
                    0,
                    format!("{entry:?} is not one character"),
                ));
            }
        }
    }
    let tokenizer = CharTokenizer::new(chars.iter().copied());
    if tokenizer.chars() != chars {
        return Err(Error::bad_file(
            path,
            0,
            "characters must be distinct and in code point order",
        ));
    }
    Ok(tokenizer)
}

/// Loads a BPE tokenizer from a vocabulary and a merges file (ours, Hugging Face's or GPT-2's).
///
/// `specials` lists the special tokens; `None` treats every vocabulary entry that is neither a
/// byte nor produced by a merge as special.
pub fn load_bpe(
    vocab_path: &Path,
    merges_path: &Path,
    pattern: Pattern,
    specials: Option<&[String]>,
) -> Result<BpeTokenizer> {
    let entries = read_vocab(vocab_path)?;
    let ids: FxHashMap<&str, u32> = entries
        .iter()
        .enumerate()
        .map(|(id, t)| (t.as_str(), id as u32))
        .collect();
    let merges = read_merges(merges_path, &ids)?;
    let special_ids: Vec<u32> = match specials {
        Some(list) => list
            .iter()
            .map(|s| {
                ids.get(s.as_str()).copied().ok_or_else(|| {
                    Error::bad_file(
                        vocab_path,
                        0,
                        format!("special token {s:?} is not in the vocabulary"),
                    )
                })
            })
            .collect::<Result<_>>()?,
        None => {
            let mut reachable: FxHashSet<u32> = merges.iter().map(|m| m.merged).collect();
            for b in 0..=255u8 {
                if let Some(&id) = ids.get(byte_to_char(b).to_string().as_str()) {
                    reachable.insert(id);
                }
            }
            (0..entries.len() as u32)
                .filter(|id| !reachable.contains(id))
                .collect()
        }
    };
    let tokens = entries
        .iter()
        .enumerate()
        .map(|(id, text)| {
            if special_ids.contains(&(id as u32)) {
                Ok(text.as_bytes().to_vec())
            } else {
                decode_token(text).ok_or_else(|| {
                    Error::bad_file(
                        vocab_path,
                        0,
                        format!("token {text:?} (id {id}) is not in byte-level form"),
                    )
                })
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let pairs = merges.iter().map(|m| (m.left, m.right)).collect();
    BpeTokenizer::new(tokens, pairs, special_ids, pattern).map_err(|e| match e {
        Error::InvalidArgument { message, .. } => Error::bad_file(vocab_path, 0, message),
        other => other,
    })
}

struct MergeLine {
    left: u32,
    right: u32,
    merged: u32,
}

fn read_merges(path: &Path, ids: &FxHashMap<&str, u32>) -> Result<Vec<MergeLine>> {
    let text = read_to_string(path)?;
    let mut merges = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        if (index == 0 && line.starts_with("#version")) || line.is_empty() {
            continue;
        }
        let (left, right) = match line.split(' ').collect::<Vec<_>>()[..] {
            [left, right] if !left.is_empty() && !right.is_empty() => (left, right),
            _ => {
                return Err(Error::bad_file(
                    path,
                    line_no,
                    format!("expected two tokens, got {line:?}"),
                ));
            }
        };
        let lookup = |token: &str| {
            ids.get(token).copied().ok_or_else(|| {
                Error::bad_file(
                    path,
                    line_no,
                    format!("token {token:?} is not in the vocabulary"),
                )
            })
        };
        merges.push(MergeLine {
            left: lookup(left)?,
            right: lookup(right)?,
            merged: lookup(&format!("{left}{right}"))?,
        });
    }
    Ok(merges)
}
