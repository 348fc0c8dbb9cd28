//! The packed matrix-vector product on CubeCL: `out[r][row] = x[r] · W[row]` with `W` in our GPU
//! layout ([`crate::layout`]), never decoded to memory.
//!
//! Tiling: one cube per (output row, activation row); its units stride over the row's blocks of
//! 32 weights, each block's codes read as 4 (Q4) or 8 (Q8) words and its scale applied once (Q4:
//! `d · Σ q x + m · Σ x`). The units' partial sums are then reduced in shared memory (every device;
//! lavapipe has no subgroup operations) or with `plane_sum` where the device reports plane ops.

use burn_cubecl::cubecl::{self, prelude::*};

/// Units per cube: a power of two; a SmolLM2 row of 576 weights is 18 blocks.
pub(crate) const UNITS: usize = 32;

#[cube(launch)]
pub(crate) fn packed_matvec_kernel<F: Float>(
    x: &Tensor<F>,
    words: &Tensor<i32>,
    scales: &Tensor<F>,
    offsets: &Tensor<F>,
    out: &mut Tensor<F>,
    #[comptime] q4: bool,
    #[comptime] units: usize,
    #[comptime] use_plane: bool,
    #[define(F)] _dtype: ElemType,
) {
    let row = CUBE_POS_X as usize;
    let r = CUBE_POS_Y as usize;
    let unit = UNIT_POS_X as usize;
    let blocks = x.shape(1) / 32;
    let x_row = r * x.stride(0);

    let mut acc = F::new(0.0);
    let mut b = unit;
    while b < blocks {
        let block = row * blocks + b;
        let xb = x_row + b * 32;
        if q4 {
            let mut sum_qx = F::new(0.0);
            let mut sum_x = F::new(0.0);
            #[unroll]
            for w in 0..4usize {
                let word = words[block * 4 + w];
                #[unroll]
                for byte in 0..4usize {
                    let lo = F::cast_from((word >> (8 * byte as i32)) & 15);
                    let hi = F::cast_from((word >> (8 * byte as i32 + 4)) & 15);
                    let x_lo = x[xb + 4 * w + byte];
                    let x_hi = x[xb + 16 + 4 * w + byte];
                    sum_qx += lo * x_lo + hi * x_hi;
                    sum_x += x_lo + x_hi;
                }
            }
            acc += scales[block] * sum_qx + offsets[block] * sum_x;
        } else {
            let mut sum_cx = F::new(0.0);
            #[unroll]
            for w in 0..8usize {
                let word = words[block * 8 + w];
                #[unroll]
                for byte in 0..4usize {
                    // Byte `byte` sign-extended: moved to the top, then arithmetically back.
                    let code = (word << (24 - 8 * byte as i32)) >> 24;
                    sum_cx += F::cast_from(code) * x[xb + 4 * w + byte];
                }
            }
            acc += scales[block] * sum_cx;
        }
        b += units;
    }

    let total = reduce_sum::<F>(acc, units, use_plane);
    if unit == 0 {
        let at = r * out.stride(0) + row;
        out[at] = total;
    }
}

/// The sum of every unit's `value`, valid in unit 0: a tree in shared memory, or `plane_sum`
/// within each plane and the planes' sums in shared memory.
#[cube]
pub(crate) fn reduce_sum<F: Float>(
    value: F,
    #[comptime] units: usize,
    #[comptime] use_plane: bool,
) -> F {
    let unit = UNIT_POS_X as usize;
    let mut partial = Shared::<[F]>::new_slice(units);
    if use_plane {
        let sum = plane_sum(value);
        let planes = CUBE_DIM_X as usize / PLANE_DIM as usize;
        if UNIT_POS_PLANE == 0 {
            partial[unit / PLANE_DIM as usize] = sum;
        }
        sync_cube();
        let mut total = F::new(0.0);
        if unit == 0 {
            for p in 0..planes {
                total += partial[p];
            }
        }
        total
    } else {
        partial[unit] = value;
        sync_cube();
        let mut stride = CUBE_DIM_X as usize / 2;
        while stride > 0 {
            if unit < stride {
                let other = partial[unit + stride];
                partial[unit] += other;
            }
            sync_cube();
            stride /= 2;
        }
        partial[0]
    }
}
