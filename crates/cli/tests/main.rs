//! The `claude-rust` binary end to end, one test binary: tokenizer and prepare commands, training
//! (resume, precision, quantization, the default corpus, MPI jobs with the `mpi` feature), generation,
//! serving (the agent API with the official OpenAI and Anthropic clients), document indexes and
//! retrieval-augmented chat.

mod agent_api;
mod cli;
mod export;
mod finetune;
mod hub;
mod hub_folder;
mod index;
#[cfg(feature = "mpi")]
mod mpi;
mod quantize;
mod rag;
mod serve;
mod support;
mod train;
