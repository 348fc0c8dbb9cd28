//! The backend seam of claude-rust.
//!
//! Model code is written once against burn's backend-agnostic `Tensor<D>` and `Device`; this crate
//! decides which backends are compiled in (cargo features) and turns a device string from the
//! command line into a [`Device`](burn::tensor::Device).
//!
//! | feature | backend | device strings |
//! |---|---|---|
//! | `flex` (default) | burn's pure-Rust CPU backend (gemm, SIMD, rayon) | `cpu`, `flex` |
//! | `wgpu` | Vulkan / Metal / DX12 through wgpu (lavapipe in CI) | `wgpu`, `wgpu:N` (N-th discrete GPU) |
//! | `cuda` | NVIDIA CUDA (building it downloads LLVM: needs network access) | `cuda`, `cuda:N` |
//! | `ndarray` | burn's older ndarray CPU backend (deprecated upstream) | `ndarray` |
//!
//! [`kernels`] holds our own kernels (fused causal attention on the CPU), each behind a
//! backend-agnostic function.

pub mod device;
pub mod kernels;

pub use burn;
pub use device::{DeviceError, DeviceSpec, compiled_backends, parse_device, parse_devices};
