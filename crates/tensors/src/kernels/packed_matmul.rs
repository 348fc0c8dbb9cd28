//! Activations times a weight kept packed ([`PackedMatrix`]: GGML blocks or int8, one row per
//! output), on the CPU, without ever holding the weight as f32 in memory.
//!
//! - A few rows (decode, a handful of sequences): every output is a dot product of an activation
//!   row with a packed weight row, read once per step straight from its blocks
//!   ([`PackedMatrix::dot_row`]); output rows are split over rayon's threads. Decoding is bound
//!   by memory, and this reads 4.5 to 8.5 bits per weight instead of 32.
//! - Many rows (a prompt, perplexity): tiles of [`TILE_ROWS`] weight rows are decoded into a
//!   buffer that stays in cache and multiplied by all activation rows at once with gemm, so the
//!   decoding is paid once per tile and the multiply-adds run at gemm's speed.
//!
//! Both compute with the exact decoded weights in f32 (the order of the additions differs).
//! [`PackedArithmetic::Fast`] rounds the activations to 8 bits in blocks of 32 as llama.cpp
//! does: the few-row path then runs integer kernels ([`claude_quant::dot_q8`], one for every
//! GGML block format), the tiled path multiplies the rounded values, so both compute the same
//! products (up to the order of the additions).

use rayon::prelude::*;

use claude_quant::{PackedMatrix, Q8Activations};

use super::gemm::{Mat, Threads, product};

/// Activation rows from which the tiled gemm path beats per-row dot products.
pub const GEMM_FROM_ROWS: usize = 32;
/// Weight rows decoded per tile on the gemm path (a 576-wide tile is 576 KiB: L2-sized).
pub const TILE_ROWS: usize = 256;
/// Weight rows per task on the dot-product path.
const DOT_ROWS_PER_TASK: usize = 32;

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
    let (rows, cols) = (w.rows(), w.cols());
    assert_eq!(x.len(), n * cols, "activation length");
    if n == 0 || rows == 0 {
        return vec![0.0; n * rows];
    }
    if n >= GEMM_FROM_ROWS {
        return match arithmetic {
            PackedArithmetic::Exact => by_tiles(x, n, w),
            // The same rounding of the activations as the integer kernels (the products of the
            // rounded values are then exact in f32 up to the order of the additions).
            PackedArithmetic::Fast => by_tiles(&rounded_to_8_bits(x, cols), n, w),
        };
    }
    let quantized: Option<Vec<Q8Activations>> = match arithmetic {
        PackedArithmetic::Exact => None,
        PackedArithmetic::Fast => x.chunks_exact(cols).map(Q8Activations::quantize).collect(),
    };
    by_dot_products(x, n, w, quantized.as_deref())
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

/// One dot product per output, output rows over the threads; with `quantized` activations (one
/// per row), the integer kernels.
fn by_dot_products(
    x: &[f32],
    n: usize,
    w: &PackedMatrix,
    quantized: Option<&[Q8Activations]>,
) -> Vec<f32> {
    let (rows, cols) = (w.rows(), w.cols());
    // Transposed: `[rows, n]`, so that each task writes one contiguous run.
    let mut transposed = vec![0.0f32; rows * n];
    transposed
        .par_chunks_mut(DOT_ROWS_PER_TASK * n)
        .enumerate()
        .for_each(|(task, out)| {
            let first = task * DOT_ROWS_PER_TASK;
            for (i, out) in out.chunks_exact_mut(n).enumerate() {
                for (r, out) in out.iter_mut().enumerate() {
                    let x = &x[r * cols..(r + 1) * cols];
                    *out = match quantized {
                        Some(q) => w.dot_row_quantized(first + i, x, &q[r]),
                        None => w.dot_row(first + i, x),
                    };
                }
            }
        });
    if n == 1 {
        return transposed;
    }
    let mut out = vec![0.0f32; n * rows];
    for (o, values) in transposed.chunks_exact(n).enumerate() {
        for (r, &v) in values.iter().enumerate() {
            out[r * rows + o] = v;
        }
    }
    out
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
        tile.par_chunks_mut(DOT_ROWS_PER_TASK * cols)
            .enumerate()
            .for_each(|(task, part)| {
                let start = first + task * DOT_ROWS_PER_TASK;
                w.dequantize_rows(start..start + part.len() / cols, part);
            });
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
            let n = GEMM_FROM_ROWS;
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
