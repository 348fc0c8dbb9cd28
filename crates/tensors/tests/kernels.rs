//! Our kernels against the same functions written with burn's own ops, values and gradients, on
//! the Flex (CPU) device.

use burn::module::Module;
use burn::nn::{DropoutConfig, RotaryEncodingConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::tensor::{Distribution, FloatDType};
use claude_tensors::kernels::{
    causal_attention, causal_self_attention, dropout, flex, gelu, layer_norm, matmul, merge_heads,
    rms_norm, split_heads, write_cache_slots,
};

/// Attention from burn's matmul, mask and softmax ops (autodiff records each of them).
fn decomposed(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) -> Tensor<4> {
    let [_, _, seq, head_dim] = q.dims();
    let scores = q.matmul(k.swap_dims(2, 3)) / (head_dim as f64).sqrt();
    let device = scores.device();
    let rows = Tensor::<1, Int>::arange(0..seq as i64, &device).reshape([seq, 1]);
    let cols = Tensor::<1, Int>::arange(0..seq as i64, &device).reshape([1, seq]);
    let future = cols.greater(rows).unsqueeze::<4>();
    softmax(scores.mask_fill(future, f32::NEG_INFINITY), 3).matmul(v)
}

/// `[batch, heads, seq, head_dim]` inputs cut from one `[batch, seq, 3 * width]` tensor, as the
/// model makes them (non-contiguous views).
fn qkv(device: &Device, batch: usize, heads: usize, seq: usize, head_dim: usize) -> Vec<Tensor<4>> {
    let width = heads * head_dim;
    let x = Tensor::<3>::random(
        [batch, seq, 3 * width],
        Distribution::Normal(0.0, 1.5),
        device,
    );
    x.chunk(3, 2)
        .into_iter()
        .map(|t| t.reshape([batch, seq, heads, head_dim]).swap_dims(1, 2))
        .collect()
}

fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar()
}

#[test]
fn fused_attention_matches_burns_ops_in_values_and_gradients() {
    let device = Device::flex().autodiff();
    device.seed(7);
    for (batch, heads, seq, head_dim) in [(2, 3, 17, 8), (1, 2, 64, 32)] {
        let inputs: Vec<_> = qkv(&device, batch, heads, seq, head_dim)
            .into_iter()
            .map(Tensor::require_grad)
            .collect();
        assert!(
            flex::supports(&inputs[0]),
            "f32 on Flex takes the fused kernel"
        );
        let weights = Tensor::<4>::random(inputs[0].dims(), Distribution::Default, &device);

        let ours = causal_attention(inputs[0].clone(), inputs[1].clone(), inputs[2].clone());
        let theirs = decomposed(inputs[0].clone(), inputs[1].clone(), inputs[2].clone());
        assert!(max_abs_diff(ours.clone(), theirs.clone()) < 1e-5);

        let our_grads = (ours * weights.clone()).sum().backward();
        let their_grads = (theirs * weights).sum().backward();
        for (name, input) in ["q", "k", "v"].iter().zip(&inputs) {
            let diff = max_abs_diff(
                input.grad(&our_grads).expect("our gradient"),
                input.grad(&their_grads).expect("burn's gradient"),
            );
            assert!(diff < 1e-4, "d{name}: max abs diff {diff}");
        }
    }
}

#[test]
fn fused_attention_without_autodiff_matches_burns_ops() {
    let device = Device::flex();
    device.seed(8);
    let inputs = qkv(&device, 2, 2, 9, 4);
    let ours = causal_attention(inputs[0].clone(), inputs[1].clone(), inputs[2].clone());
    let theirs = decomposed(inputs[0].clone(), inputs[1].clone(), inputs[2].clone());
    assert!(max_abs_diff(ours, theirs) < 1e-5);
}

