//! The CubeCL kernels and their launches for [`CubeBackend`]: one source for wgpu (WGSL/SPIR-V)
//! and CUDA.

mod attention;
mod codes;
mod matmul;
mod matvec;
mod reduce;

use std::sync::atomic::{AtomicBool, Ordering};

use burn::backend::TensorMetadata;
use burn::backend::cubecl::dtype_to_storage_type;
use burn::tensor::{DType, Shape};
use burn_cubecl::cubecl::{self, prelude::*};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::{CubeBackend, tensor::CubeTensor};

use crate::extension::ShaderOps;

/// Shared memory a kernel may use (lavapipe reports 32 KiB; half leaves room on every device).
const SHARED_BYTES: usize = 16 * 1024;

/// Whether the kernels use plane (subgroup) operations: where the device reports them, unless
/// [`crate::set_plane_ops`] says otherwise. The first call says which reductions they use.
fn has_plane_ops(x: &CubeTensor) -> bool {
    static TOLD: AtomicBool = AtomicBool::new(false);
    let reported = x
        .client
        .properties()
        .features
        .plane
        .contains(cubecl::features::Plane::Ops);
    let plane = crate::plane_ops(reported);
    if !TOLD.swap(true, Ordering::Relaxed) {
        crate::note_once(match plane {
            true => "our GPU kernels reduce with plane (subgroup) operations".into(),
            false => "our GPU kernels reduce in shared memory: the device reports no plane \
                      (subgroup) operations"
                .into(),
        });
    }
    plane
}

/// Whether the device can run the tiled matmul ([`matmul::UNITS`] units and
/// [`matmul::SHARED_BYTES`] of shared memory per cube); if not, prompts take the mat-vec kernel
/// and a note says so once.
fn takes_tiled_matmul(x: &CubeTensor) -> bool {
    let properties = x.client.properties();
    let hardware = &properties.hardware;
    let fits = hardware.max_units_per_cube as usize >= matmul::UNITS
        && hardware.max_shared_memory_size >= matmul::SHARED_BYTES;
    if !fits {
        crate::note_once(format!(
            "this GPU allows {} units and {} bytes of shared memory per cube; the tiled packed \
             matmul needs {} and {}, so prompts take the mat-vec kernel",
            hardware.max_units_per_cube,
            hardware.max_shared_memory_size,
            matmul::UNITS,
            matmul::SHARED_BYTES
        ));
    }
    fits
}

fn empty(like: &CubeTensor, shape: Shape, dtype: DType) -> CubeTensor {
    empty_device_contiguous_dtype(like.client.clone(), like.device.clone(), shape, dtype)
}

/// Keys per shared-memory tile for heads of `head_dim` (keys and values: two tiles).
pub(crate) fn key_tile(head_dim: usize) -> usize {
    (SHARED_BYTES / (2 * 4 * head_dim)).clamp(1, 64)
}

/// Keys per decode chunk: a chunk per cube, so long caches spread over many cubes.
const DECODE_CHUNK: usize = 256;
/// Units of a decode cube (their accumulators share one tile: `units * head_dim` floats).
const DECODE_UNITS: usize = 32;

impl ShaderOps for CubeBackend {
    fn packed_matmul(
        x: CubeTensor,
        words: CubeTensor,
        scales: CubeTensor,
        offsets: CubeTensor,
        q4: bool,
    ) -> CubeTensor {
        let x = into_contiguous(x);
        let [n, _] = x.shape().dims::<2>();
        let [rows, _] = scales.shape().dims::<2>();
        let out = empty(&x, Shape::new([n, rows]), x.dtype);
        let (words, scales) = (into_contiguous(words), into_contiguous(scales));
        let offsets = into_contiguous(offsets);
        let dtype = dtype_to_storage_type(x.dtype);
        if n > matvec::MAX_ROWS && takes_tiled_matmul(&x) {
            matmul::packed_matmul_kernel::launch(
                &x.client,
                CubeCount::Static(
                    rows.div_ceil(matmul::TILE) as u32,
                    n.div_ceil(matmul::TILE) as u32,
                    1,
                ),
                CubeDim::new_1d(matmul::UNITS as u32),
                x.clone().into_tensor_arg(),
                words.into_tensor_arg(),
                scales.into_tensor_arg(),
                offsets.into_tensor_arg(),
                out.clone().into_tensor_arg(),
                q4,
                dtype,
            );
            return out;
        }
        let tile_rows = matvec::tile_rows(n);
        matvec::packed_matvec_kernel::launch(
            &x.client,
            CubeCount::Static(rows as u32, n.div_ceil(tile_rows) as u32, 1),
            CubeDim::new_1d(matvec::UNITS as u32),
            x.clone().into_tensor_arg(),
            words.into_tensor_arg(),
            scales.into_tensor_arg(),
            offsets.into_tensor_arg(),
            out.clone().into_tensor_arg(),
            q4,
            matvec::UNITS,
            tile_rows,
            has_plane_ops(&x),
            dtype,
        );
        out
    }

    fn flash_attention(
        q: CubeTensor,
        k: CubeTensor,
        v: CubeTensor,
        key_lens: CubeTensor,
    ) -> CubeTensor {
        let (q, k, v) = (into_contiguous(q), into_contiguous(k), into_contiguous(v));
        let key_lens = into_contiguous(key_lens);
        let [batch, heads, tq, head_dim] = q.shape().dims::<4>();
        let [_, _, tk, _] = k.shape().dims::<4>();
        let out = empty(&q, q.shape(), q.dtype);
        let scale = 1.0 / (head_dim as f32).sqrt();
        let dtype = dtype_to_storage_type(q.dtype);
        if tq > 1 {
            let units = 32usize;
            attention::attention_prefill_kernel::launch(
                &q.client,
                CubeCount::Static(tq.div_ceil(units) as u32, heads as u32, batch as u32),
                CubeDim::new_1d(units as u32),
                q.clone().into_tensor_arg(),
                k.into_tensor_arg(),
                v.into_tensor_arg(),
                key_lens.into_tensor_arg(),
                out.clone().into_tensor_arg(),
                scale,
                head_dim,
                key_tile(head_dim),
                dtype,
            );
            return out;
        }
        let splits = tk.div_ceil(DECODE_CHUNK).max(1);
        let partial_acc = empty(&q, Shape::new([batch, heads, splits, head_dim]), q.dtype);
        let partial_stats = empty(&q, Shape::new([batch, heads, splits, 2]), q.dtype);
        attention::attention_decode_kernel::launch(
            &q.client,
            CubeCount::Static(splits as u32, heads as u32, batch as u32),
            CubeDim::new_1d(DECODE_UNITS as u32),
            q.clone().into_tensor_arg(),
            k.into_tensor_arg(),
            v.into_tensor_arg(),
            key_lens.into_tensor_arg(),
            partial_acc.clone().into_tensor_arg(),
            partial_stats.clone().into_tensor_arg(),
            scale,
            DECODE_CHUNK as u32,
            head_dim,
            DECODE_UNITS,
            has_plane_ops(&q),
            dtype,
        );
        attention::attention_combine_kernel::launch(
            &q.client,
            CubeCount::Static(heads as u32, batch as u32, 1),
            CubeDim::new_1d(head_dim as u32),
            partial_acc.into_tensor_arg(),
            partial_stats.into_tensor_arg(),
            out.clone().into_tensor_arg(),
            head_dim,
            dtype,
        );
        out
    }
}
