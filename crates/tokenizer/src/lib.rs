//! Tokenizers and token data for the claude-rust stack.
//!
//! - [`BpeTokenizer`]: byte-level BPE as in GPT-2. Every byte is a token, so any text encodes and
//!   `decode(encode(s)) == s` for every valid UTF-8 `s`. Loads our files, Hugging Face's
//!   `vocab.json` + `merges.txt` and GPT-2's `encoder.json` + `vocab.bpe`.
//! - [`BpeTrainer`]: learns merges from text files, streamed and counted in parallel.
//! - [`CharTokenizer`]: one id per character, for nanoGPT-style `shakespeare_char` runs.
//! - [`Tokenizer`]: either of them, loaded from a directory.
//! - [`WordPieceTokenizer`]: BERT's WordPiece, for sentence embedders (all-MiniLM-L6-v2).
//! - [`data`]: corpus -> `train.bin` / `val.bin` (little-endian `u32` ids + JSON sidecar), and a
//!   memory-mapped reader that hands out random training windows.
//!
//! ```
//! use claude_tokenizer::{BpeTrainer, Tokenizer};
//!
//! let text = "the cat sat on the mat; the cat ate the rat";
//! let bpe = BpeTrainer::new(256 + 10).train_from_texts(&[text])?;
//! let tokenizer = Tokenizer::Bpe(bpe);
//! let ids = tokenizer.encode("the cat")?;
//! assert_eq!(tokenizer.decode(&ids)?, "the cat");
//! # Ok::<(), claude_tokenizer::Error>(())
//! ```

mod bpe;
pub mod bytes;
mod char_level;
pub mod data;
mod error;
pub mod files;
pub mod gguf;
mod merge;
pub mod pretokenize;
pub mod text_stream;
mod tokenizer;
mod train;
pub mod wordpiece;

pub use bpe::{AllowedSpecial, BpeTokenizer};
pub use char_level::CharTokenizer;
pub use error::{Error, Result};
pub use gguf::GgufTokenizer;
pub use pretokenize::Pattern;
pub use text_stream::Utf8Policy;
pub use tokenizer::{END_OF_TEXT, Tokenizer};
pub use train::BpeTrainer;
pub use wordpiece::WordPieceTokenizer;