/// Dropout keeps each value with probability `1 - p`, scaled by `1 / (1 - p)`; its gradient is
/// the same mask; seeding the device repeats it; and it is the identity where burn's layer is
/// (no autodiff, a frozen layer, or p = 0).
#[test]
fn dropout_keeps_the_asked_share_scaled_and_passes_the_same_mask_back() {
    let device = Device::flex().autodiff();
    let prob = 0.25;
    let layer = DropoutConfig::new(prob).init();
    let x =
        Tensor::<3>::random([4, 64, 96], Distribution::Uniform(1.0, 2.0), &device).require_grad();
    device.seed(5);
    let y = dropout(&layer, x.clone());
    let grads = y.clone().sum().backward();
    let (xs, ys) = (
        x.to_data().try_to_vec::<f32>().unwrap(),
        y.to_data().try_to_vec::<f32>().unwrap(),
    );
    let grad = x
        .grad(&grads)
        .expect("a gradient")
        .to_data()
        .try_to_vec::<f32>()
        .unwrap();
    let mut dropped = 0;
    for ((&x, &y), &g) in xs.iter().zip(&ys).zip(&grad) {
        if y == 0.0 {
            dropped += 1;
            assert_eq!(g, 0.0);
        } else {
            assert!((y - x / 0.75).abs() <= 1e-6 * y.abs(), "{y} from {x}");
            assert!((g - 1.0 / 0.75).abs() < 1e-6, "gradient {g}");
        }
    }
    let share = f64::from(dropped) / xs.len() as f64;
    assert!((share - prob).abs() < 0.02, "dropped {share}");

    device.seed(5);
    assert_eq!(
        dropout(&layer, x.clone())
            .to_data()
            .try_to_vec::<f32>()
            .unwrap(),
        ys
    );
    let plain = Tensor::<3>::from_data(x.to_data(), &Device::flex());
    assert_eq!(dropout(&layer, plain.clone()).to_data(), plain.to_data());
    assert_eq!(
        dropout(&layer.clone().freeze(), x.clone()).to_data(),
        x.to_data()
    );
    let none = DropoutConfig::new(0.0).init();
    assert_eq!(dropout(&none, x.clone()).to_data(), x.to_data());
}

#[test]
fn fused_gelu_matches_burns_gelu_in_values_and_gradients() {
    let device = Device::flex().autodiff();
    device.seed(9);
    // A transposed view, as a non-contiguous input.
    let x = Tensor::<3>::random([3, 40, 50], Distribution::Normal(0.0, 3.0), &device)
        .swap_dims(1, 2)
        .require_grad();
    assert!(flex::supports(&x));
    let weights = Tensor::<3>::random(x.dims(), Distribution::Default, &device);
    let ours = gelu(x.clone());
    let theirs = burn::tensor::activation::gelu(x.clone());
    assert!(max_abs_diff(ours.clone(), theirs.clone()) < 1e-5);
    let our_grads = (ours * weights.clone()).sum().backward();
    let their_grads = (theirs * weights).sum().backward();
    let diff = max_abs_diff(
        x.grad(&our_grads).expect("our gradient"),
        x.grad(&their_grads).expect("burn's gradient"),
    );
    assert!(diff < 1e-5, "dx: max abs diff {diff}");
}

#[test]
fn fused_layer_norm_matches_burns_layer_norm_in_values_and_gradients() {
    let device = Device::flex().autodiff();
    device.seed(10);
    let x =
        Tensor::<3>::random([4, 30, 48], Distribution::Normal(1.0, 2.0), &device).require_grad();
    let gamma = Tensor::<1>::random([48], Distribution::Normal(1.0, 0.5), &device).require_grad();
    for beta in [
        Some(Tensor::<1>::random([48], Distribution::Default, &device).require_grad()),
        None,
    ] {
        let weights = Tensor::<3>::random(x.dims(), Distribution::Default, &device);
        let ours = layer_norm(x.clone(), gamma.clone(), beta.clone(), 1e-5);
        let theirs = burn::tensor::module::layer_norm(x.clone(), gamma.clone(), beta.clone(), 1e-5);
        assert!(max_abs_diff(ours.clone(), theirs.clone()) < 1e-5);
        let our_grads = (ours * weights.clone()).sum().backward();
        let their_grads = (theirs * weights).sum().backward();
        let grad_diff = |grads_a, grads_b| {
            max_abs_diff(x.grad(grads_a).unwrap(), x.grad(grads_b).unwrap()).max(max_abs_diff(
                gamma.grad(grads_a).unwrap(),
                gamma.grad(grads_b).unwrap(),
            ))
        };
        assert!(grad_diff(&our_grads, &their_grads) < 1e-4);
        if let Some(beta) = &beta {
            let diff = max_abs_diff(
                beta.grad(&our_grads).unwrap(),
                beta.grad(&their_grads).unwrap(),
            );
            assert!(diff < 1e-4, "dbeta: {diff}");
        }
    }
}

