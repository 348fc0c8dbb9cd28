//! The packed product: every format and awkward shapes, the portable path against burn's matmul
//! of the decoded weights, and the GPU kernels (the mat-vec for a few rows, the tiled matmul for
//! prompts) against both.

use burn::prelude::*;
use burn::tensor::Distribution;
use claude_quant::PackedMatrix;
use claude_shaders::{DeviceWeight, GpuPacked, packed_matmul};

fn weights(rows: usize, cols: usize, seed: u32) -> Vec<f32> {
    (0..rows * cols)
        .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 2001) as f32 / 1000.0 - 1.0)
        .collect()
}

/// The largest difference of `got` (on any device) to `expected` (on the CPU), which must not
/// be all zeros.
fn max_abs_diff(got: Tensor<2>, expected: Tensor<2>) -> f32 {
    assert_eq!(got.dims(), expected.dims());
    let scale: f32 = expected.clone().abs().max().into_scalar();
    assert!(scale > 0.0, "an all-zero reference");
    let got = Tensor::<2>::from_data(got.into_data(), &expected.device());
    (got - expected).abs().max().into_scalar()
}

/// Every format at awkward shapes on `device`: the product against burn's matmul on the CPU
/// with the weights decoded on the host.
fn check(device: &Device) {
    for format in ["q4_0", "q4_1", "q8_0", "int8"] {
        for (rows, cols, n) in [
            (1, 32, 1),
            (37, 96, 1),
            (100, 576, 3),
            (5, 1024, 7),
            // Prompts: the tiled matmul, with partial tiles on both sides.
            (33, 64, 20),
            (64, 32, 64),
            (130, 96, 70),
        ] {
            let packed = PackedMatrix::quantize(
                format.parse().unwrap(),
                rows,
                cols,
                &weights(rows, cols, 3),
            )
            .unwrap();
            let gpu = GpuPacked::from_packed(&packed).unwrap();
            let w = DeviceWeight::upload(&gpu, device);
            let x = Tensor::<2>::random([n, cols], Distribution::Uniform(-1.0, 1.0), device);
            let cpu = Device::flex();
            let decoded =
                Tensor::<2>::from_data(TensorData::new(packed.dequantize(), [rows, cols]), &cpu);
            let expected = Tensor::<2>::from_data(x.to_data(), &cpu).matmul(decoded.transpose());
            let got = packed_matmul(x, &w);
            let diff = max_abs_diff(got, expected);
            assert!(
                diff < 2e-4 * (cols as f32).sqrt(),
                "{format} {rows}x{cols} n={n}: {diff}"
            );
        }
    }
}

#[test]
fn the_portable_product_equals_burns_matmul_of_the_decoded_weights() {
    check(&Device::flex());
}

#[test]
fn the_gpu_kernels_equal_burns_matmul_of_the_decoded_weights() {
    super::on_wgpu_with_both_reductions(check);
}
