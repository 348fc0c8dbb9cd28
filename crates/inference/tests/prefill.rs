//! Prompt caching and chunked prefill give what one prefill from position 0 gives: the same
//! logits (within rounding) and the same greedy tokens, for prompts longer than a chunk and
//! prompts that share a cached prefix; a scheduler's batch decodes between a long prompt's chunks.

use burn::prelude::*;
use claude_core::ModelConfig;
use claude_inference::{
    Generator, PREFILL_CHUNK, Sampler, SamplingParams, SequenceRequest, generate_uncached,
};
use claude_tokenizer::{CharTokenizer, Tokenizer};

const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyz .,\n";

fn tokenizer() -> Tokenizer {
    Tokenizer::Char(CharTokenizer::new(ALPHABET.chars()))
}

/// A small random model with grouped-query heads and rotary positions, and its generator.
fn generator(prompt_cache_bytes: usize) -> Generator {
    let device = Device::flex();
    Generator::new(model(), tokenizer(), device).with_prompt_cache(prompt_cache_bytes)
}

/// The model of [`generator`].
fn model() -> claude_core::Gpt {
    let device = Device::flex();
    device.seed(17);
    let config = ModelConfig {
        vocab_size: tokenizer().vocab_size(),
        context_length: 512,
        n_layer: 2,
        n_head: 4,
        n_kv_head: Some(2),
        d_model: 32,
        positions: claude_core::Positions::Rope,
        ..ModelConfig::default()
    };
    config.init(&device)
}

fn greedy(prompt: &[u32], max_new_tokens: usize) -> SequenceRequest {
    SequenceRequest {
        prompt: prompt.to_vec(),
        max_new_tokens,
        sampling: SamplingParams {
            temperature: 0.0,
            ..SamplingParams::default()
        },
        ..Default::default()
    }
}

/// `len` tokens of text that does not repeat soon.
fn text(len: usize, seed: usize) -> Vec<u32> {
    let words = "the quick brown fox jumps over a lazy dog, and then it sleeps.\n";
    let text: String = words.chars().cycle().skip(seed).take(len).collect();
    tokenizer().encode(&text).unwrap()
}

/// The first token's logits as the generator reports them (through logprobs of every token).
fn first_logprobs(generator: &Generator, prompt: &[u32]) -> Vec<f32> {
    let request = SequenceRequest {
        logprobs: Some(5),
        ..greedy(prompt, 1)
    };
    let completion_events = {
        let mut events = Vec::new();
        generator
            .generate(request, |event| {
                events.push(event.clone());
                true
            })
            .unwrap();
        events
    };
    let logprobs = completion_events[0]
        .logprobs
        .clone()
        .expect("logprobs asked for");
    logprobs.top.iter().map(|&(_, logprob)| logprob).collect()
}

#[test]
fn a_prompt_longer_than_a_chunk_generates_as_the_uncached_loop() {
    let generator = generator(0);
    let prompt = text(2 * PREFILL_CHUNK + 37, 0);
    let cached = generator.generate(greedy(&prompt, 12), |_| true).unwrap();
    let uncached = generate_uncached(
        generator.model(),
        &prompt,
        12,
        &mut Sampler::new(greedy(&prompt, 12).sampling),
        &Device::flex(),
    );
    assert_eq!(cached.tokens, uncached);
}

#[test]
fn a_shared_prefix_is_reused_and_gives_the_same_logits() {
    // One model behind both generators.
    let model = model();
    let device = Device::flex();
    let cached =
        Generator::new(model.clone(), tokenizer(), device.clone()).with_prompt_cache(64 << 20);
    let plain = Generator::new(model, tokenizer(), device);
    let system = text(150, 3);
    let first = [system.clone(), text(20, 40)].concat();
    let second = [system.clone(), text(31, 7)].concat();
    // The first prompt fills the cache; the second reuses its 150 shared tokens (and a prompt
    // equal to a cached one reuses all but its last token).
    for (i, prompt) in [&first, &second, &second].into_iter().enumerate() {
        let reused = cached.prompt_cache_stats().unwrap().reused_tokens;
        let a = first_logprobs(&cached, prompt);
        let b = first_logprobs(&plain, prompt);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-4, "prompt {i}: {a:?} against {b:?}");
        }
        let reused = cached.prompt_cache_stats().unwrap().reused_tokens - reused;
        let expected = [0, 150, second.len() - 1][i];
        assert_eq!(reused, expected as u64, "prompt {i}");
        let ours = cached.generate(greedy(prompt, 10), |_| true).unwrap();
        let theirs = plain.generate(greedy(prompt, 10), |_| true).unwrap();
        assert_eq!(ours.tokens, theirs.tokens, "prompt {i}");
    }
    assert_eq!(plain.prompt_cache_stats(), None);
}

#[test]
fn the_prompt_cache_stays_within_its_budget() {
    let generator = generator(0);
    let ids = Tensor::from_data(TensorData::new(vec![1i32; 100], [1, 100]), &Device::flex());
    let (_, kv) = generator.model().prefill(ids);
    let each = kv.memory_bytes();
    // A budget of three prompts' caches keeps the three most recent.
    let mut cache = claude_inference::PromptCache::new(3 * each);
    for seed in 0..6 {
        cache.insert(text(100, seed * 11), kv.clone());
        assert!(cache.memory_bytes() <= 3 * each);
    }
    assert_eq!(cache.len(), 3);
    assert!(cache.lookup(&text(100, 55)).is_some());
    assert!(cache.lookup(&text(100, 0)).is_none());
    // A prompt whose cache alone exceeds the budget is not kept.
    let mut small = claude_inference::PromptCache::new(each - 1);
    small.insert(text(100, 0), kv);
    assert!(small.is_empty());
}

#[test]
fn the_batch_decodes_between_a_long_prompts_chunks() {
    let generator = generator(0);
    let mut batch = generator.batch();
    let short = batch.add(0, greedy(&text(10, 1), 50)).unwrap();
    assert!(short.finish.is_none());
    batch
        .begin(1, greedy(&text(3 * PREFILL_CHUNK, 2), 5))
        .unwrap();
    let mut steps_before_first_token = 0;
    loop {
        if let Some((id, event)) = batch.prefill_chunk() {
            assert_eq!(id, 1);
            assert!(event.finish.is_none());
            break;
        }
        // The short sequence keeps decoding while the long prompt is fed.
        let events = batch.step();
        assert_eq!(events.len(), 1);
        steps_before_first_token += 1;
    }
    assert_eq!(
        steps_before_first_token, 2,
        "two chunks fed before the third completes"
    );
    assert_eq!(batch.len(), 2);
    assert_eq!(batch.step().len(), 2);
}
