//! The packed matrix-vector product on CubeCL: `out[r][row] = x[r] · W[row]` with `W` in our GPU
//! layout ([`crate::layout`]), never decoded to memory.
//!
//! Tiling: one cube per (output row, tile of [`tile_rows`] activation rows); its units stride over
//! the row's blocks of 32 weights, each block read once as 4 (Q4) or 8 (Q8) words, decoded with
//! its scale into registers and multiplied by every activation row of the tile (decode has one
//! row, continuous batching and speculative steps a handful, a prompt many tiles). The units'
//! partial sums are then reduced in shared memory (every device; lavapipe has no subgroup
//! operations) or with `plane_sum` where the device reports plane ops ([`super::reduce`]).
//! Prompts (more than one tile of rows) take the tiled matmul instead ([`super::matmul`]).

use burn_cubecl::cubecl::{self, prelude::*};

use super::codes::{q4_code, q8_code};

use super::reduce::reduce_sum;

/// Units per cube: a power of two; a SmolLM2 row of 576 weights is 18 blocks.
pub(crate) const UNITS: usize = 32;
/// The most activation rows the mat-vec takes: more (a prompt) take the tiled matmul, where the
/// device can run it.
pub(crate) const MAX_ROWS: usize = 8;
/// Activation rows per cube: each weight block is read once for all of them (one for a single
/// row, which decoding has).
pub(crate) fn tile_rows(n: usize) -> usize {
    if n == 1 { 1 } else { MAX_ROWS }
}

#[cube(launch)]
pub(crate) fn packed_matvec_kernel<F: Float>(
    x: &Tensor<F>,
    words: &Tensor<i32>,
    scales: &Tensor<F>,
    offsets: &Tensor<F>,
    out: &mut Tensor<F>,
    #[comptime] q4: bool,
    #[comptime] units: usize,
    #[comptime] tile_rows: usize,
    #[comptime] use_plane: bool,
    #[define(F)] _dtype: ElemType,
) {
    let row = CUBE_POS_X as usize;
    let first = CUBE_POS_Y as usize * tile_rows;
    let unit = UNIT_POS_X as usize;
    let n = x.shape(0);
    let blocks = x.shape(1) / 32;

    let mut acc = Array::<F>::new(tile_rows);
    #[unroll]
    for t in 0..tile_rows {
        acc[t] = F::new(0.0);
    }
    let mut weights = Array::<F>::new(32usize);
    let mut b = unit;
    while b < blocks {
        let block = row * blocks + b;
        let d = scales[block];
        // The block's 32 weights, decoded once for every activation row of the tile.
        if q4 {
            let m = offsets[block];
            #[unroll]
            for w in 0..4usize {
                let word = words[block * 4 + w];
                #[unroll]
                for byte in 0..4usize {
                    let lo = F::cast_from(q4_code(word, 2 * byte));
                    let hi = F::cast_from(q4_code(word, 2 * byte + 1));
                    weights[4 * w + byte] = lo * d + m;
                    weights[16 + 4 * w + byte] = hi * d + m;
                }
            }
        } else {
            #[unroll]
            for w in 0..8usize {
                let word = words[block * 8 + w];
                #[unroll]
                for byte in 0..4usize {
                    let code = q8_code(word, byte);
                    weights[4 * w + byte] = F::cast_from(code) * d;
                }
            }
        }
        #[unroll]
        for t in 0..tile_rows {
            let r = first + t;
            if r < n {
                let xb = r * x.stride(0) + b * 32;
                let mut sum = F::new(0.0);
                #[unroll]
                for j in 0..32usize {
                    sum += weights[j] * x[xb + j];
                }
                acc[t] += sum;
            }
        }
        b += units;
    }

    #[unroll]
    for t in 0..tile_rows {
        let r = first + t;
        // The same for every unit of the cube, so the reduction's barriers stay uniform.
        if r < n {
            let total = reduce_sum::<F>(acc[t], units, use_plane);
            if unit == 0 {
                let at = r * out.stride(0) + row;
                out[at] = total;
            }
            sync_cube();
        }
    }
}
