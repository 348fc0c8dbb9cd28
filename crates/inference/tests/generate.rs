//! The KV-cache generator against the uncached loop, batched decoding against one-at-a-time,
//! and the stopping rules (max tokens, stop sequences, end of text, context overflow).

use burn::prelude::*;
use claude_core::ModelConfig;
use claude_inference::{
    FinishReason, GenerateError, Generator, OverflowPolicy, Sampler, SamplingParams,
    SequenceRequest, generate_uncached,
};
use claude_tokenizer::{CharTokenizer, Tokenizer};

const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyz .,\n";

fn generator(seed: u64, context: usize) -> Generator {
    let device = Device::flex();
    device.seed(seed);
    let tokenizer = Tokenizer::Char(CharTokenizer::new(ALPHABET.chars()));
    let config = ModelConfig {
        vocab_size: tokenizer.vocab_size(),
        context_length: context,
        n_layer: 2,
        n_head: 2,
        d_model: 32,
        ..ModelConfig::default()
    };
    Generator::new(config.init(&device), tokenizer, device)
}

fn greedy() -> SamplingParams {
    SamplingParams {
        temperature: 0.0,
        ..SamplingParams::default()
    }
}

fn request(prompt: &str, max_new_tokens: usize, sampling: SamplingParams) -> SequenceRequest {
    let tokenizer = Tokenizer::Char(CharTokenizer::new(ALPHABET.chars()));
    SequenceRequest {
        prompt: tokenizer.encode(prompt).unwrap(),
        max_new_tokens,
        sampling,
        stop: Vec::new(),
        ..Default::default()
    }
}

#[test]
fn cached_greedy_decoding_equals_the_uncached_loop() {
    let generator = generator(3, 48);
    let req = request("the quick brown fox", 25, greedy());
    let cached = generator.generate(req.clone(), |_| true).unwrap();
    let uncached = generate_uncached(
        generator.model(),
        &req.prompt,
        25,
        &mut Sampler::new(greedy()),
        &Device::flex(),
    );
    assert_eq!(cached.tokens, uncached);
    assert_eq!(cached.finish, FinishReason::Length);
    assert_eq!(
        cached.text,
        generator.tokenizer().decode(&uncached).unwrap()
    );
}

#[test]
fn seeded_sampling_is_reproducible_and_matches_the_uncached_loop() {
    let generator = generator(4, 48);
    let params = SamplingParams {
        temperature: 1.0,
        top_k: 10,
        top_p: 0.9,
        seed: 99,
        ..SamplingParams::default()
    };
    let req = request("hello there", 20, params.clone());
    let first = generator.generate(req.clone(), |_| true).unwrap();
    let second = generator.generate(req.clone(), |_| true).unwrap();
    assert_eq!(first, second);
    let uncached = generate_uncached(
        generator.model(),
        &req.prompt,
        20,
        &mut Sampler::with_prompt(params, &req.prompt),
        &Device::flex(),
    );
    assert_eq!(first.tokens, uncached);
}

#[test]
fn a_batch_of_different_lengths_gives_what_each_gives_alone() {
    let generator = generator(5, 64);
    let prompts = [
        "a",
        "to be or not to be",
        "what light through yonder window",
    ];
    let alone: Vec<Vec<u32>> = prompts
        .iter()
        .map(|p| {
            generator
                .generate(request(p, 12, greedy()), |_| true)
                .unwrap()
                .tokens
        })
        .collect();

    let mut batch = generator.batch();
    let mut together: Vec<Vec<u32>> = vec![Vec::new(); prompts.len()];
    // Join at different times: the second and third arrive after the first has decoded.
    let first = batch.add(0, request(prompts[0], 12, greedy())).unwrap();
    together[0].push(first.token);
    for (id, event) in batch.step() {
        together[id as usize].push(event.token);
    }
    for (id, prompt) in prompts.iter().enumerate().skip(1) {
        let event = batch.add(id as u64, request(prompt, 12, greedy())).unwrap();
        together[id].push(event.token);
    }
    while !batch.is_empty() {
        let events = batch.step();
        assert!(events.len() <= prompts.len());
        for (id, event) in events {
            together[id as usize].push(event.token);
        }
    }
    assert_eq!(together, alone);
}

