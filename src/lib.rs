//! claude-rust: a pure-Rust LLM stack on burn.
//!
//! This umbrella crate re-exports the workspace's library crates so that examples and end-to-end
//! tests have one import path:
//!
//! - [`tokenizer`]: byte-level BPE and character tokenizers, data preparation (`.bin` token files)
//!   and the memory-mapped reader.
//! - [`files`]: atomic writes and the shared data directory.
//! - [`tensors`]: device selection and backend features.
//! - [`core`]: the GPT model.
//! - [`trainer`]: the training loop, checkpoints and metrics.
//! - [`inference`]: loading a model file, sampling and generation.
//! - [`server`]: the OpenAI-compatible HTTP server.
//! - [`retrieval`]: the sentence embedder, chunking, dense/BM25/hybrid indexes and RAG grounding.
//! - [`cli`]: the `claude-rust` command line as functions.

pub use claude_cli as cli;
pub use claude_core as core;
pub use claude_files as files;
pub use claude_inference as inference;
pub use claude_retrieval as retrieval;
pub use claude_server as server;
pub use claude_tensors as tensors;
pub use claude_tokenizer as tokenizer;
pub use claude_trainer as trainer;
