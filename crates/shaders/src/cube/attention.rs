//! Fused causal attention on CubeCL, flash-attention style: scores, softmax and the weighted sum
//! of values in one pass with a running maximum and sum (online softmax), so no `T x T` matrix is
//! ever written to GPU memory. Grouped-query attention reads key/value head `h / (H / Hkv)`.
//! Causality is bottom-right aligned: query `i` of `Tq` sees the keys `j <= len - Tq + i`, where
//! `len` is its batch row's number of valid keys (a prompt: `Tq = len`; a decode step: `Tq = 1`).
//!
//! - Prefill ([`attention_prefill_kernel`]): one cube per (tile of query rows, head, batch row),
//!   one unit per query row. Tiles of keys and values are loaded into shared memory by the whole
//!   cube; each unit scores its query against the tile, rescales its accumulator once per tile.
//!   The cube stops after the last key its last query sees.
//! - Decode ([`attention_decode_kernel`], then [`attention_combine_kernel`]): one query per (head,
//!   batch row), so the cache is split instead: cubes take consecutive chunks of keys and their
//!   units stride over a chunk, each unit with its own running maximum, sum and accumulator; the
//!   cube merges its units into one partial result per chunk (through shared memory, or with
//!   plane operations within each plane where the device has them), and the combine kernel
//!   merges the chunks.

use burn_cubecl::cubecl::{self, prelude::*};

use super::reduce::{planes_in_cube, reduce_max, reduce_sum};

/// A score below every real one (masked keys never use it: they are skipped).
const NEG_LARGE: f32 = -1.0e30;

#[cube(launch)]
pub(crate) fn attention_prefill_kernel<F: Float>(
    q: &Tensor<F>,
    k: &Tensor<F>,
    v: &Tensor<F>,
    key_lens: &Tensor<i32>,
    out: &mut Tensor<F>,
    scale: f32,
    #[comptime] head_dim: usize,
    #[comptime] key_tile: usize,
    #[define(F)] _dtype: ElemType,
) {
    let b = CUBE_POS_Z as usize;
    let h = CUBE_POS_Y as usize;
    let unit = UNIT_POS_X as usize;
    let i = CUBE_POS_X as usize * CUBE_DIM_X as usize + unit;
    let (n_head, tq) = (q.shape(1), q.shape(2));
    let (n_kv, tk) = (k.shape(1), k.shape(2));
    let kv_head = h / (n_head / n_kv);
    let len = key_lens[b] as usize;
    let active = i < tq;
    // The last key this query sees (bottom-right causal alignment).
    let limit = len + i - tq;
    // Keys past the cube's last query's limit are hidden from every unit: the walk stops there
    // (half the tiles of a causal prompt).
    let mut cube_end = len + CUBE_POS_X as usize * CUBE_DIM_X as usize + CUBE_DIM_X as usize - tq;
    if cube_end > len {
        cube_end = len;
    }
    let q_base = ((b * n_head + h) * tq + i) * head_dim;
    let kv_base = (b * n_kv + kv_head) * tk * head_dim;
    let scale = F::cast_from(scale);

    let mut query = Array::<F>::new(head_dim);
    let mut acc = Array::<F>::new(head_dim);
    for d in 0..head_dim {
        query[d] = F::new(0.0);
        acc[d] = F::new(0.0);
    }
    if active {
        for d in 0..head_dim {
            query[d] = q[q_base + d];
        }
    }
    let mut running_max = F::new(NEG_LARGE);
    let mut running_sum = F::new(0.0);
    let mut keys = Shared::<[F]>::new_slice(key_tile * head_dim);
    let mut values = Shared::<[F]>::new_slice(key_tile * head_dim);
    let mut scores = Array::<F>::new(key_tile);

    let mut start = 0usize;
    while start < cube_end {
        let mut e = unit;
        while e < key_tile * head_dim {
            let j = start + e / head_dim;
            let mut kv = F::new(0.0);
            let mut vv = F::new(0.0);
            if j < len {
                kv = k[kv_base + j * head_dim + e % head_dim];
                vv = v[kv_base + j * head_dim + e % head_dim];
            }
            keys[e] = kv;
            values[e] = vv;
            e += CUBE_DIM_X as usize;
        }
        sync_cube();
        if active {
            let mut tile_max = F::new(NEG_LARGE);
            for t in 0..key_tile {
                let j = start + t;
                let mut score = F::new(NEG_LARGE);
                if j <= limit && j < len {
                    let mut dot = F::new(0.0);
                    for d in 0..head_dim {
                        dot += query[d] * keys[t * head_dim + d];
                    }
                    score = dot * scale;
                }
                scores[t] = score;
                tile_max = F::max(tile_max, score);
            }
            let new_max = F::max(running_max, tile_max);
            let correction = F::exp(running_max - new_max);
            running_sum *= correction;
            for d in 0..head_dim {
                acc[d] *= correction;
            }
            for t in 0..key_tile {
                let j = start + t;
                if j <= limit && j < len {
                    let p = F::exp(scores[t] - new_max);
                    running_sum += p;
                    for d in 0..head_dim {
                        acc[d] += p * values[t * head_dim + d];
                    }
                }
            }
            running_max = new_max;
        }
        sync_cube();
        start += key_tile;
    }
    if active {
        for d in 0..head_dim {
            out[q_base + d] = acc[d] / running_sum;
        }
    }
}

