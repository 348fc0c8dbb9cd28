//! Activations times a weight kept packed ([`PackedMatrix`]: GGML blocks or int8, one row per
//! output), on the CPU, without ever holding the weight as f32 in memory.
//!
//! - A few rows (decode, a handful of sequences): every output is a dot product of an activation
//!   row with a packed weight row, read once per step straight from its blocks
//!   ([`PackedMatrix::dot_row`]), sixteen rows per pass where the weight is repacked
//!   ([`PackedMatrix::dot_groups_quantized_rows`]); output rows are split over the threads of the
//!   decoding [`Team`](crate::team::Team). This reads 4.5 to 8.5 bits per weight instead of 32.
//! - Many rows (a prompt, perplexity): tiles of [`TILE_ROWS`] weight rows are decoded into a
//!   buffer that stays in cache and multiplied by all activation rows at once with gemm, so the
//!   decoding is paid once per tile and the multiply-adds run at gemm's speed.
//!
//! Both compute with the exact decoded weights in f32 (the order of the additions differs).
//! [`PackedArithmetic::Fast`] rounds the activations to 8 bits in blocks of 32 as llama.cpp
//! does: the few-row path then runs integer kernels ([`claude_quant::dot_q8`], one for every
//! GGML block format), the tiled path multiplies the rounded values, so both compute the same
//! products (up to the order of the additions). A weight with repacked groups stays on the
//! integer kernels at every number of rows, [`SLICE_ROWS`] at a time: there they beat the tiles
//! for prompts too.
//!
//! [`packed_matmul_transposed_f32`] is the other product, `dy · w`: the gradient of `x · wᵀ` with
//! respect to `x`, with the weight decoded a tile of rows at a time in the same way.

use std::borrow::Cow;
use std::cell::Cell;
use std::mem::MaybeUninit;

use rayon::prelude::*;

use claude_quant::dot_q8::Q8_BLOCK;
use claude_quant::interleaved::GROUP_ROWS;
use claude_quant::{PackedMatrix, Q8Activations};

use super::gemm::{Mat, Threads, gemm_into, product};
use super::layer_norm::RowNorm;
use crate::team::{ColumnBlock, Team};

/// Activation rows from which the tiled gemm path beats per-row dot products in f32
/// ([`PackedArithmetic::Exact`]).
pub const GEMM_FROM_ROWS: usize = 32;
/// The same for 8-bit activations ([`PackedArithmetic::Fast`]) on a matrix without repacked
/// groups (whose row-wise integer kernels unpack each weight block once per activation row).
/// Repacked matrices stay on the integer kernels at every size, [`SLICE_ROWS`] activation rows
/// at a time: each weight group meets a slice's rows while it is in cache, and on SmolLM2's
/// and Qwen's shapes that is 1.5-4x the tiles' speed at 128 and 512 rows (2 threads, AMD EPYC;
/// `cargo run --release -p claude-tensors --example packed_rows_speed`).
pub const GEMM_FROM_ROWS_QUANTIZED: usize = 128;
/// Activation rows the integer kernels take at a time on a repacked matrix: their codes (128
/// KiB at 1024 columns) stay in L2 while every weight group passes over them.
pub const SLICE_ROWS: usize = 128;
/// Weight rows decoded per tile on the gemm path (a 576-wide tile is 576 KiB: L2-sized).
pub const TILE_ROWS: usize = 256;
/// Weight rows per task on the dot-product path (a whole number of repacked groups).
const DOT_ROWS_PER_TASK: usize = 2 * GROUP_ROWS;

/// How activations meet packed weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PackedArithmetic {
    /// f32 activations times the exactly decoded weights.
    Exact,
    /// Activations rounded to 8 bits in blocks of 32 (llama.cpp's arithmetic): integer dot
    /// products with every GGML block format and int8 rows on the few-row path, several times
    /// faster than f32; the many-row path multiplies the same rounded activations.
    #[default]
    Fast,
}

/// `x · wᵀ` for `n` row-major activation rows `x` (`n * w.cols()` values): row-major
/// `[n, w.rows()]`.
///
/// # Panics
/// If `x` is not `n * w.cols()` long.
pub fn packed_matmul_f32(
    x: &[f32],
    n: usize,
    w: &PackedMatrix,
    arithmetic: PackedArithmetic,
) -> Vec<f32> {
    packed_matmul_around_f32(x, n, w, arithmetic, &Around::default())
}

