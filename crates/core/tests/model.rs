//! The model against an independent plain-Rust forward pass, plus causality, every variant, and
//! the gradient sanity check (loss falls when overfitting one batch).

use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use claude_core::{
    Activation, Gpt, ModelConfig, Norm, NormKind, PositionEmbedding, Positions, Projection,
};

use crate::support::{device, tokens, values};

/// Plain-Rust reference: row vector times a float projection's `[d_in, d_out]` matrix plus bias.
fn affine(x: &[f64], layer: &Projection) -> Vec<f64> {
    let layer = layer
        .as_float()
        .expect("a freshly initialised model is float");
    let w = values(layer.weight.val());
    let d_out = layer.weight.dims()[1];
    let mut y = layer
        .bias
        .as_ref()
        .map_or(vec![0.0; d_out], |b| values(b.val()));
    for (i, xi) in x.iter().enumerate() {
        for (j, yj) in y.iter_mut().enumerate() {
            *yj += xi * w[i * d_out + j];
        }
    }
    y
}

fn layer_norm(x: &[f64], norm: &Norm) -> Vec<f64> {
    let Norm::Layer(ln) = norm else {
        panic!("reference covers LayerNorm")
    };
    let gamma = values(ln.gamma.val());
    let beta = ln
        .beta
        .as_ref()
        .map_or(vec![0.0; x.len()], |b| values(b.val()));
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / x.len() as f64;
    x.iter()
        .enumerate()
        .map(|(i, v)| (v - mean) / (var + 1e-5).sqrt() * gamma[i] + beta[i])
        .collect()
}

/// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    (1.0 - poly * (-x * x).exp()).copysign(x)
}