#[test]
fn fused_rms_norm_matches_burns_rms_norm_in_values_and_gradients() {
    let device = Device::flex().autodiff();
    device.seed(12);
    let x =
        Tensor::<3>::random([4, 30, 48], Distribution::Normal(0.5, 2.0), &device).require_grad();
    let norm = burn::nn::RmsNormConfig::new(48)
        .with_epsilon(1e-6)
        .init(&device);
    let gamma = Tensor::<1>::random([48], Distribution::Normal(1.0, 0.5), &device).require_grad();
    let norm = burn::nn::RmsNorm {
        gamma: burn::module::Param::from_tensor(gamma.clone()),
        ..norm
    };
    let weights = Tensor::<3>::random(x.dims(), Distribution::Default, &device);
    let ours = rms_norm(x.clone(), gamma.clone(), 1e-6);
    let theirs = norm.forward(x.clone());
    assert!(max_abs_diff(ours.clone(), theirs.clone()) < 1e-5);
    let our_grads = (ours * weights.clone()).sum().backward();
    let their_grads = (theirs * weights).sum().backward();
    let dx = max_abs_diff(x.grad(&our_grads).unwrap(), x.grad(&their_grads).unwrap());
    assert!(dx < 1e-4, "dx: max abs diff {dx}");
    let dgamma = max_abs_diff(
        gamma.grad(&our_grads).unwrap(),
        gamma.grad(&their_grads).unwrap(),
    );
    assert!(dgamma < 1e-4, "dgamma: max abs diff {dgamma}");
}

#[test]
fn fused_matmul_matches_burns_matmul_in_values_and_gradients() {
    let device = Device::flex().autodiff();
    device.seed(11);
    let random = |dims: [usize; 2]| Tensor::<2>::random(dims, Distribution::Default, &device);
    // Row-major factors; a transposed view on the right (a tied output embedding); a column
    // slice of a wider matrix on the left (strided rows) with a right factor needing no gradient.
    let cases = [
        (
            random([37, 20]).require_grad(),
            random([20, 29]).require_grad(),
        ),
        (
            random([37, 20]).require_grad(),
            random([29, 20]).transpose().require_grad(),
        ),
        (
            random([37, 60]).slice([0..37, 20..40]).require_grad(),
            random([20, 29]),
        ),
    ];
    for (index, (lhs, rhs)) in cases.into_iter().enumerate() {
        let weights = random([37, 29]);
        let ours = matmul(lhs.clone(), rhs.clone());
        let theirs = lhs.clone().matmul(rhs.clone());
        assert!(
            max_abs_diff(ours.clone(), theirs.clone()) < 1e-5,
            "case {index}"
        );
        let our_grads = (ours * weights.clone()).sum().backward();
        let their_grads = (theirs * weights).sum().backward();
        for (name, factor) in [("lhs", &lhs), ("rhs", &rhs)] {
            match (factor.grad(&our_grads), factor.grad(&their_grads)) {
                (Some(ours), Some(theirs)) => {
                    let diff = max_abs_diff(ours, theirs);
                    assert!(diff < 1e-4, "case {index} d{name}: max abs diff {diff}");
                }
                (None, None) => {}
                _ => panic!("case {index}: d{name} present on one side only"),
            }
        }
    }
}

#[test]
fn fused_matmul_without_autodiff_matches_burns_matmul() {
    let device = Device::flex();
    device.seed(12);
    let lhs = Tensor::<2>::random([300, 200], Distribution::Default, &device);
    let rhs = Tensor::<2>::random([300, 200], Distribution::Default, &device).transpose();
    let diff = max_abs_diff(matmul(lhs.clone(), rhs.clone()), lhs.matmul(rhs));
    assert!(diff < 1e-3, "max abs diff {diff}");
}