/// What a product computes around its multiply-adds: `residual + norm(x) · wᵀ`, each part
/// optional. A block's norm before a branch and the residual join after it, fused into the
/// branch's first and last products, cost a decode step neither an operation of their own nor a
/// pass of one thread over the activations while the others wait.
#[derive(Debug, Clone, Copy, Default)]
pub struct Around<'a> {
    /// Each activation row normalised before it meets the weight.
    pub norm: Option<RowNorm<'a>>,
    /// Added to the output (`[n, w.rows()]`).
    pub residual: Option<&'a [f32]>,
}

/// How a product fused with the norm before it meets its weight and normalises its rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormedProduct {
    /// How the activations meet the packed weight.
    pub arithmetic: PackedArithmetic,
    /// The norm's epsilon.
    pub eps: f32,
    /// Whether the norm takes the mean off (LayerNorm) or not (RMSNorm).
    pub centred: bool,
}

/// `residual + norm(x) · wᵀ` (see [`Around`]) for `n` row-major activation rows `x`:
/// row-major `[n, w.rows()]`, the same values as the norm, the product and the addition one
/// after the other.
///
/// # Panics
/// If `x`, the norm's parameters or the residual do not have the lengths of `n` rows and `w`'s
/// shape.
pub fn packed_matmul_around_f32(
    x: &[f32],
    n: usize,
    w: &PackedMatrix,
    arithmetic: PackedArithmetic,
    around: &Around<'_>,
) -> Vec<f32> {
    let (rows, cols) = (w.rows(), w.cols());
    assert_eq!(x.len(), n * cols, "activation length");
    if let Some(norm) = &around.norm {
        assert_eq!(norm.gamma.len(), cols, "norm width");
    }
    if let Some(residual) = around.residual {
        assert_eq!(residual.len(), n * rows, "residual length");
    }
    if n == 0 || rows == 0 {
        return vec![0.0; n * rows];
    }
    let tiles_from = match arithmetic {
        PackedArithmetic::Exact => GEMM_FROM_ROWS,
        // Repacked rows stay on the integer kernels at every size.
        PackedArithmetic::Fast if w.repack().any_repacked() => usize::MAX,
        PackedArithmetic::Fast => GEMM_FROM_ROWS_QUANTIZED,
    };
    if n >= tiles_from {
        let x = prepared_rows(x, cols, around.norm.as_ref(), false).values;
        let mut out = match arithmetic {
            PackedArithmetic::Exact => by_tiles(&x, n, w),
            // The same rounding of the activations as the integer kernels (the products of the
            // rounded values are then exact in f32 up to the order of the additions).
            PackedArithmetic::Fast => by_tiles(&rounded_to_8_bits(&x, cols), n, w),
        };
        let after = Epilogue {
            residual: around.residual,
            rows,
        };
        after.apply_to(&mut out);
        return out;
    }
    let product = |x: &[f32], residual: Option<&[f32]>| {
        let quantize = arithmetic == PackedArithmetic::Fast;
        let prepared = prepared_rows(x, cols, around.norm.as_ref(), quantize);
        let out = by_dot_products(
            &prepared.values,
            x.len() / cols,
            w,
            prepared.codes.as_deref(),
            Epilogue { residual, rows },
        );
        prepared.recycle();
        out
    };
    if n <= SLICE_ROWS {
        return product(x, around.residual);
    }
    // Row-major `[n, rows]`: the slices' products one after the other.
    let mut out = Vec::with_capacity(n * rows);
    for (i, slice) in x.chunks(SLICE_ROWS * cols).enumerate() {
        let first = i * SLICE_ROWS * rows;
        let residual = around
            .residual
            .map(|residual| &residual[first..first + slice.len() / cols * rows]);
        out.extend(product(slice, residual));
    }
    out
}

/// What is added to a product's sums: the residual stream, where there is one.
#[derive(Debug, Clone, Copy)]
struct Epilogue<'a> {
    residual: Option<&'a [f32]>,
    /// Outputs per activation row (the residual's row length).
    rows: usize,
}

