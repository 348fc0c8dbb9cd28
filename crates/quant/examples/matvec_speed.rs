//! Single-thread time of a matrix-vector product through the exact f32 path (`dot_row`), the
//! integer path (`Q8Activations::quantize` once, then `dot_row_quantized`) and the repacked
//! groups of sixteen rows ([`InterleavedMatrix`], where the format has them), for the shapes and
//! formats of SmolLM2's `Q4_1` and Qwen2.5-0.5B's `Q4_K_M` files and the other block formats:
//!
//! ```text
//! cargo run --release -p claude-quant --example matvec_speed
//! ```

use std::hint::black_box;

use claude_quant::interleaved::GROUP_ROWS;
use claude_quant::{GgmlType, InterleavedMatrix, PackedMatrix, Q8Activations};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

mod common;
use common::best;

/// A `rows x cols` matrix of random blocks whose f16 fields hold small finite scales.
fn random_matrix(rng: &mut StdRng, ty: GgmlType, rows: usize, cols: usize) -> PackedMatrix {
    let fields: &[usize] = match ty {
        GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q5_1 | GgmlType::Q4_1 => &[0, 2],
        GgmlType::Q6_K => &[208],
        GgmlType::Q2_K => &[80, 82],
        GgmlType::Q3_K => &[108],
        _ => &[0],
    };
    let n = ty.bytes_for(rows * cols).unwrap();
    let mut bytes: Vec<u8> = (0..n).map(|_| rng.random::<u8>()).collect();
    for block in bytes.chunks_exact_mut(ty.block_bytes()) {
        for &at in fields {
            let scale = half::f16::from_f32(1e-3 * (1.0 + rng.random::<f32>()));
            block[at..at + 2].copy_from_slice(&scale.to_le_bytes());
        }
    }
    PackedMatrix::ggml(ty, rows, cols, bytes).unwrap()
}

fn main() {
    let mut rng = StdRng::seed_from_u64(5);
    let cases = [
        (GgmlType::Q4_1, 1536, 576),  // SmolLM2's ffn_gate / ffn_up
        (GgmlType::Q4_1, 576, 1536),  // ffn_down
        (GgmlType::Q8_0, 49152, 576), // SmolLM2's output head
        (GgmlType::Q4_K, 896, 4864),  // ffn_down
        (GgmlType::Q4_K, 1024, 1024),
        (GgmlType::Q6_K, 896, 4864),
        (GgmlType::Q5_0, 896, 896), // attention, where 896 is not a multiple of 256
        (GgmlType::Q5_0, 4864, 896), // ffn_gate / ffn_up
        (GgmlType::Q8_0, 896, 896),
        (GgmlType::Q5_K, 1024, 1024),
        (GgmlType::Q3_K, 1024, 1024),
        (GgmlType::Q2_K, 1024, 1024),
        (GgmlType::IQ4_XS, 1024, 1024),
        (GgmlType::IQ4_NL, 1024, 1024),
        (GgmlType::Q5_1, 1024, 1024),
    ];
    for (ty, rows, cols) in cases {
        let m = random_matrix(&mut rng, ty, rows, cols);
        let x: Vec<f32> = (0..cols).map(|_| rng.random_range(-2.0..2.0)).collect();
        let mut out = vec![0.0f32; rows];
        let exact = best(|| {
            for (r, o) in out.iter_mut().enumerate() {
                *o = m.dot_row(r, black_box(&x));
            }
            black_box(&out);
        });
        let mut xq = Q8Activations::default();
        let integer = best(|| {
            xq.quantize_into(black_box(&x));
            for (r, o) in out.iter_mut().enumerate() {
                *o = m.dot_row_quantized(r, &x, &xq);
            }
            black_box(&out);
        });
        let groups = InterleavedMatrix::new(&m);
        let repacked = best(|| {
            xq.quantize_into(black_box(&x));
            for (g, o) in out.chunks_mut(GROUP_ROWS).enumerate() {
                groups.dot_group(&m, g, &x, &xq, o);
            }
            black_box(&out);
        });
        println!(
            "{ty:>6} {rows:>5} x {cols:<4}  f32 path {:>8.1} us   integer path {:>7.1} us   {:>5.1}x   repacked {:>7.1} us   {:>4.1}x the integer path",
            exact.as_secs_f64() * 1e6,
            integer.as_secs_f64() * 1e6,
            exact.as_secs_f64() / integer.as_secs_f64(),
            repacked.as_secs_f64() * 1e6,
            integer.as_secs_f64() / repacked.as_secs_f64(),
        );
    }
}