#[test]
fn packed_self_attention_matches_burns_ops_with_and_without_rotary_positions() {
    let device = Device::flex().autodiff();
    device.seed(13);
    let (batch, seq, n_head, head_dim) = (2, 11, 3, 8);
    let rope = RotaryEncodingConfig::new(32, head_dim).init(&device);
    for rotary in [None, Some((&rope, 0)), Some((&rope, 5))] {
        let qkv = Tensor::<3>::random(
            [batch, seq, 3 * n_head * head_dim],
            Distribution::Normal(0.0, 1.5),
            &device,
        )
        .require_grad();
        let weights = Tensor::<3>::random(
            [batch, seq, n_head * head_dim],
            Distribution::Default,
            &device,
        );

        let ours = causal_self_attention(qkv.clone(), n_head, rotary);
        // burn's own ops all the way: split, burn's RoPE, decomposed attention, merge.
        let (mut q, mut k, v) = split_heads(qkv.clone(), n_head, n_head, None);
        if let Some((rope, start)) = rotary {
            q = rope.apply(q, start);
            k = rope.apply(k, start);
        }
        let theirs = merge_heads(decomposed(q, k, v));
        let diff = max_abs_diff(ours.clone(), theirs.clone());
        assert!(diff < 1e-5, "{rotary:?}: output max abs diff {diff}");

        let our_grads = (ours * weights.clone()).sum().backward();
        let their_grads = (theirs * weights).sum().backward();
        let diff = max_abs_diff(
            qkv.grad(&our_grads).expect("our gradient"),
            qkv.grad(&their_grads).expect("burn's gradient"),
        );
        assert!(diff < 1e-4, "{rotary:?}: dqkv max abs diff {diff}");
    }
}

/// The decode step's attention on Flex (the cache read in place through its strides) equals
/// burn's masked attention over the same prefix views, with grouped heads and rows of different
/// lengths.
#[test]
fn decode_attention_on_cache_views_equals_burns_masked_attention() {
    use burn::tensor::module::attention;
    use burn::tensor::ops::AttentionModuleOptions;
    let device = Device::flex();
    let (rows, n_head, n_kv_head, head_dim, allocated) = (2, 6, 2, 64, 16);
    let group = n_head / n_kv_head;
    let normal = Distribution::Normal(0.0, 1.0);
    let keys = Tensor::<4>::random([rows, n_kv_head, allocated, head_dim], normal, &device);
    let values = Tensor::<4>::random([rows, n_kv_head, allocated, head_dim], normal, &device);
    let q = Tensor::<4>::random([rows, 1, n_head, head_dim], normal, &device).swap_dims(1, 2);
    let lens = [11usize, 7];
    let key_len = 11;
    let (k, v) = (
        keys.slice(s![.., .., 0..key_len, ..]),
        values.slice(s![.., .., 0..key_len, ..]),
    );
    let hidden: Vec<bool> = (0..rows)
        .flat_map(|r| (0..n_kv_head * group * key_len).map(move |i| i % key_len >= lens[r]))
        .collect();
    let mask = Tensor::<4, Bool>::from_data(
        TensorData::new(hidden, [rows, n_kv_head, group, key_len]),
        &device,
    );
    let expected = attention(
        q.clone().reshape([rows, n_kv_head, group, head_dim]),
        k.clone(),
        v.clone(),
        Some(mask.clone()),
        None,
        AttentionModuleOptions::default(),
    )
    .reshape([rows, n_head, 1, head_dim]);
    let key_lens = Tensor::<1, Int>::from_data(
        TensorData::new(lens.map(|l| l as i32).to_vec(), [rows]),
        &device,
    );
    let got = claude_tensors::kernels::decode_attention(q, k, v, key_lens, mask);
    let diff: f32 = (got - expected).abs().max().into_scalar();
    assert!(diff < 1e-5, "{diff}");
}

/// A cache buffer `[3, 2, 6, 8]` of `dtype`, a step's new rows as a strided view (cut from a
/// wider tensor, as the model's keys are cut from its projection), and their slots.
pub(crate) fn cache_write_case(
    device: &Device,
    dtype: FloatDType,
) -> (Tensor<4>, Tensor<4>, [usize; 3]) {
    let buffer =
        Tensor::<4>::random([3, 2, 6, 8], Distribution::Normal(0.0, 1.0), device).cast(dtype);
    let wide = Tensor::<4>::random([3, 5, 1, 8], Distribution::Normal(0.0, 1.0), device);
    (buffer, wide.narrow(1, 2, 2), [5, 0, 2])
}

