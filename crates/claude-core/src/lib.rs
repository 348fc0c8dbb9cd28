//! claude-core: a decoder-only (GPT-style) Transformer on burn.
//!
//! Pre-norm blocks of causal multi-head self-attention and an MLP, as in GPT-2 (Radford et al.,
//! 2019) and nanoGPT, with the modern variants selectable in [`ModelConfig`]: rotary, learned or
//! sinusoidal positions; GeLU or SwiGLU; LayerNorm or RMSNorm; biases on or off; tied or separate
//! output embeddings. The code names no backend: it runs wherever a burn `Device` points.
//!
//! ```no_run
//! use burn::module::Module;
//! use claude_core::ModelConfig;
//! # fn demo(device: &burn::tensor::Device) {
//! let config = ModelConfig::new(65, 64, 4, 4, 128);
//! let model = config.init(device);
//! println!("{} parameters", model.num_params());
//! # }
//! ```

mod attention;
mod block;
mod config;
mod init;
mod kv_cache;
mod mlp;
mod norm;
mod position;
mod rows;
mod transformer;

pub use attention::CausalSelfAttention;
pub use block::Block;
pub use config::{Activation, ConfigError, ModelConfig, NormKind, Positions};
pub use kv_cache::KvCache;
pub use mlp::Mlp;
pub use norm::Norm;
pub use position::PositionEmbedding;
pub use transformer::Gpt;