impl Epilogue<'_> {
    /// Outputs `first..first + sums.len()` of activation row `r`, from their sums.
    #[inline]
    fn finish(&self, r: usize, first: usize, sums: &mut [f32]) {
        if let Some(residual) = self.residual(r, first, sums.len()) {
            for (sum, residual) in sums.iter_mut().zip(residual) {
                *sum += residual;
            }
        }
    }

    /// The residual of a whole group's outputs, `first..first + GROUP_ROWS` of activation row
    /// `r`, where there is one.
    #[inline]
    fn residual_group(&self, r: usize, first: usize) -> Option<&[f32; GROUP_ROWS]> {
        let residual = self.residual(r, first, GROUP_ROWS)?;
        Some(residual.try_into().expect("a whole group"))
    }

    /// The residual of outputs `first..first + len` of activation row `r`, where there is one.
    #[inline]
    fn residual(&self, r: usize, first: usize, len: usize) -> Option<&[f32]> {
        let start = r * self.rows + first;
        Some(&self.residual?[start..start + len])
    }

    /// Every output of a finished `[n, rows]` product.
    fn apply_to(&self, out: &mut [f32]) {
        for (r, row) in out.chunks_exact_mut(self.rows).enumerate() {
            self.finish(r, 0, row);
        }
    }
}

thread_local! {
    /// The last product's quantized rows on this thread, kept so that the next product reuses
    /// their buffers: five allocations and frees per row and product had been 2 % of a batched
    /// decode step.
    static SPARE_CODES: Cell<Vec<Q8Activations>> = const { Cell::new(Vec::new()) };
    /// The last product's normalised rows on this thread, kept for the same reason.
    static SPARE_VALUES: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// A product's activation rows as the kernels take them.
struct PreparedRows<'x> {
    /// The rows, normalised where the product has a norm.
    values: Cow<'x, [f32]>,
    /// Their 8-bit codes in blocks of 32, for the integer kernels.
    codes: Option<Vec<Q8Activations>>,
}

impl PreparedRows<'_> {
    /// Hands the buffers back for the next product on this thread.
    fn recycle(self) {
        if let Some(codes) = self.codes {
            SPARE_CODES.set(codes);
        }
        if let Cow::Owned(values) = self.values {
            SPARE_VALUES.set(values);
        }
    }
}

/// A buffer of `len` values to overwrite: this thread's spare one where it has one.
fn spare_values(len: usize) -> Vec<f32> {
    let mut values = SPARE_VALUES.take();
    values.resize(len, 0.0);
    values
}

/// The rows of `x` (rows of `cols`) normalised by `norm` where there is one and, with
/// `quantize`, rounded to 8 bits in blocks of 32 for the integer kernels (not when the rows do
/// not split into blocks): a row per task over the [`Team`], both at once (on one thread, the
/// rows of a batched decode step had kept the other waiting for a few percent of the step).
fn prepared_rows<'x>(
    x: &'x [f32],
    cols: usize,
    norm: Option<&RowNorm<'_>>,
    quantize: bool,
) -> PreparedRows<'x> {
    let quantize = quantize && cols.is_multiple_of(Q8_BLOCK);
    let mut codes = quantize.then(|| {
        let mut codes = SPARE_CODES.take();
        codes.resize_with(x.len() / cols, Q8Activations::default);
        codes
    });
    let team = Team::global();
    let values = match (norm, codes.as_mut()) {
        (None, None) => Cow::Borrowed(x),
        (None, Some(codes)) => {
            team.for_each_chunk(codes, 1, &|r, code| {
                code[0].quantize_into(&x[r * cols..(r + 1) * cols]);
            });
            Cow::Borrowed(x)
        }
        (Some(norm), None) => {
            let mut normalised = spare_values(x.len());
            team.for_each_chunk(&mut normalised, cols, &|r, row| {
                norm.row(&x[r * cols..(r + 1) * cols], row);
            });
            Cow::Owned(normalised)
        }
        (Some(norm), Some(codes)) => {
            let mut normalised = spare_values(x.len());
            team.for_each_chunk_pair((&mut normalised, cols), (codes, 1), &|r, row, code| {
                norm.row(&x[r * cols..(r + 1) * cols], row);
                code[0].quantize_into(row);
            });
            Cow::Owned(normalised)
        }
    };
    PreparedRows { values, codes }
}

/// Each row of `x` (rows of `cols`) rounded to 8 bits in blocks of 32, as the integer kernels
/// see it; unchanged when the rows do not split into blocks.
fn rounded_to_8_bits(x: &[f32], cols: usize) -> Vec<f32> {
    let mut out = x.to_vec();
    let mut codes = Q8Activations::default();
    for row in out.chunks_exact_mut(cols) {
        if codes.quantize_into(row) {
            codes.dequantize_into(row);
        }
    }
    out
}