#[test]
fn cache_slot_writes_equal_burns_slice_assignments_and_leave_shared_buffers_alone() {
    let device = Device::flex();
    for dtype in [FloatDType::F32, FloatDType::F16] {
        let (buffer, new, slots) = cache_write_case(&device, dtype);
        let mut expected = buffer.clone();
        for (row, &slot) in slots.iter().enumerate() {
            let values = new.clone().slice(s![row..row + 1]).cast(dtype);
            expected = expected.slice_assign(s![row..row + 1, .., slot..slot + 1, ..], values);
        }
        let before = buffer.clone().cast(FloatDType::F32).into_data();
        // `buffer` is shared with `kept`: the write must not reach it.
        let kept = buffer.clone();
        let written = write_cache_slots(buffer, new, &slots);
        assert_eq!(written.dtype(), dtype.into());
        let diff = max_abs_diff(
            written.cast(FloatDType::F32),
            expected.cast(FloatDType::F32),
        );
        assert_eq!(diff, 0.0, "{dtype:?}");
        assert_eq!(kept.cast(FloatDType::F32).into_data(), before, "{dtype:?}");
    }
}

/// A packed `rows x cols` weight of type `ty` from random values.
fn packed_weight(
    ty: claude_quant::GgmlType,
    rows: usize,
    cols: usize,
    device: &Device,
) -> std::sync::Arc<claude_quant::PackedMatrix> {
    let values = Tensor::<2>::random([rows, cols], Distribution::Normal(0.0, 0.5), device)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let format = claude_quant::RowFormat::Ggml(ty);
    std::sync::Arc::new(claude_quant::PackedMatrix::quantize(format, rows, cols, &values).unwrap())
}

/// The products fused with the norm before them and the residual after them give exactly the
/// values of the separate operations: LayerNorm with a shift and RMSNorm, both arithmetics,
/// repacked and row-wise formats, one row (decode), a batch, the tiled path (40 rows with
/// exact arithmetic) and more rows than one slice of the integer kernels (130); on an autodiff
/// device they are the separate operations.
#[test]
fn products_fused_with_a_norm_or_a_residual_equal_the_separate_operations() {
    use claude_quant::GgmlType;
    use claude_tensors::kernels::packed_matmul::PackedArithmetic;
    use claude_tensors::kernels::{
        Normalization, normed_packed_matmul, packed_matmul, packed_matmul_add,
    };

    let device = Device::flex();
    device.seed(31);
    let (rows, cols) = (80, 256);
    let gamma = Tensor::<1>::random([cols], Distribution::Normal(1.0, 0.3), &device);
    let beta = Tensor::<1>::random([cols], Distribution::Normal(0.0, 0.3), &device);
    let norms = [
        Normalization {
            gamma: gamma.clone(),
            beta: Some(beta),
            eps: 1e-5,
            centred: true,
        },
        Normalization {
            gamma,
            beta: None,
            eps: 1e-6,
            centred: false,
        },
    ];
    let values = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
    for ty in [GgmlType::Q4_1, GgmlType::Q4_K, GgmlType::Q5_1] {
        let w = packed_weight(ty, rows, cols, &device);
        for arithmetic in [PackedArithmetic::Fast, PackedArithmetic::Exact] {
            for n in [1, 8, 40, 130] {
                let x = Tensor::<2>::random([n, cols], Distribution::Normal(0.5, 2.0), &device);
                let residual = Tensor::<2>::random([n, rows], Distribution::Default, &device);
                let case = format!("{ty}, {arithmetic:?}, {n} rows");
                for norm in &norms {
                    let fused = normed_packed_matmul(x.clone(), norm, &w, arithmetic);
                    let separate = packed_matmul(norm.forward(x.clone()), &w, arithmetic);
                    assert_eq!(values(fused), values(separate), "norm, {case}");
                }
                let fused = packed_matmul_add(x.clone(), residual.clone(), &w, arithmetic);
                let separate = residual.clone() + packed_matmul(x.clone(), &w, arithmetic);
                assert_eq!(values(fused), values(separate), "residual, {case}");
            }
        }
    }
    // On an autodiff device: the separate operations, whose gradients reach the input.
    let device = Device::flex().autodiff();
    let w = packed_weight(GgmlType::Q4_1, rows, cols, &device);
    let x = Tensor::<2>::random([3, cols], Distribution::Default, &device).require_grad();
    let residual = Tensor::<2>::random([3, rows], Distribution::Default, &device);
    let y = packed_matmul_add(x.clone(), residual, &w, PackedArithmetic::Exact);
    let grads = y.sum().backward();
    assert!(
        x.grad(&grads).is_some(),
        "no gradient through the residual product"
    );
}
