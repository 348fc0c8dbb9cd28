//! The vocabulary every GGUF tokenizer shares: token texts, types, scores, the text-to-id map,
//! and the special-token ids and flags, read from `tokenizer.ggml.*`.

use std::path::{Path, PathBuf};

use claude_gguf::{Array, Metadata};
use rustc_hash::FxHashMap;

use super::error::{GgufError, GgufResult};

/// The token list.
pub const TOKENS_KEY: &str = "tokenizer.ggml.tokens";
/// The type of each token.
pub const TOKEN_TYPE_KEY: &str = "tokenizer.ggml.token_type";
/// The score of each token (SentencePiece).
pub const SCORES_KEY: &str = "tokenizer.ggml.scores";

/// What `tokenizer.ggml.token_type` says a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// Type 0, or an id this crate does not know.
    Undefined,
    /// An ordinary token (1).
    Normal,
    /// The unknown token (2).
    Unknown,
    /// A control token such as `<s>` or `<|eot_id|>` (3): matched in text only when special
    /// tokens are parsed, and rendered only on request.
    Control,
    /// A user-defined token (4): always matched in text as a whole.
    UserDefined,
    /// A reserved, unused token (5).
    Unused,
    /// A byte-fallback token `<0xXX>` (6).
    Byte,
}

impl TokenType {
    /// The type with on-disk id `id` (unknown ids are [`TokenType::Undefined`]).
    pub fn from_id(id: i32) -> Self {
        match id {
            1 => TokenType::Normal,
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => TokenType::Undefined,
        }
    }

    /// The on-disk id (0 for [`TokenType::Undefined`]).
    pub fn id(self) -> i32 {
        match self {
            TokenType::Undefined => 0,
            TokenType::Normal => 1,
            TokenType::Unknown => 2,
            TokenType::Control => 3,
            TokenType::UserDefined => 4,
            TokenType::Unused => 5,
            TokenType::Byte => 6,
        }
    }
}

/// Token attributes as llama.cpp keeps them: the type as bits, plus fix-ups (a user-defined
/// token that is also control, white space stripping beside a special token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Attr(u16);

impl Attr {
    pub(crate) const NORMAL: Attr = Attr(1 << 1);
    pub(crate) const UNKNOWN: Attr = Attr(1 << 2);
    pub(crate) const CONTROL: Attr = Attr(1 << 3);
    pub(crate) const USER_DEFINED: Attr = Attr(1 << 4);
    pub(crate) const UNUSED: Attr = Attr(1 << 5);
    pub(crate) const BYTE: Attr = Attr(1 << 7);
    /// Strip white space to the left of the token when matching it in text.
    pub(crate) const LSTRIP: Attr = Attr(1 << 8);
    /// Strip white space to the right of the token when matching it in text.
    pub(crate) const RSTRIP: Attr = Attr(1 << 9);

    pub(crate) fn of(token_type: TokenType) -> Attr {
        match token_type {
            TokenType::Undefined => Attr(0),
            TokenType::Normal => Attr::NORMAL,
            TokenType::Unknown => Attr::UNKNOWN,
            TokenType::Control => Attr::CONTROL,
            TokenType::UserDefined => Attr::USER_DEFINED,
            TokenType::Unused => Attr::UNUSED,
            TokenType::Byte => Attr::BYTE,
        }
    }

    /// Whether any of `other`'s bits are set.
    pub(crate) fn has(self, other: Attr) -> bool {
        self.0 & other.0 != 0
    }

    pub(crate) fn with(self, other: Attr) -> Attr {
        Attr(self.0 | other.0)
    }

    pub(crate) fn without(self, other: Attr) -> Attr {
        Attr(self.0 & !other.0)
    }
}

impl std::ops::BitOr for Attr {
    type Output = Attr;

    fn bitor(self, rhs: Attr) -> Attr {
        self.with(rhs)
    }
}

