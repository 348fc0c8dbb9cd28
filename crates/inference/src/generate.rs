//! The plain autoregressive loop.

use burn::prelude::*;
use claude_core::Gpt;

use crate::sampler::Sampler;

/// Extends `prompt` by up to `max_new_tokens` ids, calling `on_token` with each as it is chosen
/// (return `false` to stop early). The model sees at most its last `context_length` tokens.
pub fn generate(
    model: &Gpt,
    prompt: &[u32],
    max_new_tokens: usize,
    sampler: &mut Sampler,
    device: &Device,
    mut on_token: impl FnMut(u32) -> bool,
) -> Vec<u32> {
    let mut tokens = prompt.to_vec();
    for _ in 0..max_new_tokens {
        let window = &tokens[tokens.len().saturating_sub(model.context_length())..];
        let ids: Vec<i32> = window.iter().map(|&t| t as i32).collect();
        let input = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, window.len()]), device);
        let logits = model.forward(input); // [1, T, vocab]
        let [_, seq, vocab] = logits.dims();
        let last = logits.slice(s![0..1, seq - 1..seq, ..]).reshape([vocab]);
        let values: Vec<f32> = last
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("float logits");
        let next = sampler.sample(&values);
        tokens.push(next);
        if !on_token(next) {
            break;
        }
    }
    tokens
}
