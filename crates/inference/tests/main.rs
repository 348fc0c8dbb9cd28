//! claude-inference's integration tests, one binary: the KV-cache generator against the uncached
//! loop, chat templates, the one loader, pretrained models and the GPU benchmark's smoke run.

mod chat_templates;
mod constraint;
mod generate;
mod gpu_bench;
mod hf_folder;
mod open;
mod prefill;
mod pretrained;
mod real_models;
mod tool_calls;
