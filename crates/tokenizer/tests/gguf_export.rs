//! GGUF tokenizers written back as `tokenizer.ggml.*` metadata ([`GgufTokenizer::gguf_metadata`])
//! and read again: a tokenizer read from each real GGUF file (llama.cpp's vocabularies and
//! SmolLM2) writes the file's own values and encodes its suite the same way; one built from a
//! real Hugging Face `tokenizer.json` (skipped when absent, as in `hf_tokenizers`) gives the same
//! ids through GGUF.

use std::path::{Path, PathBuf};

use claude_files::{models_dir, optional_fixture, real_model, shared_data_dir as data_dir};
use claude_gguf::{GgufFile, GgufWriter, Metadata, Value};
use claude_tokenizer::gguf::{
    DecodeOptions, EncodeOptions, GgufTokenizer, MERGES_KEY, pad_gguf_vocabulary,
};
use serde_json::Value as Json;

use crate::support::llamacpp_cases;

const PARSE: EncodeOptions = EncodeOptions {
    add_special: true,
    parse_special: true,
};

/// `tokenizer`'s metadata (with `general.name` as `name` gives it, for llama.cpp's fix-ups by
/// model name), read back as a tokenizer.
fn through_gguf(tokenizer: &GgufTokenizer, name: Option<&str>) -> GgufTokenizer {
    let mut metadata = Metadata::new("written.gguf");
    if let Some(name) = name {
        metadata.insert("general.name", name);
    }
    for (key, value) in tokenizer.gguf_metadata() {
        metadata.insert(key, value);
    }
    GgufTokenizer::from_metadata(&metadata).unwrap()
}

/// Every key written that the file has holds the file's value; returns the keys written.
fn assert_written_as_in_file(file: &GgufFile, written: &[(String, Value)]) -> Vec<String> {
    let original = file.metadata();
    for (key, value) in written {
        if let Some(theirs) = original.get(key)
            && value != theirs
        {
            let show = |v: &Value| {
                let text = format!("{v:?}");
                text[..text.floor_char_boundary(300)].to_string()
            };
            panic!(
                "{key}: wrote {}, the file has {}",
                show(value),
                show(theirs)
            );
        }
    }
    written.iter().map(|(key, _)| key.clone()).collect()
}

/// Encoding and decoding agree between two tokenizers on `texts`, with and without special
/// tokens.
fn assert_same_ids<'a>(
    ours: &GgufTokenizer,
    back: &GgufTokenizer,
    texts: impl IntoIterator<Item = &'a str>,
) {
    let mut n = 0;
    for text in texts {
        for options in [EncodeOptions::default(), PARSE] {
            let ids = ours.encode(text, options);
            assert_eq!(back.encode(text, options), ids, "{text:?} {options:?}");
            for decode in [
                DecodeOptions::default(),
                DecodeOptions {
                    remove_special: true,
                    unparse_special: true,
                },
            ] {
                assert_eq!(
                    back.decode(&ids, decode).unwrap(),
                    ours.decode(&ids, decode).unwrap()
                );
            }
        }
        n += 1;
    }
    assert!(n > 0);
}

/// A sample of the UDHR in every language it has (200 kB).
fn udhr() -> String {
    let text = std::fs::read_to_string(data_dir().join("text/udhr-multilingual.txt")).unwrap();
    text[..text.floor_char_boundary(200_000)].to_string()
}

