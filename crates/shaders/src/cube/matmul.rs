//! The blocked packed matmul for prompts: `out = x · Wᵀ` for many activation rows, with `W` in
//! our GPU layout ([`crate::layout`]).
//!
//! Tiling: one cube of [`UNITS`] units per output tile of [`TILE`] activation rows by [`TILE`]
//! weight rows. The cube walks the shared dimension one GGML block (32 columns) at a time: it
//! loads the tile's 32 activation columns and decodes the tile's weight blocks (each packed word
//! read once, its block's scale applied as it is decoded) into shared memory, both stored
//! column-major so that neighbouring units read neighbouring words, then each unit adds the
//! products for its [`MICRO`] x [`MICRO`] outputs (rows `ty + 16 i`, columns `tx + 16 j`) from
//! registers. A weight block is read from GPU memory once per tile of 64 prompt rows, and the
//! decoded weights live only in shared memory.

use burn_cubecl::cubecl::{self, prelude::*};

use super::codes::{q4_code, q8_code};

/// Activation rows and weight rows per cube.
pub(crate) const TILE: usize = 64;
/// Each unit's outputs along either side of the tile.
const MICRO: usize = 4;
/// Units per side of the tile: `TILE / MICRO`.
const SIDE: usize = TILE / MICRO;
/// Units per cube.
pub(crate) const UNITS: usize = SIDE * SIDE;
/// Shared memory per cube: the activation and the weight tile, `TILE x 32` floats each.
pub(crate) const SHARED_BYTES: usize = 2 * TILE * 32 * 4;

#[cube(launch)]
pub(crate) fn packed_matmul_kernel<F: Float>(
    x: &Tensor<F>,
    words: &Tensor<i32>,
    scales: &Tensor<F>,
    offsets: &Tensor<F>,
    out: &mut Tensor<F>,
    #[comptime] q4: bool,
    #[define(F)] _dtype: ElemType,
) {
    let row0 = CUBE_POS_X as usize * TILE;
    let m0 = CUBE_POS_Y as usize * TILE;
    let unit = UNIT_POS_X as usize;
    let (tx, ty) = (unit % SIDE, unit / SIDE);
    let n = x.shape(0);
    let rows = out.shape(1);
    let blocks = x.shape(1) / 32;

    // Column-major tiles: element (row r, column k) at `k * TILE + r`.
    let mut xs = Shared::<[F]>::new_slice(TILE * 32);
    let mut ws = Shared::<[F]>::new_slice(TILE * 32);
    let mut acc = Array::<F>::new(MICRO * MICRO);
    #[unroll]
    for e in 0..MICRO * MICRO {
        acc[e] = F::new(0.0);
    }
    let mut a = Array::<F>::new(MICRO);
    let mut w = Array::<F>::new(MICRO);

    for b in 0..blocks {
        // The activations: 32 consecutive columns of each row, neighbouring units on neighbouring
        // columns.
        #[unroll]
        for i in 0..TILE * 32 / UNITS {
            let e = unit + i * UNITS;
            let (m, k) = (e / 32, e % 32);
            let mut value = F::new(0.0);
            if m0 + m < n {
                value = x[(m0 + m) * x.stride(0) + b * 32 + k];
            }
            xs[k * TILE + m] = value;
        }
        // The weights: one packed word per unit and step, decoded with its block's scale.
        if q4 {
            #[unroll]
            for i in 0..TILE * 4 / UNITS {
                let e = unit + i * UNITS;
                let (r, word_at) = (e / 4, e % 4);
                let row = row0 + r;
                let mut word = 0i32;
                let mut d = F::new(0.0);
                let mut m = F::new(0.0);
                if row < rows {
                    let block = row * blocks + b;
                    word = words[block * 4 + word_at];
                    d = scales[block];
                    m = offsets[block];
                }
                #[unroll]
                for byte in 0..4usize {
                    let lo = F::cast_from(q4_code(word, 2 * byte));
                    let hi = F::cast_from(q4_code(word, 2 * byte + 1));
                    ws[(4 * word_at + byte) * TILE + r] = lo * d + m;
                    ws[(16 + 4 * word_at + byte) * TILE + r] = hi * d + m;
                }
            }
        } else {
            #[unroll]
            for i in 0..TILE * 8 / UNITS {
                let e = unit + i * UNITS;
                let (r, word_at) = (e / 8, e % 8);
                let row = row0 + r;
                let mut word = 0i32;
                let mut d = F::new(0.0);
                if row < rows {
                    let block = row * blocks + b;
                    word = words[block * 8 + word_at];
                    d = scales[block];
                }
                #[unroll]
                for byte in 0..4usize {
                    let code = q8_code(word, byte);
                    ws[(4 * word_at + byte) * TILE + r] = F::cast_from(code) * d;
                }
            }
        }
        sync_cube();

        for k in 0..32usize {
            #[unroll]
            for i in 0..MICRO {
                a[i] = xs[k * TILE + ty + SIDE * i];
                w[i] = ws[k * TILE + tx + SIDE * i];
            }
            #[unroll]
            for i in 0..MICRO {
                #[unroll]
                for j in 0..MICRO {
                    acc[i * MICRO + j] += a[i] * w[j];
                }
            }
        }
        sync_cube();
    }

    #[unroll]
    for i in 0..MICRO {
        let m = m0 + ty + SIDE * i;
        #[unroll]
        for j in 0..MICRO {
            let row = row0 + tx + SIDE * j;
            if m < n && row < rows {
                let at = m * out.stride(0) + row;
                out[at] = acc[i * MICRO + j];
            }
        }
    }
}