/// One dot product per output, weight rows over the threads of the [`Team`] (a decode step
/// runs over a hundred of these short loops, which rayon's wake-ups would slow), each task
/// writing its columns of the `[n, rows]` result in place; with `quantized` activations (one
/// per row), the integer kernels, sixteen weight rows at a time where the format has a
/// repacked layout ([`PackedMatrix::dot_groups_quantized_rows`]).
fn by_dot_products(
    x: &[f32],
    n: usize,
    w: &PackedMatrix,
    quantized: Option<&[Q8Activations]>,
    after: Epilogue<'_>,
) -> Vec<f32> {
    let (rows, cols) = (w.rows(), w.cols());
    // Not zeroed first: every value is written below (zeroing cost 2-3% of a batched step).
    let mut out = Box::<[f32]>::new_uninit_slice(n * rows);
    let team = Team::global();
    let per_task = rows_per_task(rows, team.threads());
    team.for_each_column_block(&mut out, rows, per_task, &|task, mut block| {
        let first = task * per_task;
        match quantized {
            Some(q) => grouped_dots(x, q, w, first, &after, &mut block),
            None => {
                for r in 0..n {
                    let x = &x[r * cols..(r + 1) * cols];
                    for (k, out) in block.row(r).iter_mut().enumerate() {
                        let mut sum = [w.dot_row(first + k, x)];
                        after.finish(r, first + k, &mut sum);
                        out.write(sum[0]);
                    }
                }
            }
        }
    });
    // SAFETY: the blocks cover every column of every row, and each task wrote all of its
    // block's values (`grouped_dots` a group at a time over the block's whole width); a task
    // that panicked would have unwound out of `for_each_column_block` before this.
    unsafe { out.assume_init() }.into_vec()
}

/// Weight rows per task of the dot-product path: two tasks per thread (so that uneven progress
/// balances), each at least [`DOT_ROWS_PER_TASK`] rows and a whole number of groups. A task of
/// a small matrix takes well under a microsecond, so tasks claimed one by one from a counter
/// that two cores pass back and forth would cost as much as the work.
///
/// Not more: each task reads its first group of weights cold (the kernels fetch each next group
/// only within a task). On an AMD EPYC (Zen 4), two threads, four tasks per thread against two:
/// SmolLM2 at 8 sequences 785-1,045 against 1,060-1,107 tokens/s, at 32 sequences 1,154-1,204
/// against 1,271-1,276; Qwen2.5 0.5B at 8 sequences 372-377 against 383-385, one sequence
/// 101-103 against 107-110 (`docs/performance.md`, session 25).
fn rows_per_task(rows: usize, threads: usize) -> usize {
    const TASKS_PER_THREAD: usize = 2;
    let share = rows.div_ceil(TASKS_PER_THREAD * threads);
    share.next_multiple_of(GROUP_ROWS).max(DOT_ROWS_PER_TASK)
}

/// The outputs of weight rows `first..` (a whole number of groups: the columns of `block`) for
/// the `n` quantized activation rows `q` of `x`, each finished by `after`.
fn grouped_dots(
    x: &[f32],
    q: &[Q8Activations],
    w: &PackedMatrix,
    first: usize,
    after: &Epilogue<'_>,
    block: &mut ColumnBlock<'_, MaybeUninit<f32>>,
) {
    let (width, first_group) = (block.width(), first / GROUP_ROWS);
    let groups = first_group..first_group + width.div_ceil(GROUP_ROWS);
    w.dot_groups_quantized_rows(groups, x, q, |g, sums| {
        let start = (g - first_group) * GROUP_ROWS;
        let len = GROUP_ROWS.min(width - start);
        for (r, sums) in sums.iter().enumerate() {
            let out = &mut block.row(r)[start..start + len];
            // A whole group as one fixed-size store: a slice copy of 16 values is a call to
            // `memcpy`, a few percent of a batched decode step (and so is a copy of the sums to
            // add the residual to, which the compiler merges with the short group's copy).
            match <&mut [MaybeUninit<f32>; GROUP_ROWS]>::try_from(&mut *out) {
                Ok(whole) => match after.residual_group(r, first + start) {
                    Some(residual) => {
                        for ((out, sum), residual) in whole.iter_mut().zip(sums).zip(residual) {
                            out.write(sum + residual);
                        }
                    }
                    None => *whole = sums.map(MaybeUninit::new),
                },
                Err(_) => {
                    let mut sums = *sums;
                    after.finish(r, first + start, &mut sums[..len]);
                    out.write_copy_of_slice(&sums[..len]);
                }
            }
        }
    });
}

