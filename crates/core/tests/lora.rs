//! LoRA adapters: the gradient reaches only the adapters, equals finite differences and the full
//! model's weight gradient projected on the adapters (`dA = s G Bᵀ`, `dB = s Aᵀ G` for the
//! gradient `G` of the merged weight), and merging gives the adapted model's logits.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;
use claude_core::{Activation, Gpt, LoraSettings, LoraTarget, ModelConfig, Projection};

use crate::support::{device, tokens, values};

fn llama_like() -> ModelConfig {
    ModelConfig {
        vocab_size: 40,
        context_length: 12,
        n_layer: 2,
        n_head: 4,
        n_kv_head: Some(2),
        d_model: 32,
        activation: Activation::Swiglu,
        ..ModelConfig::default()
    }
}

fn settings(targets: &[LoraTarget]) -> LoraSettings {
    LoraSettings {
        rank: 4,
        alpha: 8.0,
        dropout: 0.0,
        targets: targets.to_vec(),
    }
}

/// A model with adapters on every target whose `B` is random too (a fresh `B` is zero, which
/// would leave `A` without gradient).
fn adapted(device: &Device) -> Gpt {
    device.seed(3);
    let model = llama_like().init(device);
    let mut model = model
        .with_lora(&settings(&LoraTarget::ALL), device)
        .unwrap();
    for (layer, target, a, b, scale) in adapter_values(&model) {
        let b = Tensor::<2>::random(
            b.dims(),
            burn::tensor::Distribution::Normal(0.0, 0.3),
            device,
        );
        model.set_adapter(layer, target, a, b, scale).unwrap();
    }
    model
}

fn adapter_values(model: &Gpt) -> Vec<(usize, LoraTarget, Tensor<2>, Tensor<2>, f64)> {
    model
        .adapters()
        .into_iter()
        .map(|adapter| {
            let slice = adapter.slice;
            (
                adapter.layer,
                slice.target,
                slice.a.val(),
                slice.b.val(),
                slice.scale,
            )
        })
        .collect()
}

fn loss(model: &Gpt, device: &Device) -> Tensor<1> {
    let ids = [3, 17, 5, 9, 22, 1, 30, 8, 12, 4];
    let weights = [0.0f32, 0., 1., 1., 0., 1., 1., 1., 0.];
    model.masked_loss(
        tokens(&ids[..9], device),
        tokens(&ids[1..], device),
        &weights,
    )
}

#[test]
fn only_the_adapters_get_gradients() {
    let device = device().autodiff();
    let model = adapted(&device);
    let grads = loss(&model, &device).backward();
    for adapter in model.adapters() {
        assert!(adapter.slice.a.val().grad(&grads).is_some());
        assert!(adapter.slice.b.val().grad(&grads).is_some());
    }
    let projection = model.h[0].attn.c_attn.as_float().unwrap();
    assert!(
        projection.weight.val().grad(&grads).is_none(),
        "the base is frozen"
    );
    let grads = GradientsParams::from_grads(grads, &model);
    // 2 layers x 7 targets x (A, B).
    assert_eq!(grads.len(), 28);
}

#[test]
fn adapter_gradients_are_the_weight_gradient_projected() {
    let device = device().autodiff();
    let model = adapted(&device);
    let grads = loss(&model, &device).backward();
    // The same function of the merged weights: G = dL/dW at W + sAB.
    let mut merged = model.clone();
    merged.merge_lora(&device);
    let merged = merged.unfreeze();
    let merged_grads = loss(&merged, &device).backward();
    for adapter in model.adapters() {
        let slice = adapter.slice;
        let projection = site(&merged, adapter.layer, slice.target);
        let weight = projection.as_float().unwrap().weight.val();
        let [d_in, _] = weight.dims();
        let columns = slice.start..slice.start + slice.width();
        let g = weight
            .grad(&merged_grads)
            .unwrap()
            .slice(s![0..d_in, columns]);
        let (a, b) = (slice.a.val().inner(), slice.b.val().inner());
        let expected_a = g.clone().matmul(b.clone().transpose()) * slice.scale;
        let expected_b = a.transpose().matmul(g) * slice.scale;
        let got_a = slice.a.val().grad(&grads).unwrap();
        let got_b = slice.b.val().grad(&grads).unwrap();
        assert_close(&values(got_a), &values(expected_a), 1e-4, "dA");
        assert_close(&values(got_b), &values(expected_b), 1e-4, "dB");
    }
}