/// A GGUF file's tokenizer through its own metadata: the values are the file's, llama.cpp's
/// suite (when `suite`) gives the same ids, and so do the special-token and end-of-generation
/// settings.
fn check_gguf_file(path: &Path, suite: bool) -> GgufTokenizer {
    let file = GgufFile::open(path).unwrap();
    let name = file.metadata().opt_str("general.name").unwrap();
    let ours = GgufTokenizer::from_metadata(file.metadata()).unwrap();
    let written = ours.gguf_metadata();
    let keys = assert_written_as_in_file(&file, &written);
    // Every tokenizer.ggml.* key the file has that we read is written.
    for key in [
        "tokenizer.ggml.model",
        "tokenizer.ggml.pre",
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.scores",
        "tokenizer.ggml.merges",
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.unknown_token_id",
        "tokenizer.ggml.padding_token_id",
        "tokenizer.ggml.add_bos_token",
        "tokenizer.ggml.add_eos_token",
        "tokenizer.ggml.add_space_prefix",
    ] {
        if file.metadata().contains(key) {
            assert!(keys.iter().any(|k| k == key), "{key} is not written");
        }
    }
    let back = through_gguf(&ours, name);
    assert_eq!(back.vocab_size(), ours.vocab_size());
    assert_eq!(back.special_ids(), ours.special_ids());
    assert_eq!(
        (back.adds_bos(), back.adds_eos()),
        (ours.adds_bos(), ours.adds_eos())
    );
    assert_eq!(
        back.end_of_generation_ids().collect::<Vec<_>>(),
        ours.end_of_generation_ids().collect::<Vec<_>>()
    );
    assert_eq!(back.pre_tokenizer(), ours.pre_tokenizer());
    if suite {
        let cases = llamacpp_cases(path);
        for (text, expected) in &cases {
            assert_eq!(
                &back.encode(text, EncodeOptions::default()),
                expected,
                "{text:?}"
            );
        }
        assert_same_ids(&ours, &back, cases.iter().map(|(text, _)| text.as_str()));
    }
    ours
}

fn vocab(name: &str) -> PathBuf {
    data_dir().join("tokenizer/llamacpp-vocab").join(name)
}

#[test]
fn llama_spm_writes_its_own_metadata() {
    check_gguf_file(&vocab("ggml-vocab-llama-spm.gguf"), true);
}

#[test]
fn phi3_writes_its_own_metadata() {
    check_gguf_file(&vocab("ggml-vocab-phi-3.gguf"), true);
}

#[test]
fn llama3_bpe_writes_its_own_metadata() {
    check_gguf_file(&vocab("ggml-vocab-llama-bpe.gguf"), true);
}

#[test]
fn qwen2_writes_its_own_metadata() {
    check_gguf_file(&vocab("ggml-vocab-qwen2.gguf"), true);
}

#[test]
fn smollm2_writes_its_own_metadata() {
    let path = data_dir().join("models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf");
    let ours = check_gguf_file(&path, false);
    let back = through_gguf(&ours, Some("SmolLM2"));
    let sample = udhr();
    assert_same_ids(
        &ours,
        &back,
        [
            "<|im_start|>user\nHi 123!<|im_end|>\n<|im_start|>assistant\n",
            sample.as_str(),
        ],
    );
    // The merges are the file's, every one (none of SmolLM2's is unusable).
    let file = GgufFile::open(&path).unwrap();
    let merges = ours
        .gguf_metadata()
        .into_iter()
        .find(|(key, _)| key == MERGES_KEY)
        .unwrap()
        .1;
    assert_eq!(Some(&merges), file.metadata().get(MERGES_KEY));
}

/// The written file, read by our GGUF reader, gives the tokenizer too (values survive the
/// writer's encoding: f32 scores, i32 types, u32 ids, booleans).
#[test]
fn written_metadata_survives_a_gguf_file() {
    let ours = GgufTokenizer::open(vocab("ggml-vocab-llama-spm.gguf")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.gguf");
    let mut writer = GgufWriter::new();
    writer.set("general.architecture", "llama");
    for (key, value) in ours.gguf_metadata() {
        writer.set(&key, value);
    }
    writer.write(&path).unwrap();
    let back = GgufTokenizer::open(&path).unwrap();
    let cases = llamacpp_cases(&vocab("ggml-vocab-llama-spm.gguf"));
    assert_same_ids(&ours, &back, cases.iter().map(|(text, _)| text.as_str()));
}

#[test]
fn a_vocabulary_is_padded_to_the_model_table() {
    let ours = GgufTokenizer::open(vocab("ggml-vocab-llama-spm.gguf")).unwrap();
    let mut metadata = ours.gguf_metadata();
    pad_gguf_vocabulary(&mut metadata, 32003).unwrap();
    let mut m = Metadata::new("padded.gguf");
    for (key, value) in metadata.iter().cloned() {
        m.insert(key, value);
    }
    assert_eq!(
        m.get_str_array("tokenizer.ggml.tokens").unwrap().len(),
        32003
    );
    assert_eq!(
        m.get_f32_array("tokenizer.ggml.scores").unwrap()[32002],
        -1000.0
    );
    let back = GgufTokenizer::from_metadata(&m).unwrap();
    assert_eq!(back.token_text(32001), Some("[PAD32001]"));
    assert_eq!(
        back.token_type(32001),
        Some(claude_tokenizer::gguf::TokenType::Unused)
    );
    assert_eq!(
        back.encode("Hello world", PARSE),
        ours.encode("Hello world", PARSE)
    );
    let err = pad_gguf_vocabulary(&mut metadata, 100)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("32003 tokens, more than the model's 100"),
        "{err}"
    );
}

