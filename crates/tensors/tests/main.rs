//! claude-tensors' integration tests, one binary: each of our kernels against burn's own ops.

mod gpu_fallbacks;
mod kernels;
