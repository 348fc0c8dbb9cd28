//! Fused attention: prefill and decode, head widths 32 to 128, grouped-query ratios, batch rows
//! of different lengths and caches longer than one decode chunk; the portable path and the GPU
//! kernels against burn's attention with an explicit mask, on the CPU.

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use claude_shaders::flash_attention;

/// burn's attention with the mask written out: query `i` of `tq` sees keys `j <= len - tq + i`.
fn reference(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, lens: &[usize]) -> Tensor<4> {
    let [batch, heads, tq, dim] = q.dims();
    let [_, kv_heads, tk, _] = k.dims();
    let group = heads / kv_heads;
    let device = q.device();
    let repeat = |t: Tensor<4>| {
        t.unsqueeze_dim::<5>(2)
            .repeat_dim(2, group)
            .reshape([batch, heads, tk, dim])
    };
    let mut mask = vec![false; batch * tq * tk];
    for (b, &len) in lens.iter().enumerate() {
        for i in 0..tq {
            for j in 0..tk {
                mask[(b * tq + i) * tk + j] = j + tq > len + i || j >= len;
            }
        }
    }
    let mask = Tensor::<3, Bool>::from_data(TensorData::new(mask, [batch, tq, tk]), &device)
        .unsqueeze_dim::<4>(1)
        .repeat_dim(1, heads);
    attention(
        q,
        repeat(k),
        repeat(v),
        Some(mask),
        None,
        AttentionModuleOptions::default(),
    )
}

/// (batch, heads, kv_heads, tq, tk, head_dim, each row's valid keys)
type Case = (usize, usize, usize, usize, usize, usize, &'static [usize]);

fn check(device: &Device) {
    let cases: &[Case] = &[
        (1, 2, 2, 37, 37, 32, &[37]),
        (2, 4, 2, 19, 19, 64, &[19, 19]),
        (1, 4, 1, 70, 70, 128, &[70]),
        (2, 3, 3, 5, 12, 64, &[12, 9]),
        // Decode: one query over a cache, rows of different lengths.
        (2, 4, 2, 1, 1, 64, &[1, 1]),
        (2, 4, 4, 1, 300, 32, &[300, 123]),
        (1, 8, 2, 1, 600, 128, &[600]),
        (3, 2, 1, 1, 40, 96, &[40, 7, 1]),
    ];
    for &(batch, heads, kv_heads, tq, tk, dim, lens) in cases {
        let q = Tensor::<4>::random(
            [batch, heads, tq, dim],
            Distribution::Normal(0.0, 1.0),
            device,
        );
        let k = Tensor::<4>::random(
            [batch, kv_heads, tk, dim],
            Distribution::Normal(0.0, 1.0),
            device,
        );
        let v = Tensor::<4>::random(
            [batch, kv_heads, tk, dim],
            Distribution::Normal(0.0, 1.0),
            device,
        );
        let key_lens: Vec<i32> = lens.iter().map(|&l| l as i32).collect();
        let key_lens = Tensor::<1, Int>::from_data(TensorData::new(key_lens, [batch]), device);
        let cpu = Device::flex();
        let on_cpu = |t: &Tensor<4>| Tensor::<4>::from_data(t.to_data(), &cpu);
        let expected = reference(on_cpu(&q), on_cpu(&k), on_cpu(&v), lens);
        let got = on_cpu(&flash_attention(q, k, v, key_lens));
        let scale: f32 = expected.clone().abs().max().into_scalar();
        assert!(scale > 0.0, "an all-zero reference");
        let diff: f32 = (got - expected).abs().max().into_scalar();
        assert!(
            diff < 1e-4,
            "batch {batch} heads {heads}/{kv_heads} tq {tq} tk {tk} dim {dim} lens {lens:?}: {diff}"
        );
    }
}

#[test]
fn the_portable_attention_equals_burns_masked_attention() {
    check(&Device::flex());
}

#[test]
fn the_gpu_attention_kernels_equal_burns_masked_attention() {
    super::on_wgpu_with_both_reductions(check);
}
