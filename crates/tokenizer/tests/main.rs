//! claude-tokenizer's integration tests, one binary: tokenizer files, data preparation, round
//! trips, and the reference tokenizers and test suites of `shared/data/tokenizer`.

mod files;
mod gguf_export;
mod gguf_vocab;
mod hf_tokenizers;
mod prepare;
mod real_models;
mod reference;
mod roundtrip;
mod support;
mod wordpiece;
