//! [`Tokenizer`]: one type for every kind of tokenizer the rest of the stack uses.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::bpe::{AllowedSpecial, BpeTokenizer};
use crate::char_level::CharTokenizer;
use crate::error::Result;
use crate::files;
use crate::text_stream::CutRule;

/// The conventional end-of-text special token; data preparation puts it between documents.
pub const END_OF_TEXT: &str = "<|endoftext|>";

/// A byte-level BPE or a character-level tokenizer.
// One value per process, never stored in bulk: the size gap between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Tokenizer {
    /// Byte-level BPE (GPT-2 style).
    Bpe(BpeTokenizer),
    /// One token per character (nanoGPT's `shakespeare_char`).
    Char(CharTokenizer),
}

impl Tokenizer {
    /// Loads the tokenizer saved in `dir` (ours, Hugging Face's `vocab.json` + `merges.txt`, or
    /// GPT-2's `encoder.json` + `vocab.bpe`).
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        files::load(dir.as_ref())
    }

    /// Saves into `dir`, atomically file by file.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        files::save(self, dir.as_ref())
    }

    /// Number of ids.
    pub fn vocab_size(&self) -> usize {
        match self {
            Tokenizer::Bpe(t) => t.vocab_size(),
            Tokenizer::Char(t) => t.vocab_size(),
        }
    }

    /// Encodes text; special-token text is ordinary text. Fails only for a character tokenizer
    /// meeting a character outside its alphabet.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match self {
            Tokenizer::Bpe(t) => Ok(t.encode(text)),
            Tokenizer::Char(t) => t.encode(text),
        }
    }

    /// Encodes text, turning the allowed special tokens into their ids.
    pub fn encode_with_special(&self, text: &str, allowed: AllowedSpecial<'_>) -> Result<Vec<u32>> {
        match self {
            Tokenizer::Bpe(t) => Ok(t.encode_with_special(text, allowed)),
            Tokenizer::Char(t) => t.encode(text),
        }
    }

    /// The exact bytes the ids stand for.
    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>> {
        match self {
            Tokenizer::Bpe(t) => t.decode_bytes(ids),
            Tokenizer::Char(t) => t.decode(ids).map(String::into_bytes),
        }
    }

    /// Decodes ids to text (invalid UTF-8 from a partial character becomes U+FFFD).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        match self {
            Tokenizer::Bpe(t) => t.decode(ids),
            Tokenizer::Char(t) => t.decode(ids),
        }
    }

    /// The id of the end-of-text token, if the tokenizer has one.
    pub fn end_of_text(&self) -> Option<u32> {
        match self {
            Tokenizer::Bpe(t) => t.special_id(END_OF_TEXT),
            Tokenizer::Char(_) => None,
        }
    }

    /// Where a corpus may be cut so that encoding the pieces equals encoding the whole.
    pub fn cut_rule(&self) -> CutRule {
        match self {
            Tokenizer::Bpe(t) => CutRule::Pattern(t.pattern()),
            Tokenizer::Char(_) => CutRule::AnyNewline,
        }
    }

    /// A SHA-256 fingerprint of everything that decides the ids (kind, pattern, tokens, merges,
    /// special tokens), as lowercase hex. Token files record it to catch a tokenizer mix-up.
    pub fn fingerprint(&self) -> String {
        let mut hash = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        };
        match self {
            Tokenizer::Bpe(t) => {
                field(b"bpe");
                field(format!("{:?}", t.pattern()).as_bytes());
                for token in t.tokens() {
                    field(token);
                }
                for &(left, right) in t.merges() {
                    field(&[left.to_le_bytes(), right.to_le_bytes()].concat());
                }
                for (_, id) in t.special_tokens() {
                    field(&id.to_le_bytes());
                }
            }
            Tokenizer::Char(t) => {
                field(b"char");
                for c in t.chars() {
                    field(c.to_string().as_bytes());
                }
            }
        }
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}
