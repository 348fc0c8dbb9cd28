//! claude-inference's integration tests, one binary: the KV-cache generator against the uncached
//! loop, and the HTTP server over loopback.

mod chat_templates;
mod generate;
mod gpu_bench;
mod pretrained;
mod server;
