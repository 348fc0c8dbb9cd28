//! Token data: preparing `train.bin` / `val.bin` from text, and reading them back.

mod prepare;
mod shared_data;
mod token_file;

pub use prepare::{PrepareOptions, PrepareReport, prepare};
pub use shared_data::{SHARED_DATA_ENV, shared_data_dir};
pub use token_file::{Sidecar, TokenFile, sidecar_path};