#[test]
fn adapter_gradients_match_finite_differences() {
    let device = device().autodiff();
    let model = adapted(&device);
    let grads = loss(&model, &device).backward();
    let plain = device.clone().without_autodiff();
    let base = model.clone().valid();
    let step = 1e-2;
    for (index, adapter) in model.adapters().iter().enumerate().step_by(5) {
        let analytic = values(adapter.slice.b.val().grad(&grads).unwrap());
        // The three largest entries of dB.
        let mut order: Vec<usize> = (0..analytic.len()).collect();
        order.sort_by(|&i, &j| analytic[j].abs().total_cmp(&analytic[i].abs()));
        for &entry in &order[..3] {
            let shifted = |delta: f64| {
                let mut model = base.clone();
                let (layer, target, a, b, scale) = adapter_values(&model).swap_remove(index);
                let mut b_values = values(b.clone());
                b_values[entry] += delta;
                let b = Tensor::from_data(
                    TensorData::new(b_values.iter().map(|&v| v as f32).collect(), b.dims()),
                    &plain,
                );
                model.set_adapter(layer, target, a, b, scale).unwrap();
                values(loss(&model, &plain))[0]
            };
            let numeric = (shifted(step) - shifted(-step)) / (2.0 * step);
            let relative = (numeric - analytic[entry]).abs() / analytic[entry].abs().max(1e-3);
            assert!(
                relative < 2e-2,
                "adapter {index} entry {entry}: finite difference {numeric}, gradient {}",
                analytic[entry]
            );
        }
    }
}

#[test]
fn merging_gives_the_adapted_logits() {
    let device = device();
    let model = adapted(&device);
    let ids = tokens(&[3, 17, 5, 9, 22], &device);
    let adapted_logits = values(model.forward(ids.clone()));
    let base_logits = values(model.clone().without_adapters().forward(ids.clone()));
    let mut merged = model;
    merged.merge_lora(&device);
    assert!(!merged.has_adapters());
    assert_close(
        &values(merged.forward(ids)),
        &adapted_logits,
        1e-4,
        "merged",
    );
    let moved = adapted_logits
        .iter()
        .zip(&base_logits)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(moved > 1e-2, "the adapters change the logits ({moved})");
}

#[test]
fn a_fresh_adapter_leaves_the_model_as_it_was() {
    let device = device();
    device.seed(5);
    let model = llama_like().init(&device);
    let ids = tokens(&[3, 17, 5], &device);
    let before = values(model.forward(ids.clone()));
    let model = model
        .with_lora(&settings(&[LoraTarget::Q, LoraTarget::V]), &device)
        .unwrap();
    assert_eq!(model.adapters().len(), 4);
    assert_close(&values(model.forward(ids)), &before, 1e-6, "fresh adapters");
}

#[test]
fn a_gate_on_an_ungated_mlp_is_refused() {
    let device = device();
    let config = ModelConfig {
        activation: Activation::Gelu,
        ..llama_like()
    };
    let error = config
        .init(&device)
        .with_lora(&settings(&[LoraTarget::Gate]), &device)
        .unwrap_err();
    assert!(error.to_string().contains("Gate"), "{error}");
}

/// The projection `target` sits in.
fn site(model: &Gpt, layer: usize, target: LoraTarget) -> &Projection {
    let block = &model.h[layer];
    match target {
        LoraTarget::Q | LoraTarget::K | LoraTarget::V => &block.attn.c_attn,
        LoraTarget::O => &block.attn.c_proj,
        LoraTarget::Gate | LoraTarget::Up => &block.mlp.c_fc,
        LoraTarget::Down => &block.mlp.c_proj,
    }
}

fn assert_close(got: &[f64], expected: &[f64], tolerance: f64, what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}");
    let scale = expected
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(1e-6);
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!(
            (g - e).abs() <= tolerance * scale.max(1.0),
            "{what}[{i}]: {g} vs {e} (scale {scale})"
        );
    }
}

