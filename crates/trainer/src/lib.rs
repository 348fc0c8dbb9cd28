//! Training claude-core GPTs.
//!
//! [`train`] runs a [`TrainConfig`] (a TOML file in `configs/`): tokens come memory-mapped from
//! `train.bin`, AdamW with weight decay on matrices only, warmup + cosine learning rate
//! ([`Schedule`]), global-norm clipping, gradient accumulation, mixed precision ([`Precision`]),
//! evaluation on `val.bin`, atomic checkpoints with exact resume, data parallel training over
//! devices and across MPI processes and machines ([`Mpi`]), and metrics to `metrics.jsonl` and a [`Reporter`].
//!
//! ```no_run
//! use claude_trainer::{RunOptions, TextReporter, TrainConfig, train};
//! # fn main() -> claude_trainer::Result<()> {
//! let config = TrainConfig::load("configs/tiny.toml".as_ref())?;
//! let options = RunOptions::new("out/tiny");
//! let mut reporter = TextReporter { every: config.train.log_interval };
//! let summary = train(config, &options, &mut reporter)?;
//! println!("val loss {:?}, newest checkpoint {}", summary.val_loss, summary.checkpoint.display());
//! # Ok(())
//! # }
//! ```

mod background_reporter;
mod batch;
mod checkpoint;
mod clip;
mod config;
mod corpus;
mod dashboard;
mod data;
mod distributed;
mod error;
mod evaluate;
mod metrics;
mod optim;
mod precision;
mod rows;
mod run;
mod schedule;
mod setup;
mod step;
mod trainee;

pub use background_reporter::BackgroundReporter;
pub use config::{DataConfig, LoopConfig, OptimConfig, Precision, RunConfigError, TrainConfig};
pub use corpus::{CACHE_ENV, TINYSHAKESPEARE_URL, TINYSHAKESPEARE_URL_ENV, default_corpus};
pub use dashboard::DashboardReporter;
pub use distributed::Mpi;
pub use error::{Error, Result};
pub use metrics::{Reporter, SilentReporter, StepMetrics, TextReporter};
pub use rows::{Batch, Row, TrainingRows};
pub use run::{Job, RunOptions, RunSummary, run_job, train};
pub use schedule::Schedule;
pub use trainee::{FreshModel, Trainee};
