//! The tokenizers of the real GGUF models `fetch-models.sh` assembles (Qwen2.5 Coder 0.5B's
//! byte-level BPE with the `qwen2` pre-tokenizer; Gemma 3 270M's SentencePiece vocabulary of
//! 262,144 tokens) against `llama-tokenize` on the same files: ids with llama.cpp's defaults (BOS
//! where the file adds it, special-token text parsed), without special parsing, and without BOS.
//! The expected ids are in `data/llamacpp-tokenize/` (how they were made is in each file).

use std::path::Path;

use claude_files::real_model;
use claude_tokenizer::gguf::{EncodeOptions, GgufTokenizer};
use serde_json::Value;

/// Checks every case of the reference file for `model`; skips when the model is missing.
fn check(model: &str) {
    let Some(path) = real_model(model) else {
        return;
    };
    let reference = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/llamacpp-tokenize")
        .join(model.replace(".gguf", ".json"));
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(&reference).unwrap()).unwrap();
    let tokenizer = GgufTokenizer::open(&path).unwrap();
    let ids = |case: &Value, key: &str| -> Vec<u32> {
        case[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_u64().unwrap() as u32)
            .collect()
    };
    let mut failures = Vec::new();
    let cases = reference["cases"].as_array().unwrap();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let variants = [
            ("ids", true, true),
            ("ids_no_parse_special", true, false),
            ("ids_no_bos", false, true),
        ];
        for (key, add_special, parse_special) in variants {
            let options = EncodeOptions {
                add_special,
                parse_special,
            };
            let ours = tokenizer.encode(text, options);
            let theirs = ids(case, key);
            if ours != theirs {
                failures.push(format!(
                    "{key} {text:?}\n   ours: {ours:?}\n   llama.cpp: {theirs:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{model}: {} differences from llama-tokenize:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "{model}: {} cases x 3 equal llama-tokenize's ids",
        cases.len()
    );
}

#[test]
fn qwen2_5_coder_tokenizes_as_llama_cpp() {
    check("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
}

#[test]
fn gemma_3_tokenizes_as_llama_cpp() {
    check("gemma-3-270m-q4_k_m.gguf");
}
