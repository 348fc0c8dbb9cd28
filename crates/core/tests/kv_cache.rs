//! Incremental decoding with the key/value cache equals the full (uncached) forward pass: the
//! same logits within 1e-4 and the same greedy tokens, for every position scheme, and for rows of
//! different lengths decoded together; within f16 rounding from an f16 cache.

use burn::prelude::*;
use claude_core::{Activation, Gpt, KvCache, KvCacheType, ModelConfig, Positions, SlidingWindow};

use crate::support::device;

const TOLERANCE: f64 = 1e-4;
/// Logits from an f16 cache against the f32 pass.
const F16_TOLERANCE: f64 = 1e-3;

fn rows_of(t: Tensor<2>) -> Vec<Vec<f64>> {
    let [_, width] = t.dims();
    let flat: Vec<f64> = t
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect();
    flat.chunks(width).map(<[f64]>::to_vec).collect()
}

/// Next-token logits after `ids`, from the full forward pass.
fn uncached_logits(model: &Gpt, ids: &[u32], device: &Device) -> Vec<f64> {
    let input: Vec<i32> = ids.iter().map(|&t| t as i32).collect();
    let logits = model.forward(Tensor::from_data(
        TensorData::new(input, [1, ids.len()]),
        device,
    ));
    let [_, seq, vocab] = logits.dims();
    rows_of(logits.slice(s![0..1, seq - 1..seq, ..]).reshape([1, vocab])).remove(0)
}

fn prefill(model: &Gpt, ids: &[u32], device: &Device) -> (Vec<f64>, KvCache) {
    let input: Vec<i32> = ids.iter().map(|&t| t as i32).collect();
    let (logits, cache) = model.prefill(Tensor::from_data(
        TensorData::new(input, [1, ids.len()]),
        device,
    ));
    (rows_of(logits).remove(0), cache)
}

fn decode(model: &Gpt, next: &[u32], cache: &mut KvCache, device: &Device) -> Vec<Vec<f64>> {
    let input: Vec<i32> = next.iter().map(|&t| t as i32).collect();
    rows_of(model.decode(
        Tensor::from_data(TensorData::new(input, [next.len()]), device),
        cache,
    ))
}

