//! claude-core's integration tests, one binary: the model against independent references, the
//! key/value cache against the full forward pass, and model files.

mod adapter;
mod gguf_errors;
mod gguf_export;
mod hf;
mod hf_real;
mod kv_cache;
mod lora;
mod model;
mod model_file;
mod peft;
mod pretrained;
mod quant_mix;
mod support;
