//! Tokenizers stored in GGUF files (`tokenizer.ggml.*` metadata), giving the ids llama.cpp
//! gives.
//!
//! - `tokenizer.ggml.model = "gpt2"`: byte-level BPE with `tokenizer.ggml.merges` and the
//!   pre-tokenizer `tokenizer.ggml.pre` names ([`PreTokenizer`]: `gpt-2`, `default`,
//!   `llama-bpe` for Llama 3, `qwen2`, `smollm` and the names llama.cpp treats as one of them).
//! - `tokenizer.ggml.model = "llama"`: SentencePiece BPE by `tokenizer.ggml.scores`, with the
//!   `<0xXX>` byte-fallback tokens and the leading `▁` (Llama 1/2, Phi-3).
//!
//! Token types (`tokenizer.ggml.token_type`) decide which tokens are special: user-defined
//! tokens are always matched in text as a whole, control tokens (`<s>`, `<|eot_id|>`) only when
//! [`EncodeOptions::parse_special`] is set. [`EncodeOptions::add_special`] adds BOS / EOS as
//! `tokenizer.ggml.add_bos_token` / `add_eos_token` (or llama.cpp's default for the model) say.
//! Decoding follows llama.cpp's detokenizer ([`DecodeOptions`]).
//!
//! Hugging Face's `tokenizer.json` builds the same tokenizer ([`GgufTokenizer::from_hf_dir`]:
//! byte-level BPE, and SentencePiece-style BPE with byte fallback; see `hf.rs`).
//!
//! Either way, [`GgufTokenizer::gguf_metadata`] writes the tokenizer back as `tokenizer.ggml.*`
//! metadata the way llama.cpp's converter does, for the GGUF files we write
//! ([`pad_gguf_vocabulary`] pads it to a larger token table).
//!
//! ```no_run
//! use claude_tokenizer::gguf::{DecodeOptions, EncodeOptions, GgufTokenizer};
//!
//! let tokenizer = GgufTokenizer::open("model.gguf")?;
//! let ids = tokenizer.encode("Hello world", EncodeOptions::default());
//! assert_eq!(tokenizer.decode(&ids, DecodeOptions::default())?, "Hello world");
//! # Ok::<(), claude_tokenizer::gguf::GgufError>(())
//! ```

mod bpe;
mod config;
mod decode;
mod error;
mod export;
mod fixups;
mod hf;
mod pre;
mod specials;
mod spm;
mod vocab;

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::Path;

use claude_gguf::{GgufFile, Metadata};

pub use config::{MERGES_KEY, MODEL_KEY, ModelKind, PRE_KEY, SpecialIds};
pub use decode::DecodeOptions;
pub use error::{GgufError, GgufResult};
pub use export::{gguf_metadata, pad_gguf_vocabulary};
pub use hf::{TOKENIZER_CONFIG_JSON, TOKENIZER_JSON};
pub use pre::PreTokenizer;
pub use vocab::{SCORES_KEY, TOKEN_TYPE_KEY, TOKENS_KEY, TokenType};

use bpe::GgufBpe;
use config::Config;
use specials::{Fragment, Specials};
use spm::Spm;
use vocab::{Attr, Vocab};

/// How text becomes ids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Add BOS / EOS where the tokenizer adds them.
    pub add_special: bool,
    /// Match control tokens (`<s>`, `<|im_start|>`...) in the text; user-defined tokens are
    /// matched either way.
    pub parse_special: bool,
}

/// The model behind a [`GgufTokenizer`].
// One value per tokenizer, never stored in bulk: the size gap between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Model {
    Bpe(GgufBpe),
    Spm(Spm),
}

/// A tokenizer built from a GGUF file's metadata.
#[derive(Debug, Clone)]
pub struct GgufTokenizer {
    vocab: Vocab,
    config: Config,
    specials: Specials,
    eog: BTreeSet<u32>,
    model: Model,
    /// Text is put in Unicode normalization form C before byte-level BPE (a Hugging Face
    /// `NFC` normalizer, as Qwen2's); llama.cpp does not normalize.
    nfc: bool,
}

impl GgufTokenizer {
    /// Opens `path` and builds the tokenizer its metadata describes.
    pub fn open(path: impl AsRef<Path>) -> GgufResult<Self> {
        let file = GgufFile::open(path)?;
        Self::from_metadata(file.metadata())
    }

    /// Builds the tokenizer `metadata` describes (errors name its file and the key at fault).
    pub fn from_metadata(metadata: &Metadata) -> GgufResult<Self> {
        let mut vocab = Vocab::load(metadata)?;
        let mut config = Config::load(metadata, vocab.len())?;
        let name = metadata.opt_str("general.name")?.unwrap_or("");
        let eog = fixups::apply(&mut vocab, &mut config.ids, name);
        let specials = Specials::new(&vocab);
        let model = match (config.kind, config.pre) {
            (ModelKind::Bpe, Some(pre)) => {
                Model::Bpe(GgufBpe::new(&vocab, metadata, pre, config.ignore_merges)?)
            }
            _ => Model::Spm(Spm::new(&vocab, config.ids.unk)),
        };
        Ok(GgufTokenizer {
            vocab,
            config,
            specials,
            eog,
            model,
            nfc: false,
        })
    }

    /// Byte-level BPE or SentencePiece.
    pub fn kind(&self) -> ModelKind {
        self.config.kind
    }

    /// The pre-tokenizer of a byte-level BPE tokenizer.
    pub fn pre_tokenizer(&self) -> Option<PreTokenizer> {
        match &self.model {
            Model::Bpe(bpe) => Some(bpe.pre()),
            Model::Spm(_) => None,
        }
    }