/// Token texts, types, scores and the text-to-id map.
#[derive(Debug, Clone)]
pub(crate) struct Vocab {
    /// The GGUF file, for errors.
    pub(crate) path: PathBuf,
    /// Each token's text as stored (GPT-2 byte-mapped for byte-level BPE, `▁` for spaces in
    /// SentencePiece).
    pub(crate) texts: Vec<String>,
    /// Each token's type as the file says.
    pub(crate) types: Vec<TokenType>,
    /// Each token's attributes after llama.cpp's fix-ups.
    pub(crate) attrs: Vec<Attr>,
    /// Each token's score (0 when the file has none).
    pub(crate) scores: Vec<f32>,
    /// Text -> id, over every token.
    pub(crate) ids: FxHashMap<String, u32>,
}

impl Vocab {
    /// Reads tokens, types and scores from `metadata`.
    pub(crate) fn load(metadata: &Metadata) -> GgufResult<Vocab> {
        let path = metadata.path().to_path_buf();
        let bad = |key: &'static str, message: String| GgufError::Vocab {
            path: path.clone(),
            key,
            message,
        };
        let mut texts = metadata.get_str_array(TOKENS_KEY)?.to_vec();
        let n = texts.len();
        if n == 0 {
            return Err(bad(TOKENS_KEY, "the token list is empty".into()));
        }
        if u32::try_from(n).is_err() {
            return Err(bad(TOKENS_KEY, format!("{n} tokens do not fit u32 ids")));
        }
        let types: Vec<TokenType> = match metadata.get(TOKEN_TYPE_KEY) {
            None => vec![TokenType::Normal; n],
            Some(_) => {
                let raw = metadata.get_i32_array(TOKEN_TYPE_KEY)?;
                if raw.len() < n {
                    return Err(bad(
                        TOKEN_TYPE_KEY,
                        format!("{} types for {n} tokens", raw.len()),
                    ));
                }
                raw[..n].iter().map(|&t| TokenType::from_id(t)).collect()
            }
        };
        let scores = match metadata.get(SCORES_KEY) {
            None => vec![0.0; n],
            Some(_) => {
                let scores: Vec<f32> = match metadata.get_array(SCORES_KEY)? {
                    Array::F32(v) => v.clone(),
                    Array::I32(v) => v.iter().map(|&s| s as f32).collect(),
                    other => {
                        return Err(bad(
                            SCORES_KEY,
                            format!(
                                "holds {}, expected an array of f32 or i32",
                                other.type_description()
                            ),
                        ));
                    }
                };
                if scores.len() < n {
                    return Err(bad(
                        SCORES_KEY,
                        format!("{} scores for {n} tokens", scores.len()),
                    ));
                }
                scores[..n].to_vec()
            }
        };
        let mut ids = FxHashMap::default();
        ids.reserve(n);
        for (id, text) in texts.iter_mut().enumerate() {
            if text.is_empty() {
                // llama.cpp's stand-in, so the id still has a text of its own.
                *text = format!("[EMPTY_{id}]");
            }
            if let Some(previous) = ids.insert(text.clone(), id as u32) {
                return Err(bad(
                    TOKENS_KEY,
                    format!("tokens {previous} and {id} are both {text:?}"),
                ));
            }
        }
        let attrs = types.iter().map(|&t| Attr::of(t)).collect();
        Ok(Vocab {
            path,
            texts,
            types,
            attrs,
            scores,
            ids,
        })
    }

    /// Number of tokens.
    pub(crate) fn len(&self) -> usize {
        self.texts.len()
    }

    /// The id of the token whose stored text is `text`.
    pub(crate) fn id(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    /// The file, for errors.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Applies `f` to the attributes of the token with text `text`, if there is one.
    pub(crate) fn update_attr(&mut self, text: &str, f: impl FnOnce(Attr) -> Attr) {
        if let Some(id) = self.id(text) {
            let attr = &mut self.attrs[id as usize];
            *attr = f(*attr);
        }
    }

    /// Whether the token is matched in text before pre-tokenization (control, user-defined and
    /// unknown tokens).
    pub(crate) fn is_special(&self, id: u32) -> bool {
        self.attrs[id as usize].has(Attr::CONTROL | Attr::USER_DEFINED | Attr::UNKNOWN)
    }
}
