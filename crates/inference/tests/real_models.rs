//! The real Q4_K_M models `fetch-models.sh` assembles (Qwen2.5 Coder 0.5B Instruct, `qwen2`;
//! Gemma 3 270M, `gemma3`), run by us and by llama.cpp on the same files: WikiText-2 perplexity
//! (`--ctx 512`, 10 chunks) within 1% of `llama-perplexity`'s, greedy continuations equal to
//! llama.cpp's up to its first near-tie, and Qwen's chat template (from its file) rendered as
//! `llama-server --jinja` renders it. The references are in `data/llama-cpp/` (how they were
//! made is in each file). Skipped when the models are missing, unless
//! `CLAUDE_RUST_REQUIRE_MODELS=1`.

use std::path::Path;

use burn::prelude::*;
use claude_core::KvCacheType;
use claude_files::{real_model, shared_data_dir};
use claude_inference::{Generator, PerplexityOptions, SamplingParams, SequenceRequest};
use serde_json::Value;

/// The largest relative perplexity difference from llama.cpp allowed.
const PPL_TOLERANCE: f64 = 0.01;

/// A top-2 logit margin below which llama.cpp's choice is a near-tie that another order of
/// additions may flip.
const NEAR_TIE: f64 = 0.1;

/// The model and llama.cpp's numbers for it, or `None` to skip.
fn model_and_reference(model: &str) -> Option<(Generator, Value)> {
    let path = real_model(model)?;
    let reference = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/llama-cpp")
        .join(model.replace(".gguf", ".json"));
    let reference = serde_json::from_str(&std::fs::read_to_string(reference).unwrap()).unwrap();
    let generator = Generator::load(&path, None, &Device::flex()).unwrap();
    Some((generator, reference))
}

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

fn perplexity_within_one_percent_of_llama_cpp(model: &str) {
    let Some((generator, reference)) = model_and_reference(model) else {
        return;
    };
    let text =
        std::fs::read_to_string(shared_data_dir().join("eval/wikitext-2-raw-test.txt")).unwrap();
    let theirs = numbers(&reference["perplexity"]["running_ppl"]);
    let mut ours = Vec::new();
    let options = PerplexityOptions {
        ctx: 512,
        max_chunks: Some(theirs.len()),
    };
    let result = generator
        .perplexity(&text, options, |_, ppl| ours.push(ppl))
        .unwrap();
    assert_eq!(ours.len(), theirs.len());
    for (chunk, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        let relative = (a - b).abs() / b;
        assert!(
            relative < PPL_TOLERANCE,
            "{model}: running perplexity after chunk {}: ours {a:.4}, llama.cpp {b:.4} ({:.2}%)",
            chunk + 1,
            100.0 * relative
        );
    }
    eprintln!(
        "{model}: PPL {:.4} (llama.cpp {:.4})",
        result.ppl,
        theirs.last().unwrap()
    );
}

/// With either key/value cache (llama.cpp's is f16).
fn greedy_equals_llama_cpp_until_a_near_tie(model: &str) {
    let Some((mut generator, reference)) = model_and_reference(model) else {
        return;
    };
    for kind in [KvCacheType::F32, KvCacheType::F16] {
        generator = generator.with_kv_cache_type(kind);
        greedy_cases_equal_llama_cpps(&format!("{model} ({kind:?} cache)"), &generator, &reference);
    }
}

fn greedy_cases_equal_llama_cpps(model: &str, generator: &Generator, reference: &Value) {
    for case in reference["greedy"]["cases"].as_array().unwrap() {
        let prompt: Vec<u32> = numbers(&case["prompt_ids"])
            .iter()
            .map(|&id| id as u32)
            .collect();
        let theirs: Vec<u32> = numbers(&case["ids"]).iter().map(|&id| id as u32).collect();
        let margins = numbers(&case["margins"]);
        let completion = generator
            .generate(
                SequenceRequest {
                    prompt,
                    max_new_tokens: theirs.len(),
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
        // Equal token for token; the texts may part only where llama.cpp's own choice was a
        // near-tie (after that they continue from different prefixes).
        let parted = (0..theirs.len()).find(|&i| completion.tokens.get(i) != Some(&theirs[i]));
        if let Some(step) = parted {
            assert!(
                margins[step] < NEAR_TIE,
                "{model}, prompt {:?}: greedy token {step} is {:?}, llama.cpp's {} (by a margin \
                 of {:.3})",
                case["prompt"],
                completion.tokens.get(step),
                theirs[step],
                margins[step]
            );
        }
        eprintln!(
            "{model}, prompt {:?}: {} of {} greedy tokens equal llama.cpp's",
            case["prompt"],
            parted.unwrap_or(theirs.len()),
            theirs.len()
        );
    }
}

#[test]
fn qwen2_5_coder_chat_template_renders_as_llama_server() {
    let model = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";
    let Some(path) = real_model(model) else {
        return;
    };
    let reference = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/llama-cpp")
        .join(model.replace(".gguf", ".json"));
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(reference).unwrap()).unwrap();
    let opened = claude_inference::open(&path, None, &Device::flex()).unwrap();
    for case in reference["chat_template"]["cases"].as_array().unwrap() {
        let messages: Vec<(String, String)> = case["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let field = |key: &str| m[key].as_str().unwrap().to_string();
                (field("role"), field("content"))
            })
            .collect();
        let ours = opened.chat_template.render(&messages).unwrap();
        assert_eq!(ours, case["prompt"].as_str().unwrap(), "{messages:?}");
    }
}

#[test]
fn qwen2_5_coder_perplexity_is_llama_cpps() {
    perplexity_within_one_percent_of_llama_cpp("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
}

#[test]
fn gemma_3_perplexity_is_llama_cpps() {
    perplexity_within_one_percent_of_llama_cpp("gemma-3-270m-q4_k_m.gguf");
}

#[test]
fn qwen2_5_coder_greedy_text_is_llama_cpps() {
    greedy_equals_llama_cpp_until_a_near_tie("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
}

#[test]
fn gemma_3_greedy_text_is_llama_cpps() {
    greedy_equals_llama_cpp_until_a_near_tie("gemma-3-270m-q4_k_m.gguf");
}
