//! Generating text with a claude-core GPT.
//!
//! - [`SamplingParams`] / [`Sampler`]: temperature (0 = greedy) and top-k over next-token logits,
//!   seeded for reproducibility.
//! - [`generate`]: the plain autoregressive loop (each new token re-runs the model on the last
//!   `context_length` tokens).

mod generate;
mod sampler;

pub use generate::generate;
pub use sampler::{Sampler, SamplingParams};
