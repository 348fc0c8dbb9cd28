//! Single-thread rate of the repacked groups' products with a batch of activation rows (what
//! batched decoding runs), in multiply-adds per second:
//!
//! - over a walk through all of a model's products (SmolLM2-135M `Q4_1`, 96 MB, and
//!   Qwen2.5-0.5B `Q4_K_M`, 400 MB: more than a last-level cache, each matrix its own memory),
//!   which adds streaming the weights from memory to the arithmetic (though not the waits on
//!   memory the same products showed inside the model before their weights were fetched ahead:
//!   see `docs/performance.md`, session 24; it measures the arithmetic, not a step);
//! - over single matrices (SmolLM2's `ffn_up`, which fits a core's L2 cache, and Qwen2.5-0.5B's
//!   `Q4_K` `ffn_down`), where the arithmetic alone sets the rate.
//!
//! ```text
//! cargo run --release -p claude-quant --example batch_speed [-- ROWS,ROWS,...]
//! ```

use std::hint::black_box;
use std::time::Duration;

use claude_quant::{GgmlType, PackedMatrix, Q8Activations, RowFormat};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

mod common;
use common::best;

/// A model's products as it runs them, one step: format, rows, columns, how many.
type Walk = [(GgmlType, usize, usize, usize)];

/// SmolLM2-135M `Q4_1`: 30 layers of q/k/v stacked, o, gate/up stacked and down, then the
/// `Q8_0` output head (the token embeddings).
const SMOLLM2: &Walk = &[
    (GgmlType::Q4_1, 960, 576, 30),
    (GgmlType::Q4_1, 576, 576, 30),
    (GgmlType::Q4_1, 3072, 576, 30),
    (GgmlType::Q4_1, 576, 1536, 30),
    (GgmlType::Q8_0, 49152, 576, 1),
];

/// Qwen2.5-0.5B `Q4_K_M`: 24 layers of `Q5_0` q/k/v (v in `Q8_0` in half the layers: taken as
/// `Q5_0` here), o and gate/up, `Q4_K` or `Q6_K` down, then the `Q8_0` output head.
const QWEN2_5: &Walk = &[
    (GgmlType::Q5_0, 1152, 896, 24),
    (GgmlType::Q5_0, 896, 896, 24),
    (GgmlType::Q5_0, 9728, 896, 24),
    (GgmlType::Q4_K, 896, 4864, 12),
    (GgmlType::Q6_K, 896, 4864, 12),
    (GgmlType::Q8_0, 151936, 896, 1),
];

/// A `rows x cols` matrix of small random weights quantized to `ty`.
fn random_matrix(rng: &mut StdRng, ty: GgmlType, (rows, cols): (usize, usize)) -> PackedMatrix {
    let w: Vec<f32> = (0..rows * cols)
        .map(|_| rng.random_range(-0.1..0.1))
        .collect();
    let m = PackedMatrix::quantize(RowFormat::Ggml(ty), rows, cols, &w).unwrap();
    m.repack();
    m
}

/// `batch` random activation rows of `cols` values and their quantized copies.
fn activations(rng: &mut StdRng, batch: usize, cols: usize) -> (Vec<f32>, Vec<Q8Activations>) {
    let x: Vec<f32> = (0..batch * cols)
        .map(|_| rng.random_range(-2.0..2.0))
        .collect();
    let xq = x
        .chunks_exact(cols)
        .map(|row| Q8Activations::quantize(row).unwrap())
        .collect();
    (x, xq)
}

/// `m` times every row of `x` (quantized as `xq`), the sums discarded.
fn product(m: &PackedMatrix, (x, xq): &(Vec<f32>, Vec<Q8Activations>)) {
    m.dot_groups_quantized_rows(0..m.groups(), black_box(x), xq, |_, sums| {
        black_box(sums);
    });
}

/// Multiply-adds per second, in billions.
fn gmacs(macs: usize, time: Duration) -> f64 {
    macs as f64 / time.as_secs_f64() / 1e9
}

/// This core's rate of AVX-512 VNNI multiply-adds (`vpdpbusd`, 64 per instruction) with
/// twelve independent sums and nothing else: the arithmetic ceiling the kernel's rates compare
/// with. None where the CPU lacks AVX-512 VNNI.
fn vnni_peak() -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        #[target_feature(enable = "avx512f,avx512vnni")]
        fn sums(n: usize) -> __m512i {
            let (a, b) = black_box((_mm512_set1_epi8(3), _mm512_set1_epi8(5)));
            let mut s = [_mm512_setzero_si512(); 12];
            for _ in 0..n {
                for s in &mut s {
                    *s = _mm512_dpbusd_epi32(*s, a, b);
                }
            }
            s.into_iter()
                .fold(_mm512_setzero_si512(), |t, s| _mm512_add_epi32(t, s))
        }
        if !is_x86_feature_detected!("avx512f") || !is_x86_feature_detected!("avx512vnni") {
            return None;
        }
        let n = 1 << 20;
        // SAFETY: the CPU has AVX-512 F and VNNI (checked above).
        let time = best(|| {
            black_box(unsafe { sums(n) });
        });
        Some(gmacs(n * 12 * 64, time))
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

fn main() {
    let batches: Vec<usize> = std::env::args()
        .nth(1)
        .map_or(vec![1, 4, 8, 16, 32], |list| {
            list.split(',')
                .map(|b| b.parse().expect("row counts, such as 1,4,8"))
                .collect()
        });
    if let Some(peak) = vnni_peak() {
        println!("vpdpbusd alone: {peak:.1} GMAC/s");
    }
    let mut rng = StdRng::seed_from_u64(9);
    for (name, walk) in [("SmolLM2-135M", SMOLLM2), ("Qwen2.5-0.5B", QWEN2_5)] {
        let matrices: Vec<PackedMatrix> = walk
            .iter()
            .flat_map(|&(ty, rows, cols, count)| std::iter::repeat_n((ty, (rows, cols)), count))
            .map(|(ty, shape)| random_matrix(&mut rng, ty, shape))
            .collect();
        let per_row: usize = walk.iter().map(|(_, r, c, n)| r * c * n).sum();
        println!("{name}'s products, one step:");
        for &batch in &batches {
            let inputs: Vec<_> = matrices
                .iter()
                .map(|m| activations(&mut rng, batch, m.cols()))
                .collect();
            let time = best(|| {
                for (m, x) in matrices.iter().zip(&inputs) {
                    product(m, x);
                }
            });
            println!(
                "  {batch:>2} rows  {:>6.2} ms  {:>6.1} GMAC/s",
                time.as_secs_f64() * 1e3,
                gmacs(per_row * batch, time)
            );
        }
    }
    for (ty, shape, what) in [
        (GgmlType::Q4_1, (1536, 576), "SmolLM2's ffn_up"),
        (GgmlType::Q4_K, (896, 4864), "Qwen2.5-0.5B's ffn_down"),
    ] {
        let m = random_matrix(&mut rng, ty, shape);
        println!("{what}, {ty} {} x {}:", shape.0, shape.1);
        for &batch in &batches {
            let x = activations(&mut rng, batch, shape.1);
            let time = best(|| product(&m, &x));
            println!(
                "  {batch:>2} rows  {:>8.1} us  {:>6.1} GMAC/s",
                time.as_secs_f64() * 1e6,
                gmacs(shape.0 * shape.1 * batch, time)
            );
        }
    }
}
