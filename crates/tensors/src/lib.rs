//! The backend seam of claude-rust.
//!
//! Model code is written once against burn's backend-agnostic `Tensor<D>` and `Device`; this crate
//! decides which backends are compiled in (cargo features) and turns a device string from the
//! command line into a [`Device`](burn::tensor::Device).
//!
//! | feature | backend | device strings |
//! |---|---|---|
//! | (always) | burn's pure-Rust CPU backend, Flex (gemm, SIMD, rayon) | `cpu`, `flex` |
//! | `wgpu` | Vulkan / Metal / DX12 through wgpu (lavapipe in CI) | `wgpu`, `wgpu:N` (N-th discrete GPU) |
//! | `cuda` | NVIDIA CUDA (building it downloads LLVM: needs network access) | `cuda`, `cuda:N` |
//!
//! [`kernels`] holds our own CPU kernels, each behind a backend-agnostic function; [`threads`]
//! sets up rayon's pool for a training loop; [`team`] runs the small parallel loops of CPU decoding
//! on a persistent team of threads, without rayon's per-call wake-ups.

pub mod allocator;
pub mod device;
pub mod kernels;
/// Our GPU kernels (CubeCL), for the switch that turns them off ([`shaders::set_enabled`]).
pub use claude_shaders as shaders;
pub mod team;
pub mod threads;

pub use burn;
pub use device::{DeviceError, DeviceSpec, compiled_backends, parse_device, parse_devices};