/// `dy · w` for `n` row-major rows `dy` of `w.rows()` values (the gradient of `x · wᵀ` with
/// respect to `x` when `dy` is the output's): row-major `[n, w.cols()]`.
///
/// The weight is decoded exactly to f32 a tile of [`TILE_ROWS`] rows at a time (its rows over
/// rayon's threads), and each tile adds `dy[:, tile] · w[tile, :]` to the result with gemm (over
/// rayon's threads too): only one tile of the weight is ever held as f32.
///
/// # Panics
/// If `dy` is not `n * w.rows()` long.
pub fn packed_matmul_transposed_f32(dy: &[f32], n: usize, w: &PackedMatrix) -> Vec<f32> {
    let (rows, cols) = (w.rows(), w.cols());
    assert_eq!(dy.len(), n * rows, "output gradient length");
    if n == 0 || cols == 0 || rows == 0 {
        return vec![0.0; n * cols];
    }
    let mut out = vec![0.0f32; n * cols];
    let mut tile = vec![0.0f32; TILE_ROWS.min(rows) * cols];
    // The products of the tiles after the first, added to `out` (gemm overwrites its output).
    let mut partial = Vec::new();
    for first in (0..rows).step_by(TILE_ROWS) {
        let count = TILE_ROWS.min(rows - first);
        let tile = &mut tile[..count * cols];
        decode_tile(w, first, tile);
        // `[n, count]`: the columns of `dy` that meet this tile's weight rows.
        let grads = Mat::strided(&dy[first..], [n, count], [rows, 1]);
        let weights = Mat::rows(tile, count, cols);
        if first == 0 {
            gemm_into(&mut out, grads, weights, 1.0, Threads::All);
        } else {
            partial.resize(n * cols, 0.0);
            gemm_into(&mut partial, grads, weights, 1.0, Threads::All);
            out.par_chunks_mut(ADD_CHUNK)
                .zip(partial.par_chunks(ADD_CHUNK))
                .for_each(|(out, part)| {
                    for (o, p) in out.iter_mut().zip(part) {
                        *o += p;
                    }
                });
        }
    }
    out
}

/// Elements per task when a tile's product is added to the result.
const ADD_CHUNK: usize = 1 << 14;

/// Weight rows `first..first + tile.len() / cols` decoded into `tile`, over rayon's threads.
fn decode_tile(w: &PackedMatrix, first: usize, tile: &mut [f32]) {
    let cols = w.cols();
    if cols == 0 {
        return;
    }
    tile.par_chunks_mut(DOT_ROWS_PER_TASK * cols)
        .enumerate()
        .for_each(|(task, part)| {
            let start = first + task * DOT_ROWS_PER_TASK;
            w.dequantize_rows(start..start + part.len() / cols, part);
        });
}