#[cube(launch)]
pub(crate) fn attention_decode_kernel<F: Float>(
    q: &Tensor<F>,
    k: &Tensor<F>,
    v: &Tensor<F>,
    key_lens: &Tensor<i32>,
    partial_acc: &mut Tensor<F>,
    partial_stats: &mut Tensor<F>,
    scale: f32,
    chunk: u32,
    #[comptime] head_dim: usize,
    #[comptime] units: usize,
    #[comptime] use_plane: bool,
    #[define(F)] _dtype: ElemType,
) {
    let split = CUBE_POS_X as usize;
    let h = CUBE_POS_Y as usize;
    let b = CUBE_POS_Z as usize;
    let splits = CUBE_COUNT_X as usize;
    let unit = UNIT_POS_X as usize;
    let n_head = q.shape(1);
    let (n_kv, tk) = (k.shape(1), k.shape(2));
    let kv_head = h / (n_head / n_kv);
    let len = key_lens[b] as usize;
    let begin = split * chunk as usize;
    let mut end = begin + chunk as usize;
    if end > len {
        end = len;
    }
    let q_base = (b * n_head + h) * head_dim;
    let kv_base = (b * n_kv + kv_head) * tk * head_dim;
    let scale = F::cast_from(scale);

    let mut acc = Array::<F>::new(head_dim);
    for d in 0..head_dim {
        acc[d] = F::new(0.0);
    }
    let mut running_max = F::new(NEG_LARGE);
    let mut running_sum = F::new(0.0);
    let mut j = begin + unit;
    while j < end {
        let mut dot = F::new(0.0);
        for d in 0..head_dim {
            dot += q[q_base + d] * k[kv_base + j * head_dim + d];
        }
        let score = dot * scale;
        let new_max = F::max(running_max, score);
        let correction = F::exp(running_max - new_max);
        let p = F::exp(score - new_max);
        running_sum = running_sum * correction + p;
        for d in 0..head_dim {
            acc[d] = acc[d] * correction + p * v[kv_base + j * head_dim + d];
        }
        running_max = new_max;
        j += units;
    }

    // The cube's maximum, then every unit's sum and accumulator rescaled to it and added up.
    let cube_max = reduce_max::<F>(running_max, units, use_plane);
    let mut rescale = F::new(0.0);
    if running_sum > F::new(0.0) {
        rescale = F::exp(running_max - cube_max);
    }
    let total_sum = reduce_sum::<F>(running_sum * rescale, units, use_plane);
    // The accumulators: each plane's sum per dimension (with plane ops), or every unit's
    // accumulator, in one shared tile; then summed per dimension.
    let mut tile = Shared::<[F]>::new_slice(units * head_dim);
    let mut parts = CUBE_DIM_X as usize;
    if use_plane {
        parts = planes_in_cube();
        let plane = unit / PLANE_DIM as usize;
        for d in 0..head_dim {
            let sum = plane_sum(acc[d] * rescale);
            if UNIT_POS_PLANE == 0 {
                tile[plane * head_dim + d] = sum;
            }
        }
    } else {
        for d in 0..head_dim {
            tile[unit * head_dim + d] = acc[d] * rescale;
        }
    }
    sync_cube();
    let out_base = ((b * n_head + h) * splits + split) * head_dim;
    let mut d = unit;
    while d < head_dim {
        let mut total = F::new(0.0);
        for part in 0..parts {
            total += tile[part * head_dim + d];
        }
        partial_acc[out_base + d] = total;
        d += units;
    }
    if unit == 0 {
        let stats = ((b * n_head + h) * splits + split) * 2;
        partial_stats[stats] = cube_max;
        partial_stats[stats + 1] = total_sum;
    }
}

#[cube(launch)]
pub(crate) fn attention_combine_kernel<F: Float>(
    partial_acc: &Tensor<F>,
    partial_stats: &Tensor<F>,
    out: &mut Tensor<F>,
    #[comptime] head_dim: usize,
    #[define(F)] _dtype: ElemType,
) {
    let h = CUBE_POS_X as usize;
    let b = CUBE_POS_Y as usize;
    let d = UNIT_POS_X as usize;
    let n_head = out.shape(1);
    let splits = partial_acc.shape(2);
    let base = (b * n_head + h) * splits;
    let mut max = F::new(NEG_LARGE);
    for s in 0..splits {
        if partial_stats[(base + s) * 2 + 1] > F::new(0.0) {
            max = F::max(max, partial_stats[(base + s) * 2]);
        }
    }
    let mut numerator = F::new(0.0);
    let mut denominator = F::new(0.0);
    for s in 0..splits {
        let sum = partial_stats[(base + s) * 2 + 1];
        if sum > F::new(0.0) {
            let weight = F::exp(partial_stats[(base + s) * 2] - max);
            numerator += weight * partial_acc[(base + s) * head_dim + d];
            denominator += weight * sum;
        }
    }
    if d < head_dim {
        out[(b * n_head + h) * head_dim + d] = numerator / denominator;
    }
}
