//! The `claude-rust` binary end to end, one test binary: tokenizer and prepare commands, training
//! (resume, multi-process, precision, the default corpus), generation, and serving.

mod cli;
mod serve;
mod support;
mod train;