/// QLoRA: adapters on a packed (Q8_0) base. Their gradients equal those of the same adapters on
/// the float model of the decoded weights, which the tests above check against finite
/// differences and the projected weight gradient.
#[test]
fn adapters_on_a_packed_base_get_the_float_gradients() {
    use claude_core::{PackedArithmetic, QuantScheme};
    use claude_quant::{GgmlType, RowFormat};

    let device = device().autodiff();
    let plain = device.clone().without_autodiff();
    device.seed(9);
    let mut packed = llama_like().init(&plain);
    packed
        .quantize(QuantScheme::Uniform(RowFormat::Ggml(GgmlType::Q8_0)), true)
        .unwrap();
    packed.set_packed_arithmetic(PackedArithmetic::Exact);
    let mut decoded = packed.clone();
    decoded.dequantize(&plain);
    let with_adapters =
        |model: Gpt, adapters: &[(usize, LoraTarget, Tensor<2>, Tensor<2>, f64)]| {
            let mut model = model
                .fork(&device)
                .with_lora(&settings(&LoraTarget::ALL), &device)
                .unwrap();
            for (layer, target, a, b, scale) in adapters {
                let (a, b) = (a.clone().inner().autodiff(), b.clone().inner().autodiff());
                model.set_adapter(*layer, *target, a, b, *scale).unwrap();
            }
            model
        };
    // The adapters of `adapted`, with random B, on both bases.
    let adapters = adapter_values(&adapted(&device));
    let packed = with_adapters(packed, &adapters);
    let decoded = with_adapters(decoded, &adapters);
    assert!(matches!(packed.h[0].attn.c_attn, Projection::Packed(_)));
    assert!(matches!(decoded.h[0].attn.c_attn, Projection::Float(_)));
    let (packed_grads, decoded_grads) = (
        loss(&packed, &device).backward(),
        loss(&decoded, &device).backward(),
    );
    for (p, d) in packed.adapters().iter().zip(decoded.adapters()) {
        for (pa, da) in [(&p.slice.a, &d.slice.a), (&p.slice.b, &d.slice.b)] {
            let got = values(pa.val().grad(&packed_grads).expect("a QLoRA gradient"));
            let expected = values(da.val().grad(&decoded_grads).unwrap());
            assert_close(&got, &expected, 1e-4, "QLoRA gradient");
        }
    }
}

/// The loss over every position's logits, as `masked_loss` computed it before it took only the
/// counted positions' logits.
fn loss_over_every_position(model: &Gpt, weights: &[f32], device: &Device) -> Tensor<1> {
    let ids = [3, 17, 5, 9, 22, 1, 30, 8, 12, 4];
    let logits = model.forward(tokens(&ids[..9], device)).reshape([9, 40]);
    let picked = burn::tensor::activation::log_softmax(logits, 1)
        .gather(1, tokens(&ids[1..], device).reshape([9, 1]))
        .reshape([9]);
    let weights = Tensor::<1>::from_data(TensorData::new(weights.to_vec(), [9]), device);
    -(picked * weights.clone()).sum() / weights.sum().clamp_min(1.0)
}

#[test]
fn the_masked_loss_takes_logits_only_where_it_counts_and_changes_nothing() {
    let device = device().autodiff();
    let model = adapted(&device);
    let ids = [3, 17, 5, 9, 22, 1, 30, 8, 12, 4];
    for weights in [
        vec![0.0f32, 0., 1., 1., 0., 1., 1., 1., 0.],
        vec![0.5f32, 0., 2., 0., 0., 0., 0., 0., 1.],
        vec![0.0f32; 9],
    ] {
        let ours = model.masked_loss(
            tokens(&ids[..9], &device),
            tokens(&ids[1..], &device),
            &weights,
        );
        let reference = loss_over_every_position(&model, &weights, &device);
        let (a, b) = (values(ours.clone())[0], values(reference.clone())[0]);
        assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
        let (ours, reference) = (ours.backward(), reference.backward());
        for adapter in model.adapters() {
            for param in [adapter.slice.a.val(), adapter.slice.b.val()] {
                match (param.grad(&ours), param.grad(&reference)) {
                    (Some(got), Some(want)) => {
                        let (got, want) = (values(got), values(want));
                        for (g, w) in got.iter().zip(&want) {
                            assert!((g - w).abs() <= 1e-5 + 1e-4 * w.abs(), "{g} vs {w}");
                        }
                    }
                    (got, want) => assert!(
                        got.is_none_or(|g| values(g).iter().all(|&v| v == 0.0))
                            && want.is_none_or(|w| values(w).iter().all(|&v| v == 0.0)),
                        "a gradient on one side only"
                    ),
                }
            }
        }
    }
}
