//! claude-gguf's integration tests, one binary: real files read as their metadata dump says,
//! damaged files refused cleanly, and the writer round-trips.

mod corrupt;
mod real_files;
mod writer;
