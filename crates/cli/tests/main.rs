//! The `claude-rust` binary end to end, one test binary: tokenizer and prepare commands, training
//! (resume, precision, quantization, the default corpus, MPI jobs with the `mpi` feature), generation, and
//! serving.

mod cli;
#[cfg(feature = "mpi")]
mod mpi;
mod quantize;
mod serve;
mod support;
mod train;
