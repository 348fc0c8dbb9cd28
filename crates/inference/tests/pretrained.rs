//! A real GGUF model through the generator: SmolLM2-135M-Instruct (Q4_1) with the tokenizer
//! inside its file gives the prompt ids and the greedy continuation of the float64 reference in
//! `crates/core/tests/data/reference/` (numpy, reading the same file).

use std::path::Path;

use burn::prelude::*;
use claude_core::PackedArithmetic;
use claude_inference::{
    FinishReason, Generator, PerplexityOptions, SamplingParams, SequenceRequest, perplexity_of_ids,
};
use serde_json::Value;

fn smollm2() -> std::path::PathBuf {
    claude_files::shared_data_dir()
        .join("models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn reference() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/data/reference/smollm2_reference.json");
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

/// On wgpu (lavapipe in CI) with our kernels, the packed mat-vec products and fused attention,
/// SmolLM2's greedy continuation is the float64 reference's, as on the CPU.
#[test]
fn smollm2_on_wgpu_with_our_kernels_continues_as_the_reference() {
    let device = claude_tensors::parse_device("wgpu").expect("the tests build with wgpu");
    assert!(claude_tensors::shaders::runs_kernels(&device));
    let generator = Generator::load(&smollm2(), None, &device).unwrap();
    let reference = reference();
    let plain = &reference["sequences"][0];
    let prompt = ids(&plain["tokens"]);
    let steps = 12;
    let completion = generator
        .generate(
            SequenceRequest {
                prompt,
                max_new_tokens: steps,
                sampling: SamplingParams {
                    temperature: 0.0,
                    ..SamplingParams::NANOGPT
                },
                stop: Vec::new(),
                ..Default::default()
            },
            |_| true,
        )
        .unwrap();
    assert_eq!(completion.tokens, ids(&plain["greedy"]["tokens"])[..steps]);
}

#[test]
fn smollm2_gguf_tokenizes_and_continues_as_the_reference() {
    let device = Device::flex();
    // The exact path (the reference is float64 arithmetic on the decoded weights).
    let generator = Generator::load(&smollm2(), None, &device)
        .unwrap()
        .with_packed_arithmetic(PackedArithmetic::Exact);
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
                ..Default::default()
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
                ..Default::default()
            },
            |_| true,
        )
        .unwrap();
    assert_eq!(completion.finish, FinishReason::Stop);
    assert_eq!(completion.tokens, expected[..=end]);
    assert_eq!(completion.text, "The capital of France is Paris.");
}

/// The float64 perplexity reference (`perplexity_reference.py`, llama.cpp's method).
fn perplexity_reference() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/data/reference/perplexity_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Relative difference.
fn relative(ours: f64, theirs: f64) -> f64 {
    (ours - theirs).abs() / theirs.abs()
}

#[test]
fn perplexity_follows_llama_cpp_s_method_against_a_float64_reference() {
    let device = Device::flex();
    let reference = perplexity_reference();
    for case in reference["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let path = claude_files::shared_data_dir().join(case["model_file"].as_str().unwrap());
        let mut model = claude_core::Gpt::load(&path, &device).unwrap();
        model.set_packed_arithmetic(PackedArithmetic::Exact);
        let ids = ids(&case["ids"]);
        let bos = case["add_bos"]
            .as_bool()
            .unwrap()
            .then(|| case["bos_token_id"].as_u64().unwrap() as u32);
        let options = PerplexityOptions {
            ctx: case["ctx"].as_u64().unwrap() as usize,
            max_chunks: Some(case["chunks_requested"].as_u64().unwrap() as usize),
        };
        let mut running = Vec::new();
        let result = perplexity_of_ids(&model, &ids, bos, options, &device, |_, ppl| {
            running.push(ppl)
        })
        .unwrap();
        let expected = case["ppl"].as_f64().unwrap();
        assert!(
            relative(result.ppl, expected) < 1e-4,
            "{name}: {} vs {expected}",
            result.ppl
        );
        let err = case["err"].as_f64().unwrap();
        assert!(
            relative(result.error, err) < 1e-3,
            "{name}: ± {} vs {err}",
            result.error
        );
        assert_eq!(
            result.scored as u64,
            case["count"].as_u64().unwrap(),
            "{name}"
        );
        for (ours, chunk) in running.iter().zip(case["chunks"].as_array().unwrap()) {
            let theirs = chunk["running_ppl"].as_f64().unwrap();
            assert!(
                relative(*ours, theirs) < 1e-4,
                "{name}: running {ours} vs {theirs}"
            );
        }
        // Without the BOS replacement the number is another one: the test sees the rule.
        if let Some(control) = case.get("control_without_bos_replacement") {
            let without = perplexity_of_ids(&model, &ids, None, options, &device, |_, _| {});
            let theirs = control["ppl"].as_f64().unwrap();
            assert!(
                relative(without.unwrap().ppl, theirs) < 1e-4,
                "{name} without BOS"
            );
        }
    }
}

/// llama.cpp's arithmetic (8-bit activations on the packed weights) gives llama.cpp's own
/// perplexity: its value over the first 10 chunks of 128 tokens within 1%, and every running
/// value before within 2% (the first chunk scores only 63 tokens), as its `llama-perplexity`
/// printed them (`tests/data/llama_cpp_perplexity.json`). llama.cpp's values differ from the
/// exact float64 ones by up to 1.7% (it also keeps keys and values in f16).
#[test]
fn the_fast_path_follows_llama_cpp_s_own_perplexity() {
    let device = Device::flex();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/llama_cpp_perplexity.json");
    let theirs: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let generator = Generator::load(&smollm2(), None, &device).unwrap();
    let text = std::fs::read_to_string(
        claude_files::shared_data_dir().join(theirs["text_file"].as_str().unwrap()),
    )
    .unwrap();
    let running: Vec<f64> = theirs["running_ppl"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let options = PerplexityOptions {
        ctx: theirs["ctx"].as_u64().unwrap() as usize,
        max_chunks: Some(running.len()),
    };
    let mut ours = Vec::new();
    generator
        .perplexity(&text, options, |_, ppl| ours.push(ppl))
        .unwrap();
    assert_eq!(ours.len(), running.len());
    for (chunk, (ours, theirs)) in ours.iter().zip(&running).enumerate() {
        let allowed = if chunk + 1 == running.len() {
            0.01
        } else {
            0.02
        };
        assert!(
            relative(*ours, *theirs) < allowed,
            "chunk {}: {ours} vs llama.cpp's {theirs}",
            chunk + 1
        );
    }
}

#[test]
fn perplexity_of_text_tokenizes_as_the_reference_did() {
    let device = Device::flex();
    let generator = Generator::load(&smollm2(), None, &device).unwrap();
    let reference = perplexity_reference();
    let case = &reference["cases"][0];
    let text = std::fs::read_to_string(
        claude_files::shared_data_dir().join(case["text_file"].as_str().unwrap()),
    )
    .unwrap();
    let head: String = text.chars().take(4000).collect();
    let ids = ids(&case["ids"]);
    assert_eq!(
        generator.tokenizer().encode(&head).unwrap()[..ids.len()],
        ids
    );
    // Too short a text, and a chunk longer than the context, are named errors.
    let options = |ctx| PerplexityOptions {
        ctx,
        max_chunks: None,
    };
    let err = generator.perplexity("a few words", options(128), |_, _| {});
    assert!(err.unwrap_err().to_string().contains("needs at least 256"));
    let err = generator.perplexity(&head, options(9000), |_, _| {});
    assert!(
        err.unwrap_err()
            .to_string()
            .contains("--ctx 9000: the model's context is 8192 tokens")
    );
}