#[test]
fn removing_a_sequence_leaves_the_others_intact() {
    let generator = generator(6, 64);
    let alone = generator
        .generate(request("keep me", 10, greedy()), |_| true)
        .unwrap()
        .tokens;
    let mut batch = generator.batch();
    let mut kept = vec![
        batch
            .add(0, request("keep me", 10, greedy()))
            .unwrap()
            .token,
    ];
    batch.add(1, request("drop me soon", 10, greedy())).unwrap();
    batch
        .step()
        .into_iter()
        .filter(|(id, _)| *id == 0)
        .for_each(|(_, e)| kept.push(e.token));
    batch.remove(1);
    assert_eq!(batch.len(), 1);
    while !batch.is_empty() {
        kept.extend(batch.step().into_iter().map(|(_, e)| e.token));
    }
    assert_eq!(kept, alone);
}

#[test]
fn stop_sequences_end_the_text_before_them() {
    let generator = generator(7, 64);
    let free = generator
        .generate(request("abc", 30, greedy()), |_| true)
        .unwrap();
    // Stop at a piece of what greedy decoding produces anyway.
    let stop: String = free.text.chars().skip(5).take(2).collect();
    let cut = free.text.find(&stop).unwrap();
    let mut req = request("abc", 30, greedy());
    req.stop = vec![stop.clone()];
    let stopped = generator.generate(req, |_| true).unwrap();
    assert_eq!(stopped.finish, FinishReason::Stop);
    assert_eq!(stopped.text, free.text[..cut], "stop {stop:?}");
}

#[test]
fn requests_beyond_the_context_are_rejected_by_default() {
    let generator = generator(8, 16);
    let err = generator
        .generate(request("abcdefghij", 10, greedy()), |_| true)
        .unwrap_err();
    assert!(
        matches!(
            err,
            GenerateError::RequestTooLong {
                prompt: 10,
                max_new: 10,
                context: 16
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("at most 6 new tokens"), "{err}");
    let err = generator
        .generate(request(&"a".repeat(17), 1, greedy()), |_| true)
        .unwrap_err();
    assert!(matches!(err, GenerateError::PromptTooLong { .. }), "{err}");
    // Exactly filling the context is fine.
    let ok = generator
        .generate(request("abcdefghij", 6, greedy()), |_| true)
        .unwrap();
    assert_eq!(ok.tokens.len(), 6);
}

#[test]
fn a_sliding_window_generates_past_the_context() {
    let generator = generator(9, 16).with_overflow(OverflowPolicy::SlidingWindow);
    let long_prompt = "the prompt is longer than sixteen characters";
    let done = generator
        .generate(request(long_prompt, 50, greedy()), |_| true)
        .unwrap();
    assert_eq!(done.tokens.len(), 50);
    assert_eq!(done.finish, FinishReason::Length);
}

#[test]
fn bad_requests_are_refused_with_the_reason() {
    let generator = generator(10, 32);
    let mut req = request("abc", 5, greedy());
    req.sampling.top_p = 1.5;
    let err = generator.generate(req, |_| true).unwrap_err();
    assert!(err.to_string().contains("top_p"), "{err}");
    let mut req = request("abc", 5, greedy());
    req.prompt.push(999);
    assert!(matches!(
        generator.generate(req, |_| true).unwrap_err(),
        GenerateError::UnknownToken { id: 999, .. }
    ));
    let empty = SequenceRequest {
        prompt: Vec::new(),
        ..request("a", 5, greedy())
    };
    assert!(matches!(
        generator.generate(empty, |_| true).unwrap_err(),
        GenerateError::EmptyPrompt
    ));
    assert!(matches!(
        generator
            .generate(request("a", 0, greedy()), |_| true)
            .unwrap_err(),
        GenerateError::NoNewTokens
    ));
}

#[test]
fn the_callback_can_stop_early() {
    let generator = generator(11, 64);
    let mut seen = 0;
    let done = generator
        .generate(request("abc", 30, greedy()), |_| {
            seen += 1;
            seen < 4
        })
        .unwrap();
    assert_eq!(done.tokens.len(), 4);
}
