//! claude-core: a decoder-only (GPT-style) Transformer on burn.
//!
//! Pre-norm blocks of causal multi-head self-attention and an MLP, as in GPT-2 (Radford et al.,
//! 2019) and nanoGPT, with the modern variants selectable in [`ModelConfig`]: rotary, learned or
//! sinusoidal positions; GeLU or SwiGLU; LayerNorm or RMSNorm; biases on or off; tied or separate
//! output embeddings. The code names no backend: it runs wherever a burn `Device` points.
//!
//! Model files ([`Gpt::save`], [`Gpt::load`]) are `.safetensors` with the config in the header.
//!
//! ```no_run
//! use burn::module::Module;
//! use claude_core::{Gpt, ModelConfig};
//! # fn demo(device: &burn::tensor::Device) -> Result<(), claude_core::ModelFileError> {
//! let config = ModelConfig {
//!     vocab_size: 65,
//!     context_length: 64,
//!     n_layer: 4,
//!     n_head: 4,
//!     d_model: 128,
//!     ..ModelConfig::default()
//! };
//! let model = config.init(device);
//! println!("{} parameters", model.num_params());
//! model.save("model.safetensors".as_ref())?;
//! let again = Gpt::load("model.safetensors".as_ref(), device)?;
//! # Ok(())
//! # }
//! ```

mod attention;
mod block;
mod branch;
mod config;
mod embedding;
mod init;
#[cfg(test)]
mod known_answers;
mod kv_cache;
mod lora;
mod mlp;
mod model_file;
mod norm;
mod position;
mod projection;
mod quant_mix;
mod quantize;
mod rows;
mod transformer;

pub use attention::CausalSelfAttention;
pub use block::Block;
pub use claude_tensors::kernels::packed_matmul::PackedArithmetic;
pub use config::{Activation, ConfigError, ModelConfig, NormKind, Positions, SlidingWindow};
pub use embedding::{PackedTable, TokenEmbedding};
pub use kv_cache::{KvCache, KvCacheType};
pub use lora::{Adapter, Lora, LoraError, LoraSettings, LoraSlice, LoraTarget};
pub use mlp::Mlp;
pub use model_file::{
    AdapterFormat, AdapterInfo, HF_CONFIG_FILE, HfModel, InvalidModelFile, MODEL_FILE, ModelFile,
    ModelFileError, ModelFormat, PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE, UnsupportedModelFile,
    model_file, read_config,
};
pub use norm::Norm;
pub use position::PositionEmbedding;
pub use projection::{FloatLinear, PackedLinear, Projection};
pub use quant_mix::{QuantScheme, TensorRole, more_bits};
pub use quantize::QuantizeError;
pub use transformer::Gpt;
