//! claude-finetune: adapting a pretrained model to a user's data.
//!
//! Chat data (JSON lines of OpenAI-style `messages`, or plain `text` lines) is rendered with the
//! model's own chat template into token rows whose loss counts only the assistant's tokens
//! ([`data`]); the trainer's loop ([`claude_trainer::run_job`]: AdamW on the trainable
//! parameters, warmup and cosine, clipping, accumulation, checkpoints and exact resume, metrics,
//! data parallel) then trains the whole model ([`Method::Full`]), or LoRA adapters on a float
//! ([`Method::Lora`]) or packed ([`Method::Qlora`]) base. Checkpoints hold the adapters in PEFT's
//! and llama.cpp's formats, and [`Origin`] names the base, so that a checkpoint can be merged
//! and exported ([`Origin::load_merged`]).
//!
//! ```no_run
//! use claude_finetune::{FinetuneConfig, FinetuneJob, finetune};
//! use claude_trainer::{RunOptions, TextReporter};
//! # fn main() -> claude_finetune::Result<()> {
//! let job = FinetuneJob {
//!     model: "SmolLM2-135M-Instruct.Q4_1.gguf".into(),
//!     data: "chat.jsonl".into(),
//!     val: None,
//!     config: FinetuneConfig::load("configs/finetune-lora.toml".as_ref())?,
//! };
//! let mut reporter = TextReporter { every: 10 };
//! let summary = finetune(job, &RunOptions::new("runs/chat"), &mut reporter)?;
//! println!("best val loss {:?}", summary.run.best_val_loss);
//! # Ok(())
//! # }
//! ```

mod config;
pub mod data;
mod error;
mod origin;
mod rows;
mod run;
mod trainee;

pub use config::{FinetuneConfig, Method};
pub use error::{Error, Result};
pub use origin::{ADAPTER_DIR, ADAPTER_GGUF, ORIGIN_FILE, Origin};
pub use rows::ExampleRows;
pub use run::{FinetuneJob, FinetuneSummary, finetune};
pub use trainee::Pretrained;