fn argmax(logits: &[f64]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

fn assert_close(cached: &[f64], reference: &[f64], what: &str) {
    assert_within(cached, reference, TOLERANCE, what);
}

fn assert_within(cached: &[f64], reference: &[f64], tolerance: f64, what: &str) {
    let diff = cached
        .iter()
        .zip(reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(diff < tolerance, "{what}: max abs diff {diff}");
}

fn config(positions: Positions, activation: Activation) -> ModelConfig {
    let mut config = ModelConfig {
        vocab_size: 40,
        context_length: 24,
        n_layer: 2,
        n_head: 2,
        d_model: 16,
        ..ModelConfig::default()
    };
    (config.positions, config.activation) = (positions, activation);
    config
}

#[test]
fn greedy_decoding_with_the_cache_equals_the_full_forward_pass() {
    let device = device();
    for positions in [Positions::Learned, Positions::Sinusoidal, Positions::Rope] {
        for activation in [Activation::Gelu, Activation::Swiglu] {
            device.seed(11);
            let model = config(positions, activation).init(&device);
            let prompt = [3u32, 17, 5];

            // Uncached: re-run the whole sequence for every token.
            let mut plain = prompt.to_vec();
            while plain.len() < 24 {
                let logits = uncached_logits(&model, &plain, &device);
                plain.push(argmax(&logits));
            }

            // Cached: one prefill, then one token at a time.
            let (mut logits, mut cache) = prefill(&model, &prompt, &device);
            let mut cached = prompt.to_vec();
            while cached.len() < 24 {
                let what = format!("{positions:?}/{activation:?} at {}", cached.len());
                assert_close(&logits, &uncached_logits(&model, &cached, &device), &what);
                let next = argmax(&logits);
                cached.push(next);
                if cached.len() < 24 {
                    logits = decode(&model, &[next], &mut cache, &device).remove(0);
                }
            }
            assert_eq!(cached, plain, "{positions:?}/{activation:?}");
            assert_eq!(cache.lengths(), &[23]);
        }
    }
}

#[test]
fn rows_of_different_lengths_decode_together() {
    let device = device();
    for positions in [Positions::Learned, Positions::Sinusoidal, Positions::Rope] {
        device.seed(5);
        let model = config(positions, Activation::Gelu).init(&device);
        let mut sequences = vec![vec![1u32, 2, 3], vec![9u32, 8, 7, 6, 5, 4, 3], vec![30u32]];
        let (_, mut cache) = prefill(&model, &sequences[0], &device);
        for seq in &sequences[1..] {
            cache.append(prefill(&model, seq, &device).1);
        }
        assert_eq!(cache.lengths(), &[3, 7, 1]);
        for step in 0..6u32 {
            let next: Vec<u32> = (0..3).map(|row| (step * 7 + row * 3) % 40).collect();
            let logits = decode(&model, &next, &mut cache, &device);
            for (row, seq) in sequences.iter_mut().enumerate() {
                seq.push(next[row]);
                let what = format!("{positions:?} row {row} step {step}");
                assert_close(&logits[row], &uncached_logits(&model, seq, &device), &what);
            }
        }

        // Drop the middle row, then restart the first one from a new prompt.
        cache.retain(&[0, 2]);
        sequences.remove(1);
        let fresh = vec![4u32, 4, 4, 4, 4];
        cache.replace_row(0, prefill(&model, &fresh, &device).1);
        sequences[0] = fresh;
        assert_eq!(cache.lengths(), &[5, 7]);
        let logits = decode(&model, &[11, 12], &mut cache, &device);
        for (row, (seq, next)) in sequences.iter_mut().zip([11, 12]).enumerate() {
            seq.push(next);
            let what = format!("{positions:?} after retain, row {row}");
            assert_close(&logits[row], &uncached_logits(&model, seq, &device), &what);
        }
    }
}

/// The variants of the pretrained families: Qwen2's q/k/v biases, and Gemma 3's head width of
/// its own, per-head query/key norms, post-norms, scaled embeddings, tanh-GeGLU and local layers
/// that see a window of 5 positions with their own RoPE base.
fn pretrained_variants() -> [(&'static str, ModelConfig); 2] {
    let llama = ModelConfig {
        n_kv_head: Some(1),
        norm: claude_core::NormKind::Rmsnorm,
        bias: false,
        ..config(Positions::Rope, Activation::Swiglu)
    };
    let qwen2 = ModelConfig {
        qkv_bias: true,
        ..llama.clone()
    };
    let gemma3 = ModelConfig {
        activation: Activation::GegluTanh,
        head_dim: Some(12),
        qk_norm: true,
        post_norms: true,
        scale_embeddings: true,
        rope_theta: 1e6,
        sliding_window: Some(SlidingWindow {
            size: 5,
            every: 2,
            rope_theta: 100.0,
        }),
        ..llama
    };
    [("qwen2", qwen2), ("gemma3", gemma3)]
}

#[test]
fn pretrained_variants_decode_as_they_run_whole_past_the_window() {
    let device = device();
    for (name, config) in pretrained_variants() {
        device.seed(21);
        let model = config.init(&device);
        let mut sequences = [vec![1u32, 2, 3], vec![9u32, 8, 7, 6, 5, 4, 3, 2]];
        let (_, mut cache) = prefill(&model, &sequences[0], &device);
        cache.append(prefill(&model, &sequences[1], &device).1);
        decode_two_rows(&model, &mut sequences, &mut cache, (name, TOLERANCE));
    }
}

/// Ten decode steps of the two rows of `cache` (holding `sequences`), each row's logits
/// within `tolerance` of the uncached pass over its sequence.
fn decode_two_rows(
    model: &Gpt,
    sequences: &mut [Vec<u32>; 2],
    cache: &mut KvCache,
    (name, tolerance): (&str, f64),
) {
    let device = device();
    for step in 0..10u32 {
        let next: Vec<u32> = (0..2).map(|row| (step * 7 + row * 3) % 40).collect();
        let logits = decode(model, &next, cache, &device);
        for (row, seq) in sequences.iter_mut().enumerate() {
            seq.push(next[row]);
            let what = format!("{name} row {row}, {} tokens", seq.len());
            let reference = uncached_logits(model, seq, &device);
            assert_within(&logits[row], &reference, tolerance, &what);
        }
    }
}

/// An f16 cache's logits are the f32 pass's within f16 rounding of the keys and values (11
/// significant bits), through prefill, a chunk fed after it, rows of different lengths and a
/// window's ring; its buffers take half the bytes.
#[test]
fn an_f16_cache_decodes_within_its_rounding_in_half_the_memory() {
    let device = device();
    for (name, config) in pretrained_variants() {
        device.seed(21);
        let mut model = config.init(&device);
        let f32_bytes = prefill(&model, &[1, 2, 3], &device).1.memory_bytes();
        model.set_kv_cache_type(KvCacheType::F16);
        let mut sequences = [vec![1u32, 2, 3, 4, 5], vec![9u32, 8, 7, 6, 5, 4, 3, 2]];
        let (_, mut cache) = prefill(&model, &sequences[0][..3], &device);
        assert_eq!(2 * cache.memory_bytes(), f32_bytes, "{name}");
        let logits = extend(&model, &sequences[0][3..], &mut cache, &device);
        let what = format!("{name}, a chunk after the prompt");
        let reference = uncached_logits(&model, &sequences[0], &device);
        assert_within(&logits, &reference, F16_TOLERANCE, &what);
        cache.append(prefill(&model, &sequences[1], &device).1);
        decode_two_rows(&model, &mut sequences, &mut cache, (name, F16_TOLERANCE));
    }
}

#[test]
fn a_window_hides_the_positions_before_it() {
    let device = device();
    let [_, (_, config)] = pretrained_variants();
    device.seed(4);
    let model = ModelConfig {
        sliding_window: Some(SlidingWindow {
            every: 100, // every layer local
            ..config.sliding_window.unwrap()
        }),
        ..config
    }
    .init(&device);
    // With every layer local and a window of 5, a position sees 4 before it per layer: after
    // two layers the last token depends on the 8 before it and no earlier, so sequences that
    // differ only in their first 6 of 15 positions give the same last logits.
    let tail: Vec<u32> = (0..9).map(|i| (i * 5 + 1) % 40).collect();
    let a: Vec<u32> = [vec![7u32; 6], tail.clone()].concat();
    let b: Vec<u32> = [vec![30u32, 2, 9, 4, 11, 3], tail].concat();
    assert_close(
        &uncached_logits(&model, &a, &device),
        &uncached_logits(&model, &b, &device),
        "beyond the windows",
    );
    // One more position of difference inside the reach changes the logits.
    let mut c = a.clone();
    c[6] = 39;
    let diff = uncached_logits(&model, &a, &device)
        .iter()
        .zip(uncached_logits(&model, &c, &device))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    assert!(
        diff > 1e-3,
        "a change inside the windows' reach moved nothing"
    );
}

#[test]
fn a_full_row_is_reported() {
    let device = device();
    let model = config(Positions::Learned, Activation::Gelu).init(&device);
    let prompt: Vec<u32> = (0..24).collect();
    let (_, cache) = prefill(&model, &prompt, &device);
    assert!(cache.is_full(0));
    assert_eq!(cache.capacity(), 24);
}

#[test]
fn the_cache_grows_with_its_longest_row_up_to_the_context() {
    let device = device();
    device.seed(3);
    let model = ModelConfig {
        context_length: 700,
        ..config(Positions::Rope, Activation::Swiglu)
    }
    .init(&device);
    let short = vec![1u32, 2, 3];
    let long: Vec<u32> = (0..300).map(|i| (i * 7 % 40) as u32).collect();
    let (_, mut cache) = prefill(&model, &short, &device);
    assert_eq!((cache.allocated(), cache.capacity()), (64, 700));
    // A longer row joins: both rows now have room for 300 positions.
    cache.append(prefill(&model, &long, &device).1);
    assert_eq!(cache.allocated(), 300);
    let mut sequences = [short, long];
    for step in 0..12u32 {
        let next = [step % 40, (step * 3) % 40];
        let logits = decode(&model, &next, &mut cache, &device);
        for (row, seq) in sequences.iter_mut().enumerate() {
            seq.push(next[row]);
            let what = format!("row {row}, {} tokens", seq.len());
            assert_close(&logits[row], &uncached_logits(&model, seq, &device), &what);
        }
    }
    // The long row passed 300 positions: the buffers grew by a quarter (never past the
    // context).
    assert_eq!(cache.allocated(), 375);
    assert_eq!(cache.lengths(), &[15, 312]);
}

/// Feeds `ids` after what a one-row `cache` holds and returns the logits after the last one.
fn extend(model: &Gpt, ids: &[u32], cache: &mut KvCache, device: &Device) -> Vec<f64> {
    let input: Vec<i32> = ids.iter().map(|&t| t as i32).collect();
    let tokens = Tensor::from_data(TensorData::new(input, [1, ids.len()]), device);
    rows_of(model.extend(tokens, cache)).remove(0)
}

/// A prompt fed in chunks after a cached prefix (prompt caching, chunked prefill) gives the
/// logits of the whole prompt run at once, for every position scheme, grouped heads with biases
/// and Gemma 3's variants within its window; a prefix cut back and continued otherwise too.
#[test]
fn a_prompt_fed_in_chunks_after_a_cached_prefix_runs_as_a_whole() {
    let device = device();
    let mut configs: Vec<(String, ModelConfig)> = [Positions::Learned, Positions::Sinusoidal]
        .into_iter()
        .map(|positions| {
            let config = config(positions, Activation::Gelu);
            (format!("{positions:?}"), config)
        })
        .collect();
    configs.extend(pretrained_variants().map(|(name, config)| (name.to_string(), config)));
    let prompt: Vec<u32> = (0..12).map(|i| (i * 11 + 3) % 40).collect();
    for (name, config) in configs {
        device.seed(5);
        let model = config.init(&device);
        // Gemma's local layers see 5 positions: extending stops there; the others' context is
        // 24.
        let limit = if name == "gemma3" { 5 } else { 24 };
        assert!(
            model.extends_to(limit) && !model.extends_to(limit + 1),
            "{name}"
        );
        let end = prompt.len().min(limit);
        for mut chunks in [vec![1, end - 1], vec![3, 2, end - 5], vec![end - 1, 1]] {
            chunks.retain(|&chunk| chunk > 0);
            let (_, mut cache) = prefill(&model, &prompt[..chunks[0]], &device);
            let mut fed = chunks[0];
            let mut logits = Vec::new();
            for &chunk in &chunks[1..] {
                logits = extend(&model, &prompt[fed..fed + chunk], &mut cache, &device);
                fed += chunk;
            }
            assert_eq!(cache.lengths(), [end]);
            let what = format!("{name}, chunks {chunks:?}");
            assert_close(
                &logits,
                &uncached_logits(&model, &prompt[..end], &device),
                &what,
            );
            // Decoding goes on from the extended cache as from a prefill.
            let next = decode(&model, &[7], &mut cache, &device).remove(0);
            let whole = [&prompt[..end], &[7]].concat();
            assert_close(&next, &uncached_logits(&model, &whole, &device), &what);
        }
        // A cached prefix cut back and continued with other tokens forgets what it cut.
        let (_, mut cache) = prefill(&model, &prompt[..end], &device);
        cache.truncate(0, 2);
        let other = [39u32, 38];
        let logits = extend(&model, &other, &mut cache, &device);
        let whole = [&prompt[..2], &other[..]].concat();
        assert_close(
            &logits,
            &uncached_logits(&model, &whole, &device),
            &format!("{name}, cut"),
        );
    }
}
