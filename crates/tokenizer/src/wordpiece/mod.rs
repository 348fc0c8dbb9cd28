//! WordPiece, BERT's tokenizer, as the sentence embedder all-MiniLM-L6-v2 uses it.
//!
//! Encoding runs, in order: special tokens spelled out in the text are taken as they are
//! (`[MASK]` stays one token); the rest is normalized ([`BertNormalizer`]: clean-up, spaces
//! around CJK ideographs, NFD + accent stripping, lower-casing), split into words on whitespace
//! and punctuation ([`split_words`]), and each word is split greedily into the longest pieces
//! in the vocabulary, `##` marking a piece that continues a word. A word with no such split, or
//! of more than 100 characters, becomes `[UNK]`. The ids agree with Hugging Face's `tokenizers`
//! (tested on the model's own `tokenizer.json`).
//!
//! ```no_run
//! use claude_tokenizer::WordPieceTokenizer;
//!
//! let tokenizer = WordPieceTokenizer::from_dir("shared/data/models/all-minilm-l6-v2")?;
//! let encoding = tokenizer.encode("Hello, world!");
//! assert_eq!(encoding.ids.first(), Some(&tokenizer.special_ids().cls));
//! assert!(!encoding.truncated());
//! # Ok::<(), claude_tokenizer::Error>(())
//! ```

mod basic;
mod chars;
mod files;
mod legacy;
mod model;
mod specials;

use rayon::prelude::*;

pub use basic::{BertNormalizer, split_words};
pub use files::read_vocab_txt;
pub use specials::{SpecialTokenIds, SpecialTokenNames};

use crate::error::{Error, Result};
use model::WordPieceModel;
use specials::{Piece, SpecialMatcher};

/// Everything that decides how a WordPiece tokenizer encodes, besides its vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordPieceConfig {
    /// How text is normalized before it is split into words.
    pub normalizer: BertNormalizer,
    /// What starts a piece that continues a word (`##`).
    pub continuing_subword_prefix: String,
    /// Words of more characters than this become `[UNK]` whole (100).
    pub max_input_chars_per_word: usize,
    /// The texts of the special tokens; each must be in the vocabulary.
    pub special_tokens: SpecialTokenNames,
    /// Tokens taken as one id where the input text spells them out, before any normalization
    /// (Hugging Face's added tokens; by default the five special tokens). Each must be in the
    /// vocabulary; empty turns this off.
    pub tokens_in_text: Vec<String>,
    /// The longest sequence [`WordPieceTokenizer::encode`] returns, `[CLS]` and `[SEP]`
    /// included (at least 2); `None` for no limit.
    pub max_len: Option<usize>,
}

impl Default for WordPieceConfig {
    /// Uncased BERT's settings, with no length limit.
    fn default() -> Self {
        let special_tokens = SpecialTokenNames::default();
        WordPieceConfig {
            normalizer: BertNormalizer::default(),
            continuing_subword_prefix: "##".into(),
            max_input_chars_per_word: 100,
            tokens_in_text: special_tokens.all().map(String::from).to_vec(),
            special_tokens,
            max_len: None,
        }
    }
}

/// The ids of one encoded text, and whether the length limit cut it short.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Encoding {
    /// The token ids.
    pub ids: Vec<u32>,
    /// How many tokens of the text the length limit dropped from the end (0: none).
    pub dropped: usize,
}

impl Encoding {
    /// Whether the length limit dropped any token.
    pub fn truncated(&self) -> bool {
        self.dropped > 0
    }
}

/// A WordPiece tokenizer (BERT's). Cheap to share between threads: encoding takes `&self`.
#[derive(Debug, Clone)]
pub struct WordPieceTokenizer {
    model: WordPieceModel,
    normalizer: BertNormalizer,
    specials: SpecialTokenIds,
    in_text: Option<SpecialMatcher>,
    max_len: Option<usize>,
}

impl WordPieceTokenizer {
    /// A tokenizer over `tokens` (the id of a token is its position). Fails when a token occurs
    /// twice, a special token or a token of `tokens_in_text` is not in the vocabulary, or
    /// `max_len` is below 2.
    pub fn new(tokens: Vec<String>, config: &WordPieceConfig) -> Result<Self> {
        Self::build(tokens, config).map_err(|message| Error::InvalidArgument {
            field: "WordPiece vocabulary",
            message,
        })
    }

    /// [`new`](Self::new), failing with a bare message that the file loaders put in context.
    pub(crate) fn build(
        tokens: Vec<String>,
        config: &WordPieceConfig,
    ) -> std::result::Result<Self, String> {
        if tokens.len() > u32::MAX as usize {
            return Err(format!("{} tokens do not fit 32-bit ids", tokens.len()));
        }
        check_max_len(config.max_len)?;
        let tokens = tokens.into_iter().map(String::into_boxed_str).collect();
        // The unknown token's id is looked up once the vocabulary is indexed.
        let mut model = WordPieceModel::new(
            tokens,
            &config.continuing_subword_prefix,
            0,
            config.max_input_chars_per_word,
        )
        .map_err(|(token, first, second)| {
            format!("token {token:?} occurs at ids {first} and {second}")
        })?;
        let id = |name: &str| {
            model
                .token_to_id(name)
                .ok_or_else(|| format!("special token {name:?} is not in the vocabulary"))
        };
        let names = &config.special_tokens;
        let specials = SpecialTokenIds {
            unk: id(&names.unk)?,
            cls: id(&names.cls)?,
            sep: id(&names.sep)?,
            pad: id(&names.pad)?,
            mask: id(&names.mask)?,
        };
        let in_text: Vec<(String, u32)> = config
            .tokens_in_text
            .iter()
            .map(|t| Ok((t.clone(), id(t)?)))
            .collect::<std::result::Result<_, String>>()?;
        let in_text = SpecialMatcher::new(&in_text).map_err(|e| format!("special tokens: {e}"))?;
        model.set_unk(specials.unk);
        Ok(WordPieceTokenizer {
            model,
            normalizer: config.normalizer,
            specials,
            in_text,
            max_len: config.max_len,
        })
    }

