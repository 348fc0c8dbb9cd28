//! [`Tokenizer`]: one type for every kind of tokenizer the rest of the stack uses.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::bpe::{AllowedSpecial, BpeTokenizer};
use crate::char_level::CharTokenizer;
use crate::error::Result;
use crate::files;
use crate::gguf::{DecodeOptions, EncodeOptions, GgufTokenizer};
use crate::text_stream::CutRule;

/// The conventional end-of-text special token; data preparation puts it between documents.
pub const END_OF_TEXT: &str = "<|endoftext|>";

/// A byte-level BPE, a character-level, or a GGUF file's tokenizer.
// One value per process, never stored in bulk: the size gap between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Tokenizer {
    /// Byte-level BPE (GPT-2 style).
    Bpe(BpeTokenizer),
    /// One token per character (nanoGPT's `shakespeare_char`).
    Char(CharTokenizer),
    /// The tokenizer stored in a GGUF model file (llama.cpp's `tokenizer.ggml.*`).
    Gguf(GgufTokenizer),
}

impl Tokenizer {
    /// Loads the tokenizer saved in `dir` (ours, Hugging Face's `vocab.json` + `merges.txt`,
    /// GPT-2's `encoder.json` + `vocab.bpe`, or else Hugging Face's `tokenizer.json`).
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        files::load(dir.as_ref())
    }

    /// The tokenizer inside the GGUF file `path`.
    pub fn from_gguf(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Tokenizer::Gguf(GgufTokenizer::open(path)?))
    }

    /// Saves into `dir`, atomically file by file. A GGUF file's tokenizer stays in its file
    /// (an error).
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        files::save(self, dir.as_ref())
    }

    /// Number of ids.
    pub fn vocab_size(&self) -> usize {
        match self {
            Tokenizer::Bpe(t) => t.vocab_size(),
            Tokenizer::Char(t) => t.vocab_size(),
            Tokenizer::Gguf(t) => t.vocab_size(),
        }
    }

    /// The BOS id [`Tokenizer::encode`] starts with, if it adds one (a GGUF tokenizer whose file
    /// says so).
    pub fn added_bos(&self) -> Option<u32> {
        match self {
            Tokenizer::Bpe(_) | Tokenizer::Char(_) => None,
            Tokenizer::Gguf(t) => t.adds_bos().then(|| t.special_ids().bos).flatten(),
        }
    }

    /// Encodes text; special-token text is ordinary text. A GGUF tokenizer adds BOS / EOS
    /// where its file says to, as llama.cpp does for a prompt. Fails only for a character
    /// tokenizer meeting a character outside its alphabet.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match self {
            Tokenizer::Bpe(t) => Ok(t.encode(text)),
            Tokenizer::Char(t) => t.encode(text),
            Tokenizer::Gguf(t) => Ok(t.encode(
                text,
                EncodeOptions {
                    add_special: true,
                    parse_special: false,
                },
            )),
        }
    }

    /// Encodes text, turning the allowed special tokens into their ids (a GGUF tokenizer:
    /// every control token, as a rendered chat template needs; no BOS / EOS is added, the
    /// template writes them).
    pub fn encode_with_special(&self, text: &str, allowed: AllowedSpecial<'_>) -> Result<Vec<u32>> {
        match self {
            Tokenizer::Bpe(t) => Ok(t.encode_with_special(text, allowed)),
            Tokenizer::Char(t) => t.encode(text),
            Tokenizer::Gguf(t) => Ok(t.encode(
                text,
                EncodeOptions {
                    add_special: false,
                    parse_special: true,
                },
            )),
        }
    }

    /// The exact bytes the ids stand for.
    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>> {
        match self {
            Tokenizer::Bpe(t) => t.decode_bytes(ids),
            Tokenizer::Char(t) => t.decode(ids).map(String::into_bytes),
            // Token by token, as streaming decodes: each token's own bytes, control tokens none.
            Tokenizer::Gguf(t) => {
                let mut bytes = Vec::new();
                for &id in ids {
                    bytes.extend_from_slice(&t.token_piece(id, false)?);
                }
                Ok(bytes)
            }
        }
    }

    /// Decodes ids to text (invalid UTF-8 from a partial character becomes U+FFFD).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        match self {
            Tokenizer::Bpe(t) => t.decode(ids),
            Tokenizer::Char(t) => t.decode(ids),
            Tokenizer::Gguf(t) => Ok(t.decode(ids, DecodeOptions::default())?),
        }
    }

    /// The id of the end-of-text token (a GGUF tokenizer's EOS), if the tokenizer has one.
    pub fn end_of_text(&self) -> Option<u32> {
        match self {
            Tokenizer::Bpe(t) => t.special_id(END_OF_TEXT),
            Tokenizer::Char(_) => None,
            Tokenizer::Gguf(t) => t.special_ids().eos,
        }
    }

    /// Whether generating `id` ends the text: the end-of-text token, or any of a GGUF
    /// tokenizer's end-of-generation tokens (EOS, `<|im_end|>`, `<|eot_id|>`, ...).
    pub fn is_end_of_generation(&self, id: u32) -> bool {
        match self {
            Tokenizer::Gguf(t) => t.is_end_of_generation(id),
            _ => self.end_of_text() == Some(id),
        }
    }

    /// Where a corpus may be cut so that encoding the pieces equals encoding the whole.
    pub fn cut_rule(&self) -> CutRule {
        match self {
            Tokenizer::Bpe(t) => CutRule::Pattern(t.pattern()),
            Tokenizer::Char(_) => CutRule::AnyNewline,
            // cl100k's rule, the strictest: cut only before a newline that follows a letter or a
            // digit (llama.cpp's pre-tokenizers, like cl100k, let punctuation and spaces swallow
            // the newlines after them).
            Tokenizer::Gguf(_) => CutRule::Pattern(crate::Pattern::Gpt4),
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
            Tokenizer::Gguf(t) => {
                field(b"gguf");
                field(format!("{:?} {:?}", t.kind(), t.pre_tokenizer()).as_bytes());
                for id in 0..t.vocab_size() as u32 {
                    field(t.token_text(id).unwrap_or_default().as_bytes());
                }
            }
        }
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}
