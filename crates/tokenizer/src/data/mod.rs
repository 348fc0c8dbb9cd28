//! Token data: preparing `train.bin` / `val.bin` from text, and reading them back.

mod prepare;
mod token_file;

pub use prepare::{PrepareOptions, PrepareReport, prepare};
pub use token_file::{Sidecar, TokenFile, sidecar_path};
