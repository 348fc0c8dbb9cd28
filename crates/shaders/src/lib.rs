//! claude-shaders: our GPU kernels, written once in CubeCL (`#[cube]`) so that one source
//! compiles to WGSL/SPIR-V for wgpu (Vulkan, Metal, DX12) and to CUDA. See `README.md` beside
//! this crate for what each kernel computes, its tiling, limits and capability checks.
//!
//! - [`packed_matmul`]: activations times a packed weight ([`GpuPacked`]: Q4_0, Q4_1, Q8_0 and
//!   int8 converted from GGML's blocks at load), reading each packed block once per activation
//!   row and never materialising f32 weights.
//! - [`flash_attention`]: fused causal attention with online softmax, no `T x T` matrix in GPU
//!   memory, grouped-query heads, a prefill path and a decode path split along the cache.
//!
//! Both are operations of the backend extension [`ShaderOps`]: our kernels on CubeCL devices
//! (cargo feature `cube`), the portable computation on Flex. [`set_enabled`] (the CLI's
//! `--kernels off`) or `CLAUDE_RUST_KERNELS=off` turns ours off for comparisons.

mod extension;
pub mod layout;
mod portable;

#[cfg(feature = "cube")]
mod cube;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

use burn::backend::Dispatch;
#[cfg(feature = "cube")]
use burn::backend::DispatchDevice;
use burn::prelude::*;
use burn::tensor::DType;

pub use extension::ShaderOps;
pub use layout::{BLOCK, GpuFormat, GpuPacked};

/// The environment variable that turns our kernels off (`off`, `0` or `false`).
pub const KERNELS_ENV: &str = "CLAUDE_RUST_KERNELS";

/// 0: unset (read the environment), 1: on, 2: off.
static ENABLED: AtomicU8 = AtomicU8::new(0);

/// Whether our GPU kernels run where they can: on, unless [`set_enabled`] turned them off or
/// [`KERNELS_ENV`] says `off`.
pub fn enabled() -> bool {
    match ENABLED.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let off = std::env::var(KERNELS_ENV)
                .is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "off" | "0" | "false"));
            ENABLED.store(if off { 2 } else { 1 }, Ordering::Relaxed);
            !off
        }
    }
}

/// Turns our GPU kernels on or off for the whole process (burn's own ops run instead).
pub fn set_enabled(on: bool) {
    ENABLED.store(if on { 1 } else { 2 }, Ordering::Relaxed);
}

/// 0: as the device reports, 1: forced on, 2: forced off.
static PLANE_OPS: AtomicU8 = AtomicU8::new(0);

/// Overrides whether the kernels use plane (subgroup) operations: `None` as the device reports
/// them, `Some(false)` never (the shared-memory reductions), `Some(true)` always. Forcing them on
/// is for devices that have subgroups but do not report them: cubecl switches them off for every
/// CPU-type adapter, so this is how the tests run the plane paths on lavapipe.
pub fn set_plane_ops(choice: Option<bool>) {
    let code = match choice {
        None => 0,
        Some(true) => 1,
        Some(false) => 2,
    };
    PLANE_OPS.store(code, Ordering::Relaxed);
}

/// The kernels' plane ops: what the device `reported`, unless [`set_plane_ops`] overrode it.
#[cfg(feature = "cube")]
pub(crate) fn plane_ops(reported: bool) -> bool {
    match PLANE_OPS.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => reported,
    }
}

/// Whether `device` runs our CubeCL kernels: a CubeCL device (wgpu, CUDA) in a build with them,
/// while they are [`enabled`].
pub fn runs_kernels(device: &Device) -> bool {
    enabled() && is_cube_device(device)
}

/// Whether `device` is a CubeCL device (wgpu, CUDA) in a build with our kernels.
#[cfg(feature = "cube")]
fn is_cube_device(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Cube(_)
    )
}

/// Whether `device` is a CubeCL device: never, in a build without our kernels.
#[cfg(not(feature = "cube"))]
fn is_cube_device(_device: &Device) -> bool {
    false
}

/// Says `message` on standard error once per distinct message (why a kernel is not used).
pub fn note_once(message: String) {
    static SEEN: OnceLock<std::sync::Mutex<std::collections::HashSet<String>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    if seen.lock().expect("notes lock").insert(message.clone()) {
        eprintln!("note: {message}");
    }
}

/// A packed weight on a device, in our GPU layout: uploaded once, then read by every product.
#[derive(Debug, Clone)]
pub struct DeviceWeight {
    words: Tensor<1, Int>,
    scales: Tensor<2>,
    offsets: Tensor<2>,
    q4: bool,
    rows: usize,
    cols: usize,
}

impl DeviceWeight {
    /// Copies `packed` to `device`.
    pub fn upload(packed: &GpuPacked, device: &Device) -> Self {
        let blocks = packed.cols / BLOCK;
        let words = Tensor::from_data(
            TensorData::new(packed.words.clone(), [packed.words.len()]),
            (device, DType::I32),
        );
        let scales = Tensor::from_data(
            TensorData::new(packed.scales.clone(), [packed.rows, blocks]),
            (device, DType::F32),
        );
        let q4 = packed.format == GpuFormat::Q4;
        let offsets = match q4 {
            true => Tensor::from_data(
                TensorData::new(packed.offsets.clone(), [packed.rows, blocks]),
                (device, DType::F32),
            ),
            false => Tensor::zeros([1, 1], (device, DType::F32)),
        };
        DeviceWeight {
            words,
            scales,
            offsets,
            q4,
            rows: packed.rows,
            cols: packed.cols,
        }
    }

    /// Output rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
}

/// `x · Wᵀ` for the packed weight `w` (our kernel on a CubeCL device, the portable loop on the
/// CPU).
///
/// # Shapes
/// - x: `[n, w.cols()]` -> `[n, w.rows()]`
pub fn packed_matmul(x: Tensor<2>, w: &DeviceWeight) -> Tensor<2> {
    Tensor::from_dispatch(Dispatch::packed_matmul(
        x.into_dispatch(),
        w.words.clone().into_dispatch(),
        w.scales.clone().into_dispatch(),
        w.offsets.clone().into_dispatch(),
        w.q4,
    ))
}

/// Causal attention with online softmax, bottom-right aligned; `key_lens` holds each batch row's
/// number of valid keys (`[batch]`, between `tq` and `tk`).
///
/// # Shapes
/// - q: `[batch, heads, tq, head_dim]`, k and v: `[batch, kv_heads, tk, head_dim]` ->
///   `[batch, heads, tq, head_dim]`
pub fn flash_attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    key_lens: Tensor<1, Int>,
) -> Tensor<4> {
    Tensor::from_dispatch(Dispatch::flash_attention(
        q.into_dispatch(),
        k.into_dispatch(),
        v.into_dispatch(),
        key_lens.into_dispatch(),
    ))
}

/// Head widths the attention kernels are compiled for (each a comptime size); other widths keep
/// burn's attention.
pub const ATTENTION_HEAD_DIMS: [usize; 4] = [32, 64, 96, 128];
