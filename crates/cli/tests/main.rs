//! The `claude-rust` binary end to end, one test binary: tokenizer and prepare commands, training
//! (resume, precision, the default corpus, MPI jobs with the `mpi` feature), generation, and
//! serving.

mod cli;
#[cfg(feature = "mpi")]
mod mpi;
mod serve;
mod support;
mod train;
