//! Hugging Face `tokenizer.json` files of three real vocabularies (Qwen2.5 Coder's byte-level BPE
//! with Qwen2's split regex, SmolLM2's byte-level BPE, Gemma 3's SentencePiece-style BPE with byte
//! fallback) against the ids of Hugging Face `tokenizers` on the same files. The files are made
//! from the GGUF models by `data/hf/make_tokenizers.py` into
//! `$CLAUDE_RUST_MODELS/hf-tokenizers/` (too large to commit); the expected ids are committed in
//! `data/hf/expected_ids.json`. A missing file skips its test, unless
//! `CLAUDE_RUST_REQUIRE_HF_TOKENIZERS=1`.

use std::path::{Path, PathBuf};

use claude_files::{models_dir, optional_fixture};
use claude_tokenizer::gguf::{
    DecodeOptions, EncodeOptions, GgufTokenizer, ModelKind, PreTokenizer,
};
use serde_json::Value;

/// Set to `1`, a missing tokenizer.json fails the tests instead of skipping them.
const REQUIRE_ENV: &str = "CLAUDE_RUST_REQUIRE_HF_TOKENIZERS";

/// The folder holding `name`'s tokenizer.json, or `None` (said on stderr) to skip.
fn folder(name: &str) -> Option<PathBuf> {
    let dir = models_dir().join("hf-tokenizers").join(name);
    optional_fixture(
        &dir.join("tokenizer.json"),
        &dir,
        "run crates/tokenizer/tests/data/hf/make_tokenizers.py",
        REQUIRE_ENV,
    )
    .then_some(dir)
}

/// Checks every case of `name` against `tokenizers`' ids; returns the tokenizer.
fn check(name: &str) -> Option<GgufTokenizer> {
    let dir = folder(name)?;
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hf/expected_ids.json");
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(reference).unwrap()).unwrap();
    let tokenizer = GgufTokenizer::from_hf_dir(&dir).unwrap();
    let options = EncodeOptions {
        add_special: true,
        parse_special: true,
    };
    let mut failures = Vec::new();
    for (case, expected) in reference[name]["cases"].as_object().unwrap() {
        let text = expected["text"].as_str().unwrap();
        let theirs: Vec<u32> = (expected["ids"].as_array().unwrap().iter())
            .map(|id| id.as_u64().unwrap() as u32)
            .collect();
        let ours = tokenizer.encode(text, options);
        if ours != theirs {
            failures.push(format!(
                "{case} {text:?}\n   ours: {ours:?}\n   tokenizers: {theirs:?}"
            ));
        }
        let decoded = tokenizer
            .decode(
                &ours,
                DecodeOptions {
                    remove_special: true,
                    unparse_special: true,
                },
            )
            .unwrap();
        if decoded != text {
            failures.push(format!("{case}: decodes to {decoded:?}, not {text:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} differences from tokenizers:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Some(tokenizer)
}

#[test]
fn qwen_byte_level_bpe_matches_tokenizers() {
    if let Some(tokenizer) = check("qwen2.5-coder-0.5b-instruct") {
        assert_eq!(tokenizer.kind(), ModelKind::Bpe);
        assert_eq!(tokenizer.pre_tokenizer(), Some(PreTokenizer::Qwen2));
        let im_end = tokenizer.token_id("<|im_end|>").unwrap();
        assert!(tokenizer.is_end_of_generation(im_end));
    }
}

#[test]
fn smollm_byte_level_bpe_matches_tokenizers() {
    if let Some(tokenizer) = check("smollm2-135m-instruct") {
        assert_eq!(tokenizer.pre_tokenizer(), Some(PreTokenizer::Gpt2));
    }
}

#[test]
fn gemma_sentencepiece_bpe_matches_tokenizers() {
    if let Some(tokenizer) = check("gemma-3-270m") {
        assert_eq!(tokenizer.kind(), ModelKind::Spm);
        assert_eq!(tokenizer.special_ids().bos, tokenizer.token_id("<bos>"));
        assert!(tokenizer.adds_bos());
        let end_of_turn = tokenizer.token_id("<end_of_turn>").unwrap();
        assert!(tokenizer.is_end_of_generation(end_of_turn));
    }
}