/// GPT-2's forward pass written out with loops over the model's own weights.
fn reference_logits(model: &Gpt, config: &ModelConfig, ids: &[usize]) -> Vec<Vec<f64>> {
    let d = config.d_model;
    let (nh, hd) = (config.n_head, config.head_dim());
    let wte = values(model.wte.float().unwrap().weight.val());
    let PositionEmbedding::Learned(wpe) = &model.wpe else {
        panic!("learned positions")
    };
    let wpe = values(wpe.weight.val());
    let mut x: Vec<Vec<f64>> = ids
        .iter()
        .enumerate()
        .map(|(t, &id)| (0..d).map(|i| wte[id * d + i] + wpe[t * d + i]).collect())
        .collect();
    for block in &model.h {
        let qkv: Vec<Vec<f64>> = x
            .iter()
            .map(|row| affine(&layer_norm(row, &block.ln_1), &block.attn.c_attn))
            .collect();
        let mut attended = vec![vec![0.0; d]; ids.len()];
        for h in 0..nh {
            for t in 0..ids.len() {
                let q = &qkv[t][h * hd..(h + 1) * hd];
                let scores: Vec<f64> = (0..=t)
                    .map(|s| {
                        let k = &qkv[s][d + h * hd..d + (h + 1) * hd];
                        q.iter().zip(k).map(|(a, b)| a * b).sum::<f64>() / (hd as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let exp: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = exp.iter().sum();
                for (s, e) in exp.iter().enumerate() {
                    for i in 0..hd {
                        attended[t][h * hd + i] += e / total * qkv[s][2 * d + h * hd + i];
                    }
                }
            }
        }
        for t in 0..ids.len() {
            let out = affine(&attended[t], &block.attn.c_proj);
            x[t].iter_mut().zip(out).for_each(|(a, b)| *a += b);
            let hidden: Vec<f64> = affine(&layer_norm(&x[t], &block.ln_2), &block.mlp.c_fc)
                .into_iter()
                .map(|v| 0.5 * v * (1.0 + erf(v / std::f64::consts::SQRT_2)))
                .collect();
            let out = affine(&hidden, &block.mlp.c_proj);
            x[t].iter_mut().zip(out).for_each(|(a, b)| *a += b);
        }
    }
    x.iter()
        .map(|row| {
            let h = layer_norm(row, &model.ln_f);
            (0..config.vocab_size)
                .map(|v| (0..d).map(|i| h[i] * wte[v * d + i]).sum())
                .collect()
        })
        .collect()
}

#[test]
fn forward_equals_a_plain_rust_reference() {
    let device = device();
    device.seed(3);
    let config = ModelConfig {
        vocab_size: 11,
        context_length: 8,
        n_layer: 2,
        n_head: 2,
        d_model: 8,
        ..ModelConfig::default()
    };
    let model = config.init(&device);
    let ids = [3usize, 1, 4, 1, 5, 9, 2];
    let ours = model.forward(tokens(&ids.map(|i| i as i32), &device));
    let ours = values(ours);
    let reference = reference_logits(&model, &config, &ids);
    let max_diff = reference
        .iter()
        .flatten()
        .zip(&ours)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(max_diff < 1e-4, "max |ours - reference| = {max_diff}");
}

#[test]
fn initial_loss_is_close_to_uniform() {
    // GPT-2 initialisation gives near-uniform predictions: loss ~ ln(vocab).
    let device = device();
    let config = ModelConfig {
        vocab_size: 65,
        context_length: 16,
        n_layer: 2,
        n_head: 2,
        d_model: 32,
        ..ModelConfig::default()
    };
    let model = config.init(&device);
    let ids: Vec<i32> = (0..16).map(|i| i * 7 % 65).collect();
    let loss = model.loss(tokens(&ids[..15], &device), tokens(&ids[1..], &device));
    let loss = values(loss)[0];
    assert!((loss - 65f64.ln()).abs() < 0.1, "initial loss {loss}");
}

#[test]
fn later_tokens_never_change_earlier_logits() {
    let device = device();
    for positions in [Positions::Learned, Positions::Sinusoidal, Positions::Rope] {
        let mut config = ModelConfig {
            vocab_size: 20,
            context_length: 12,
            n_layer: 2,
            n_head: 2,
            d_model: 16,
            ..ModelConfig::default()
        };
        config.positions = positions;
        let model = config.init(&device);
        let a = values(
            model
                .forward(tokens(&[1, 2, 3, 4, 5, 6], &device))
                .slice(s![.., 0..4, ..]),
        );
        let b = values(
            model
                .forward(tokens(&[1, 2, 3, 4, 9, 0], &device))
                .slice(s![.., 0..4, ..]),
        );
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(diff < 1e-6, "{positions:?}: {diff}");
    }
}

#[test]
fn every_variant_builds_and_runs() {
    let device = device();
    for positions in [Positions::Learned, Positions::Sinusoidal, Positions::Rope] {
        for activation in [Activation::Gelu, Activation::Swiglu] {
            for norm in [NormKind::Layernorm, NormKind::Rmsnorm] {
                for (bias, tie) in [(true, true), (false, false)] {
                    let mut config = ModelConfig {
                        vocab_size: 30,
                        context_length: 10,
                        n_layer: 2,
                        n_head: 2,
                        d_model: 16,
                        ..ModelConfig::default()
                    };
                    (config.positions, config.activation, config.norm) =
                        (positions, activation, norm);
                    (config.bias, config.tie_embeddings) = (bias, tie);
                    let model = config.init(&device);
                    let logits = model.forward(tokens(&[1, 2, 3], &device));
                    assert_eq!(logits.dims(), [1, 3, 30]);
                    assert!(values(logits).iter().all(|v| v.is_finite()), "{config:?}");
                }
            }
        }
    }
}

#[test]
fn loss_falls_when_overfitting_one_batch() {
    let device = device().autodiff();
    device.seed(7);
    let config = ModelConfig {
        vocab_size: 32,
        context_length: 16,
        n_layer: 2,
        n_head: 2,
        d_model: 32,
        ..ModelConfig::default()
    };
    let mut model = config.init(&device);
    let mut optim = AdamWConfig::new().init();
    let ids: Vec<i32> = (0..17).map(|i| i * 5 % 32).collect();
    let (inputs, targets) = (tokens(&ids[..16], &device), tokens(&ids[1..], &device));
    let mut losses = Vec::new();
    for _ in 0..40 {
        let loss = model.loss(inputs.clone(), targets.clone());
        losses.push(values(loss.clone())[0]);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-2, model, grads);
    }
    let (first, last) = (losses[0], *losses.last().unwrap());
    assert!(last < first * 0.2, "loss went from {first} to {last}");
}
