//! A real GGUF model through the generator: SmolLM2-135M-Instruct (Q4_1) with the tokenizer
//! inside its file gives the prompt ids and the greedy continuation of the float64 reference in
//! `crates/claude-core/tests/data/reference/` (numpy, reading the same file).

use std::path::Path;

use burn::prelude::*;
use claude_inference::{FinishReason, Generator, SamplingParams, SequenceRequest};
use serde_json::Value;

fn smollm2() -> std::path::PathBuf {
    claude_tokenizer::shared_data_dir()
        .join("models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn reference() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../claude-core/tests/data/reference/smollm2_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn smollm2_gguf_tokenizes_and_continues_as_the_reference() {
    let device = Device::flex();
    let generator = Generator::load(&smollm2(), None, &device).unwrap();
    assert_eq!(generator.context_length(), 8192);
    let reference = reference();
    let plain = &reference["sequences"][0];
    let text = plain["text"].as_str().unwrap();
    // SmolLM2 adds no BOS to a plain prompt (`add_bos_token` is false).
    let prompt = generator.tokenizer().encode(text).unwrap();
    assert_eq!(prompt, ids(&plain["tokens"]));
    let greedy = SamplingParams {
        temperature: 0.0,
        ..SamplingParams::NANOGPT
    };
    let completion = generator
        .generate(
            SequenceRequest {
                prompt,
                max_new_tokens: 48,
                sampling: greedy.clone(),
                stop: Vec::new(),
            },
            |_| true,
        )
        .unwrap();
    assert_eq!(completion.tokens, ids(&plain["greedy"]["tokens"]));
    assert_eq!(completion.text, plain["greedy"]["text"].as_str().unwrap());
    assert_eq!(completion.finish, FinishReason::Length);

    // A chat turn ends at the model's end-of-generation token, `<|im_end|>`.
    let chat = &reference["sequences"][1];
    let expected = ids(&chat["greedy"]["tokens"]);
    let end = chat["greedy"]["first_eos_step"].as_u64().unwrap() as usize;
    let completion = generator
        .generate(
            SequenceRequest {
                prompt: ids(&chat["tokens"]),
                max_new_tokens: 48,
                sampling: greedy,
                stop: Vec::new(),
            },
            |_| true,
        )
        .unwrap();
    assert_eq!(completion.finish, FinishReason::Stop);
    assert_eq!(completion.tokens, expected[..=end]);
    assert_eq!(completion.text, "The capital of France is Paris.");
}