/// The folder of a real Hugging Face tokenizer, or `None` to skip (see `hf_tokenizers`).
fn hf_folder(name: &str) -> Option<PathBuf> {
    let dir = models_dir().join("hf-tokenizers").join(name);
    optional_fixture(
        &dir.join("tokenizer.json"),
        &dir,
        "run crates/tokenizer/tests/data/hf/make_tokenizers.py",
        "CLAUDE_RUST_REQUIRE_HF_TOKENIZERS",
    )
    .then_some(dir)
}

/// A `tokenizer.json`-built tokenizer through GGUF: the `tokenizers` cases and the UDHR sample
/// give the same ids (and decode the same); the pre-tokenizer is `pre`. With `gguf`, the model's
/// GGUF file that llama.cpp's converter wrote (and the `tokenizer.json` was made from), found in
/// the models directory, gives the same ids too.
fn check_hf(name: &str, pre: &str, gguf: Option<&str>) {
    let Some(dir) = hf_folder(name) else {
        return;
    };
    let ours = GgufTokenizer::from_hf_dir(&dir).unwrap();
    let metadata = ours.gguf_metadata();
    let get = |key: &str| &metadata.iter().find(|(k, _)| k == key).unwrap().1;
    assert_eq!(get("tokenizer.ggml.pre"), &Value::from(pre));
    let back = through_gguf(&ours, None);
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hf/expected_ids.json");
    let reference: Json =
        serde_json::from_str(&std::fs::read_to_string(reference).unwrap()).unwrap();
    let cases: Vec<&str> = reference[name]["cases"]
        .as_object()
        .unwrap()
        .values()
        .map(|case| case["text"].as_str().unwrap())
        .collect();
    let sample = udhr();
    let texts: Vec<&str> = cases.into_iter().chain([sample.as_str()]).collect();
    assert_same_ids(&ours, &back, texts.iter().copied());
    if let Some(path) = gguf.and_then(real_model) {
        let converted = GgufTokenizer::open(&path).unwrap();
        assert_same_ids(&converted, &back, texts.iter().copied());
    }
    let (a, b) = (ours.special_ids(), back.special_ids());
    assert_eq!((a.eos, a.eot, a.unk, a.pad), (b.eos, b.eot, b.unk, b.pad));
    if a.bos.is_some() {
        assert_eq!(a.bos, b.bos);
    }
    assert_eq!(
        (back.adds_bos(), back.adds_eos()),
        (ours.adds_bos(), ours.adds_eos())
    );
}

#[test]
fn qwen_tokenizer_json_gives_the_same_ids_through_gguf() {
    check_hf(
        "qwen2.5-coder-0.5b-instruct",
        "qwen2",
        Some("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
    );
}

#[test]
fn smollm_tokenizer_json_gives_the_same_ids_through_gguf() {
    // transformers made SmolLM2's tokenizer.json with GPT-2's split, not SmolLM's (every digit
    // alone): its ids are not those of the GGUF file it came from.
    check_hf("smollm2-135m-instruct", "trillion", None);
}

#[test]
fn gemma_tokenizer_json_gives_the_same_ids_through_gguf() {
    check_hf("gemma-3-270m", "default", Some("gemma-3-270m-q4_k_m.gguf"));
}
