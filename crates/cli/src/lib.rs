//! The `claude-rust` command line as a library, so `examples/` run exactly the CLI's code.

pub mod commands;
pub mod hub;