    /// Number of tokens.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// The stored text of token `id` (GPT-2 byte-mapped, or with `▁` for spaces).
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.vocab.texts.get(id as usize).map(String::as_str)
    }

    /// The type the file gives token `id`.
    pub fn token_type(&self, id: u32) -> Option<TokenType> {
        self.vocab.types.get(id as usize).copied()
    }

    /// The id of the token whose stored text is `text`.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.vocab.id(text)
    }

    /// The special-token ids (from the metadata, llama.cpp's defaults, or found by text).
    pub fn special_ids(&self) -> SpecialIds {
        self.config.ids
    }

    /// Whether encoding with [`EncodeOptions::add_special`] starts with BOS.
    pub fn adds_bos(&self) -> bool {
        self.config.add_bos
    }

    /// Whether encoding with [`EncodeOptions::add_special`] ends with EOS.
    pub fn adds_eos(&self) -> bool {
        self.config.add_eos
    }

    /// Whether generating `id` ends generation (EOS, end of turn and the like).
    pub fn is_end_of_generation(&self, id: u32) -> bool {
        self.eog.contains(&id)
    }

    /// The ids that end generation, ascending.
    pub fn end_of_generation_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.eog.iter().copied()
    }

    /// Encodes `text`.
    pub fn encode(&self, text: &str, options: EncodeOptions) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if options.add_special
            && self.config.add_bos
            && let Some(bos) = self.config.ids.bos
        {
            out.push(bos);
        }
        let fragments = self
            .specials
            .partition(&self.vocab, text, options.parse_special);
        match &self.model {
            Model::Bpe(bpe) => {
                for fragment in fragments {
                    match fragment {
                        Fragment::Text(text) if self.nfc => {
                            use unicode_normalization::UnicodeNormalization;
                            let text: String = text.nfc().collect();
                            bpe.encode_into(&self.vocab, &text, &mut out);
                        }
                        Fragment::Text(text) => bpe.encode_into(&self.vocab, text, &mut out),
                        Fragment::Token(id) => out.push(id),
                    }
                }
            }
            Model::Spm(spm) => {
                // A space goes before the text, and again after every special token.
                let mut after_special = true;
                let mut escaped = String::new();
                for fragment in fragments {
                    match fragment {
                        Fragment::Text(text) => {
                            escaped.clear();
                            if self.config.add_space_prefix && after_special {
                                escaped.push('▁');
                            }
                            for c in text.chars() {
                                escaped.push(if c == ' ' { '▁' } else { c });
                            }
                            spm.encode_into(&self.vocab, &escaped, &mut out);
                            after_special = false;
                        }
                        Fragment::Token(id) => {
                            out.push(id);
                            after_special = true;
                        }
                    }
                }
            }
        }
        if options.add_special
            && self.config.add_eos
            && let Some(eos) = self.config.ids.eos
        {
            out.push(eos);
        }
        out
    }

    /// The bytes token `id` renders as: control and unknown tokens only when `special` is set
    /// (otherwise nothing).
    pub fn token_piece(&self, id: u32, special: bool) -> GgufResult<Cow<'_, [u8]>> {
        let attr = *self
            .vocab
            .attrs
            .get(id as usize)
            .ok_or(crate::Error::IdOutOfRange {
                id,
                position: 0,
                vocab_size: self.vocab.len(),
            })?;
        let text = &self.vocab.texts[id as usize];
        Ok(if attr.has(Attr::UNKNOWN | Attr::CONTROL) && !special {
            Cow::Borrowed(&[])
        } else if attr.has(Attr::UNKNOWN | Attr::CONTROL | Attr::USER_DEFINED) {
            Cow::Borrowed(text.as_bytes())
        } else if attr.has(Attr::NORMAL) {
            match &self.model {
                Model::Bpe(bpe) => Cow::Borrowed(bpe.token_bytes(id)),
                Model::Spm(_) => Cow::Owned(text.replace('▁', " ").into_bytes()),
            }
        } else if attr.has(Attr::BYTE) {
            Cow::Owned(decode::byte_of(text).into_iter().collect())
        } else {
            Cow::Borrowed(&[])
        })
    }

    /// Decodes ids to bytes (exactly, a character split across ids stays split).
    pub fn decode_bytes(&self, ids: &[u32], options: DecodeOptions) -> GgufResult<Vec<u8>> {
        if let Some((position, &id)) = ids
            .iter()
            .enumerate()
            .find(|&(_, &id)| id as usize >= self.vocab.len())
        {
            return Err(crate::Error::IdOutOfRange {
                id,
                position,
                vocab_size: self.vocab.len(),
            }
            .into());
        }
        let mut ids = ids;
        let mut remove_space = self.config.add_space_prefix;
        if options.remove_special
            && self.config.add_bos
            && let Some((&first, rest)) = ids.split_first()
            && Some(first) == self.config.ids.bos
        {
            remove_space = false;
            ids = rest;
        }
        if options.remove_special
            && self.config.add_eos
            && let Some((&last, rest)) = ids.split_last()
            && Some(last) == self.config.ids.eos
        {
            ids = rest;
        }
        let mut out = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            let piece = self.token_piece(id, options.unparse_special)?;
            let piece = match piece.strip_prefix(b" ") {
                Some(rest) if remove_space => rest,
                _ => &piece[..],
            };
            out.extend_from_slice(piece);
            remove_space = false;
        }
        if self.config.clean_spaces {
            decode::clean_spaces(&mut out);
        }
        Ok(out)
    }

    /// Decodes ids to text; bytes that do not form valid UTF-8 become U+FFFD.
    pub fn decode(&self, ids: &[u32], options: DecodeOptions) -> GgufResult<String> {
        let bytes = self.decode_bytes(ids, options)?;
        Ok(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
        })
    }
}
