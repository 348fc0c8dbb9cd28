//! Token data: preparing `train.bin` / `val.bin` from text, and reading them back.

mod prepare;
mod token_file;

pub use claude_files::{SHARED_DATA_ENV, shared_data_dir};
pub use prepare::{PrepareOptions, PrepareReport, prepare};
pub use token_file::{Sidecar, TokenFile, sidecar_path};
