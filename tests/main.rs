//! End-to-end tests across the crates, one binary.

#[cfg(feature = "wgpu")]
mod backend_agreement;
