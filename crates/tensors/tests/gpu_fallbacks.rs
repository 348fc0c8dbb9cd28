//! On a GPU, what our kernels do not take falls back to burn's ops or the CPU kernel with the
//! same answer: attention with a head width the fused kernel is not built for, packed weights
//! whose rows do not split into blocks of 32 (no GPU layout), and the decode step's writes into
//! the key/value cache.

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::{Distribution, FloatDType};
use claude_quant::PackedMatrix;
use claude_tensors::kernels::packed_matmul::PackedArithmetic;
use claude_tensors::kernels::{causal_attention, packed_matmul, write_cache_slots};

use crate::kernels::cache_write_case;

fn wgpu() -> Device {
    claude_tensors::parse_device("wgpu").expect("the tests build with wgpu")
}

/// `t`'s values moved to `device`.
fn to(t: Tensor<4>, device: &Device) -> Tensor<4> {
    Tensor::from_data(t.into_data(), device)
}

#[test]
fn attention_with_an_unsupported_head_width_equals_the_cpu_result() {
    let (cpu, gpu) = (Device::flex(), wgpu());
    let head_dim = 48;
    assert!(!claude_tensors::shaders::ATTENTION_HEAD_DIMS.contains(&head_dim));
    let qkv: Vec<Tensor<4>> = (0..3)
        .map(|_| Tensor::random([2, 3, 17, head_dim], Distribution::Normal(0.0, 1.0), &cpu))
        .collect();
    let expected = causal_attention(qkv[0].clone(), qkv[1].clone(), qkv[2].clone());
    let [q, k, v] = [0, 1, 2].map(|i| to(qkv[i].clone(), &gpu));
    let got = causal_attention(q, k, v);
    let diff: f32 = (to(got, &cpu) - expected).abs().max().into_scalar();
    assert!(diff < 1e-4, "{diff}");
}

#[test]
fn a_packed_weight_without_a_gpu_layout_equals_the_cpu_result() {
    let (cpu, gpu) = (Device::flex(), wgpu());
    let (rows, cols, n) = (7, 48, 3);
    let w: Vec<f32> = (0..rows * cols)
        .map(|i| (i % 13) as f32 / 6.0 - 1.0)
        .collect();
    let packed = Arc::new(PackedMatrix::quantize("int8".parse().unwrap(), rows, cols, &w).unwrap());
    let x = Tensor::<2>::random([n, cols], Distribution::Uniform(-1.0, 1.0), &cpu);
    let expected = packed_matmul(x.clone(), &packed, PackedArithmetic::Exact);
    let got = packed_matmul(
        Tensor::from_data(x.into_data(), &gpu),
        &packed,
        PackedArithmetic::Exact,
    );
    let diff: f32 = (Tensor::<2>::from_data(got.into_data(), &cpu) - expected)
        .abs()
        .max()
        .into_scalar();
    assert!(diff < 1e-4, "{diff}");
}

#[test]
fn cache_slot_writes_on_the_gpu_equal_the_cpu_kernel() {
    let (cpu, gpu) = (Device::flex(), wgpu());
    for dtype in [FloatDType::F32, FloatDType::F16] {
        let (buffer, new, slots) = cache_write_case(&cpu, dtype);
        let on_gpu = |t: Tensor<4>| to(t.cast(FloatDType::F32), &gpu).cast(dtype);
        let got = write_cache_slots(on_gpu(buffer.clone()), to(new.clone(), &gpu), &slots);
        let expected = write_cache_slots(buffer, new, &slots);
        let got = to(got.cast(FloatDType::F32), &cpu);
        let diff: f32 = (got - expected.cast(FloatDType::F32))
            .abs()
            .max()
            .into_scalar();
        assert_eq!(diff, 0.0, "{dtype:?}");
    }
}
