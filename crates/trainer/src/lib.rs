//! Training claude-core GPTs.
//!
//! [`train`] runs a [`TrainConfig`] (a TOML file in `configs/`): tokens come memory-mapped from
//! `train.bin` ([`data`]), AdamW with weight decay on matrices only ([`optim`]), warmup + cosine
//! learning rate ([`schedule`]), global-norm clipping ([`clip`]), gradient accumulation,
//! evaluation on `val.bin`, atomic `.safetensors` checkpoints with resume ([`checkpoint`]), and
//! metrics to the terminal and `metrics.jsonl` ([`metrics`]).

pub mod batch;
pub mod checkpoint;
pub mod clip;
pub mod collective;
pub mod config;
pub mod dashboard;
pub mod data;
pub mod distributed;
mod error;
pub mod metrics;
pub mod optim;
pub mod precision;
pub mod run;
pub mod schedule;

pub use config::TrainConfig;
pub use error::{Error, Result};
pub use run::{RunOptions, RunSummary, train};
