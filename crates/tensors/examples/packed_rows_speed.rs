//! Time of `packed_matmul_f32` for growing numbers of activation rows (8-bit activations) on
//! SmolLM2's and Qwen2.5-0.5B's shapes and formats, repacked (integer kernels at every size) and
//! Q5_1 (not repacked: integer kernels up to `GEMM_FROM_ROWS_QUANTIZED` rows, then decoded
//! tiles): `RAYON_NUM_THREADS=2 cargo run --release -p claude-tensors --example packed_rows_speed`.

use std::time::{Duration, Instant};

use claude_quant::{GgmlType, PackedMatrix, RowFormat};
use claude_tensors::kernels::packed_matmul::{PackedArithmetic, packed_matmul_f32};

fn main() {
    let shapes = [
        (GgmlType::Q4_1, 1536, 576),
        (GgmlType::Q4_1, 576, 1536),
        (GgmlType::Q8_0, 4096, 576),
        (GgmlType::Q4_K, 896, 4864),
        (GgmlType::Q6_K, 896, 4864),
        (GgmlType::Q5_0, 4864, 896),
        (GgmlType::Q5_1, 1536, 576),
    ];
    for (ty, rows, cols) in shapes {
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let m = PackedMatrix::quantize(RowFormat::Ggml(ty), rows, cols, &w).unwrap();
        for n in [1, 8, 31, 32, 128, 512] {
            let x: Vec<f32> = (0..n * cols)
                .map(|i| ((i * 104729) % 1000) as f32 / 500.0 - 1.0)
                .collect();
            let mut best = Duration::MAX;
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(300) {
                let t = Instant::now();
                std::hint::black_box(packed_matmul_f32(&x, n, &m, PackedArithmetic::Fast));
                best = best.min(t.elapsed());
            }
            println!(
                "{ty:?} {rows}x{cols} n={n:<4} {:>8.1} us  {:>6.2} us/row",
                best.as_secs_f64() * 1e6,
                best.as_secs_f64() * 1e6 / n as f64
            );
        }
    }
}