    /// Number of ids.
    pub fn vocab_size(&self) -> usize {
        self.model.vocab_size()
    }

    /// The id of a token (a continuation piece with its `##`).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.model.token_to_id(token)
    }

    /// The text of an id.
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        self.model.id_to_token(id)
    }

    /// The ids of `[UNK]`, `[CLS]`, `[SEP]`, `[PAD]` and `[MASK]`.
    pub fn special_ids(&self) -> SpecialTokenIds {
        self.specials
    }

    /// The normalization settings.
    pub fn normalizer(&self) -> BertNormalizer {
        self.normalizer
    }

    /// The longest sequence [`encode`](Self::encode) returns (`[CLS]` and `[SEP]` included);
    /// `None` for no limit.
    pub fn max_len(&self) -> Option<usize> {
        self.max_len
    }

    /// Sets the length limit; fails for a limit below 2 (no room for `[CLS]` and `[SEP]`).
    pub fn set_max_len(&mut self, max_len: Option<usize>) -> Result<()> {
        check_max_len(max_len).map_err(|message| Error::InvalidArgument {
            field: "max_len",
            message,
        })?;
        self.max_len = max_len;
        Ok(())
    }

    /// `[CLS]`, the ids of `text`, `[SEP]`: what the embedder feeds the model. Keeps the first
    /// `max_len - 2` ids of the text when there are more, and says how many it dropped.
    pub fn encode(&self, text: &str) -> Encoding {
        let mut ids = Vec::with_capacity(text.len() / 3 + 2);
        ids.push(self.specials.cls);
        self.tokenize_into(text, &mut ids);
        let dropped = match self.max_len {
            Some(max_len) => truncate(&mut ids, max_len - 1),
            None => 0,
        };
        ids.push(self.specials.sep);
        Encoding { ids, dropped }
    }

    /// The ids of `text` without `[CLS]` and `[SEP]`, the first `max_len` of them when there
    /// are more.
    pub fn encode_without_special(&self, text: &str) -> Encoding {
        let mut ids = self.tokenize(text);
        let dropped = match self.max_len {
            Some(max_len) => truncate(&mut ids, max_len),
            None => 0,
        };
        Encoding { ids, dropped }
    }

    /// [`encode`](Self::encode) for many texts, in parallel; the results are in input order.
    pub fn encode_batch<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Vec<Encoding> {
        texts.par_iter().map(|t| self.encode(t.as_ref())).collect()
    }

    /// All the ids of `text`: no `[CLS]` or `[SEP]`, no length limit.
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::with_capacity(text.len() / 3);
        self.tokenize_into(text, &mut ids);
        ids
    }

    /// Appends all the ids of `text` to `out` (no `[CLS]`/`[SEP]`, no length limit).
    pub fn tokenize_into(&self, text: &str, out: &mut Vec<u32>) {
        let mut normalized = String::new();
        let mut text_piece = |piece: &str, out: &mut Vec<u32>| {
            self.normalizer.normalize_into(piece, &mut normalized);
            split_words(&normalized, |word| self.model.split_word(word, out));
        };
        match &self.in_text {
            None => text_piece(text, out),
            Some(matcher) => matcher.split(text, |piece| match piece {
                Piece::Text(t) => text_piece(t, out),
                Piece::Special(id) => out.push(id),
            }),
        }
    }

    /// The text of `ids`, for reading: pieces separated by spaces, a `##` piece joined to the
    /// one before it. With `skip_special`, `[CLS]`, `[SEP]` and `[PAD]` are left out (`[UNK]`
    /// and `[MASK]` stand for text and stay). Normalization is not undone (accents and case
    /// are gone). Fails on an id outside the vocabulary.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        let prefix = self.model.prefix();
        let structural = [self.specials.cls, self.specials.sep, self.specials.pad];
        let mut out = String::new();
        for (position, &id) in ids.iter().enumerate() {
            let token = self.model.id_to_token(id).ok_or(Error::IdOutOfRange {
                id,
                position,
                vocab_size: self.vocab_size(),
            })?;
            if skip_special && structural.contains(&id) {
                continue;
            }
            match token.strip_prefix(prefix) {
                Some(rest) if !prefix.is_empty() && !out.is_empty() => out.push_str(rest),
                _ => {
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    out.push_str(token);
                }
            }
        }
        Ok(out)
    }
}

/// A length limit must leave room for `[CLS]` and `[SEP]`.
fn check_max_len(max_len: Option<usize>) -> std::result::Result<(), String> {
    match max_len {
        Some(n) if n < 2 => Err(format!(
            "{n} leaves no room for [CLS] and [SEP] (at least 2)"
        )),
        _ => Ok(()),
    }
}

/// Cuts `ids` to `keep` and returns how many it dropped.
fn truncate(ids: &mut Vec<u32>, keep: usize) -> usize {
    let dropped = ids.len().saturating_sub(keep);
    ids.truncate(keep);
    dropped
}
