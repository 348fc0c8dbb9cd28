//! claude-rust: a pure-Rust LLM stack on burn.
//!
//! This umbrella crate re-exports the workspace's library crates so that examples and end-to-end
//! tests have one import path. Each crate is documented on its own:
//!
//! - [`tokenizer`]: byte-level BPE and character tokenizers, data preparation (`.bin` token files)
//!   and the memory-mapped reader.

pub use claude_tokenizer as tokenizer;