/// Tiles of decoded weight rows, each multiplied by every activation row with gemm.
fn by_tiles(x: &[f32], n: usize, w: &PackedMatrix) -> Vec<f32> {
    let (rows, cols) = (w.rows(), w.cols());
    let activations = Mat::rows(x, n, cols);
    let mut out = vec![0.0f32; n * rows];
    let mut tile = vec![0.0f32; TILE_ROWS * cols];
    for first in (0..rows).step_by(TILE_ROWS) {
        let count = TILE_ROWS.min(rows - first);
        let tile = &mut tile[..count * cols];
        decode_tile(w, first, tile);
        // `[n, count]` = x · tileᵀ.
        let block = product(activations, Mat::rows(tile, count, cols).t(), Threads::All);
        for (r, values) in block.chunks_exact(count).enumerate() {
            out[r * rows + first..r * rows + first + count].copy_from_slice(values);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use claude_quant::{GgmlType, RowFormat};

    use super::*;

    /// `len` values in [-1, 1] that do not repeat with any short period.
    fn values(len: usize, seed: u64) -> Vec<f32> {
        (0..len)
            .map(|i| (i as f32 * 0.754_877 + seed as f32 * 1.618_034).sin())
            .collect()
    }

    /// Both paths against an f64 product of the decoded weights, for row counts around the
    /// switch and tile sizes that do not divide the rows.
    #[test]
    fn both_paths_match_a_float64_product_of_the_decoded_weights() {
        let (rows, cols) = (TILE_ROWS + 37, 96);
        let parts = [
            RowFormat::Ggml(GgmlType::Q4_0),
            RowFormat::Ggml(GgmlType::Q8_0),
            RowFormat::Int8,
        ]
        .into_iter()
        .enumerate()
        .map(|(i, format)| {
            let part_rows = rows / 3 + usize::from(i == 0) * (rows % 3);
            PackedMatrix::quantize(format, part_rows, cols, &values(part_rows * cols, i as u64))
                .unwrap()
        });
        let w = PackedMatrix::stack(parts).unwrap();
        let decoded = w.dequantize();
        for n in [1, 3, GEMM_FROM_ROWS - 1, GEMM_FROM_ROWS, 21] {
            let x = values(n * cols, 1000 + n as u64);
            let y = packed_matmul_f32(&x, n, &w, PackedArithmetic::Exact);
            assert_eq!(y.len(), n * rows);
            for r in 0..n {
                for o in 0..rows {
                    let exact: f64 = (0..cols)
                        .map(|j| f64::from(x[r * cols + j]) * f64::from(decoded[o * cols + j]))
                        .sum();
                    let got = f64::from(y[r * rows + o]);
                    assert!(
                        (got - exact).abs() < 1e-4,
                        "n {n}, ({r}, {o}): {got} vs {exact}"
                    );
                }
            }
        }
    }

    /// `dy · w` against an f64 product of the decoded weights, for the block formats QLoRA
    /// meets, a few row counts, and a weight whose rows span two full tiles and a partial one.
    #[test]
    fn the_transposed_product_matches_a_float64_product_of_the_decoded_weights() {
        let (rows, cols) = (2 * TILE_ROWS + 37, 256);
        for ty in [
            GgmlType::Q8_0,
            GgmlType::Q4_1,
            GgmlType::Q4_K,
            GgmlType::Q6_K,
        ] {
            let w =
                PackedMatrix::quantize(RowFormat::Ggml(ty), rows, cols, &values(rows * cols, 3))
                    .unwrap();
            let decoded = w.dequantize();
            for n in [1, 5, 40] {
                let dy = values(n * rows, 500 + n as u64);
                let dx = packed_matmul_transposed_f32(&dy, n, &w);
                assert_eq!(dx.len(), n * cols);
                for r in 0..n {
                    for j in 0..cols {
                        let terms = (0..rows).map(|o| {
                            f64::from(dy[r * rows + o]) * f64::from(decoded[o * cols + j])
                        });
                        let (exact, size) =
                            terms.fold((0.0, 0.0), |(sum, size), t| (sum + t, size + t.abs()));
                        let got = f64::from(dx[r * cols + j]);
                        assert!(
                            (got - exact).abs() <= 1e-5 * size + 1e-6,
                            "{ty} n {n}, ({r}, {j}): {got} vs {exact}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_transposed_product_of_nothing_is_zeros() {
        let w =
            PackedMatrix::quantize(RowFormat::Ggml(GgmlType::Q8_0), 3, 32, &values(96, 1)).unwrap();
        assert!(packed_matmul_transposed_f32(&[], 0, &w).is_empty());
    }

    /// With 8-bit activations, the few-row (integer kernels) and many-row (tiled gemm of the
    /// rounded activations) paths give the same products for every block format.
    #[test]
    fn fast_paths_agree_for_every_block_format() {
        let (rows, cols) = (40, 512);
        let formats = [
            GgmlType::Q4_0,
            GgmlType::Q4_1,
            GgmlType::Q5_0,
            GgmlType::Q5_1,
            GgmlType::Q8_0,
            GgmlType::Q4_K,
            GgmlType::Q5_K,
            GgmlType::Q6_K,
        ];
        for ty in formats {
            let w =
                PackedMatrix::quantize(RowFormat::Ggml(ty), rows, cols, &values(rows * cols, 7))
                    .unwrap();
            let n = GEMM_FROM_ROWS_QUANTIZED;
            let x = values(n * cols, 99);
            let many = packed_matmul_f32(&x, n, &w, PackedArithmetic::Fast);
            for r in [0, 5, n - 1] {
                let row = &x[r * cols..(r + 1) * cols];
                let few = packed_matmul_f32(row, 1, &w, PackedArithmetic::Fast);
                for o in 0..rows {
                    let (a, b) = (few[o], many[r * rows + o]);
                    assert!(
                        (a - b).abs() < 2e-4 * (1.0 + a.abs()),
                        "{ty} ({r}, {o}): {a} vs {b}"
                    );
                }
            }
        }
    }
}
