//! One module per subcommand.

pub mod embed;
pub mod embedder;
pub mod export;
mod fault_injection;
pub mod finetune;
pub mod generate;
pub mod index;
pub mod model_args;
pub mod perplexity;
pub mod prepare;
pub mod quantize;
pub mod serve;
pub mod tokenizer;
pub mod train;
