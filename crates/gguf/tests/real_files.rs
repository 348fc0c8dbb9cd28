//! Reading real GGUF files: SmolLM2-135M (Q4_1) against the `gguf-metadata.json` written beside
//! it by another reader, and llama.cpp's vocabulary files.

use claude_files::shared_data_dir as data_dir;
use std::collections::BTreeMap;
use std::path::PathBuf;

use claude_gguf::{Array, GgufFile, Value};
use serde_json::Value as Json;

fn smollm() -> PathBuf {
    data_dir().join("models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// Checks one metadata value against the JSON listing's rendering of it.
fn assert_matches_json(key: &str, ours: &Value, json: &Json) {
    match (ours, json) {
        (Value::String(s), Json::String(j)) => match j.strip_suffix("...") {
            // The listing marks long strings with "..." (shortened or not).
            Some(prefix) if !s.ends_with("...") => assert!(s.starts_with(prefix), "{key}"),
            _ => assert_eq!(s, j, "{key}"),
        },
        (Value::Bool(b), Json::Bool(j)) => assert_eq!(b, j, "{key}"),
        (Value::F32(f), Json::Number(j)) => assert_eq!(f64::from(*f), j.as_f64().unwrap(), "{key}"),
        (Value::F64(f), Json::Number(j)) => assert_eq!(*f, j.as_f64().unwrap(), "{key}"),
        (Value::Array(a), Json::String(j)) => {
            assert_eq!(j, &format!("<array len={}>", a.len()), "{key}");
        }
        // The listing spells each string of a string array as its bytes.
        (Value::Array(Array::String(strings)), Json::Array(items)) => {
            assert_eq!(strings.len(), items.len(), "{key}");
            for (s, item) in strings.iter().zip(items) {
                let bytes: Vec<u8> = item
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b.as_u64().unwrap() as u8)
                    .collect();
                assert_eq!(s.as_bytes(), bytes, "{key}");
            }
        }
        (integer, Json::Number(j)) => {
            assert_eq!(integer.as_i64(), j.as_i64(), "{key}: {integer:?} vs {j}");
        }
        (ours, json) => panic!("{key}: {ours:?} vs {json}"),
    }
}

#[test]
fn smollm2_header_equals_the_metadata_listing() {
    let path = smollm();
    let file = GgufFile::open(&path).unwrap();
    let listing: Json = serde_json::from_str(
        &std::fs::read_to_string(path.with_file_name("gguf-metadata.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(file.version(), 3);
    assert_eq!(file.alignment(), 32);

    let keys = listing["metadata"].as_object().unwrap();
    let ours: Vec<&str> = file.metadata().iter().map(|(k, _)| k).collect();
    let theirs: Vec<&str> = keys.keys().map(String::as_str).collect();
    assert_eq!(ours.len(), theirs.len());
    for (key, json) in keys {
        assert_matches_json(key, file.metadata().value(key).unwrap(), json);
    }

    let tensors = listing["tensors"].as_array().unwrap();
    assert_eq!(
        file.tensors().len() as u64,
        listing["n_tensors"].as_u64().unwrap()
    );
    assert_eq!(file.tensors().len(), tensors.len());
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for (ours, theirs) in file.tensors().iter().zip(tensors) {
        assert_eq!(ours.name, theirs["name"].as_str().unwrap());
        let shape: Vec<u64> = theirs["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        assert_eq!(ours.dims, shape, "{}", ours.name);
        assert_eq!(
            ours.type_name(),
            theirs["type"].as_str().unwrap(),
            "{}",
            ours.name
        );
        *counts.entry(ours.type_name()).or_default() += 1;
    }
    let theirs: BTreeMap<String, u64> = listing["tensor_type_counts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(counts, theirs);

    let tokens = file
        .metadata()
        .get_str_array("tokenizer.ggml.tokens")
        .unwrap();
    for (ours, theirs) in tokens
        .iter()
        .zip(listing["first_20_tokens"].as_array().unwrap())
    {
        assert_eq!(ours, theirs.as_str().unwrap());
    }
    assert_eq!(file.metadata().get_u32("llama.block_count").unwrap(), 30);
    assert_eq!(
        file.metadata().get_f32("llama.rope.freq_base").unwrap(),
        100000.0
    );
    assert_eq!(
        file.metadata().get_str_array("general.languages").unwrap(),
        ["en"]
    );
}

#[test]
fn smollm2_tensor_data_is_borrowed_from_the_mapping() {
    let file = GgufFile::open(smollm()).unwrap();
    let whole = file.bytes().as_ptr_range();
    let mut end_of_data = 0;
    for tensor in file.tensors() {
        let data = file.data_of(tensor).unwrap();
        assert_eq!(data.len() as u64, tensor.byte_len.unwrap());
        assert!(whole.contains(&data.as_ptr()), "{}", tensor.name);
        assert_eq!((file.data_offset() + tensor.offset) % file.alignment(), 0);
        end_of_data = end_of_data.max(file.data_offset() + tensor.offset + data.len() as u64);
    }
    // The data section ends the file (up to padding).
    assert!(file.bytes().len() as u64 - end_of_data < file.alignment());
    // token_embd is Q8_0: 18 blocks of 34 bytes per row of 576.
    let embd = file.tensor("token_embd.weight").unwrap();
    assert_eq!(embd.byte_len, Some(49152 * 18 * 34));
    // The final norm's weights are plausible f32s.
    let norm = file.tensor_data("output_norm.weight").unwrap();
    let weights: Vec<f32> = norm
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(weights.len(), 576);
    assert!(weights.iter().all(|w| w.is_finite() && w.abs() < 100.0));
    assert!(weights.iter().any(|&w| w != 0.0));
    let err = file.tensor_data("nope").unwrap_err().to_string();
    assert!(
        err.contains("SmolLM2-135M-Instruct.Q4_1.gguf") && err.contains("\"nope\""),
        "{err}"
    );
}

#[test]
fn llamacpp_vocabularies_read() {
    for (name, n_tokens, model) in [
        ("llama-spm", 32000, "llama"),
        ("llama-bpe", 128256, "gpt2"),
        ("qwen2", 151936, "gpt2"),
        ("phi-3", 32064, "llama"),
        ("bert-bge", 30522, "bert"),
    ] {
        let path = data_dir().join(format!("tokenizer/llamacpp-vocab/ggml-vocab-{name}.gguf"));
        let file = GgufFile::open(&path).unwrap();
        let m = file.metadata();
        assert_eq!(m.get_str("tokenizer.ggml.model").unwrap(), model, "{name}");
        assert_eq!(
            m.get_str_array("tokenizer.ggml.tokens").unwrap().len(),
            n_tokens,
            "{name}"
        );
        assert_eq!(
            m.get_i32_array("tokenizer.ggml.token_type").unwrap().len(),
            n_tokens
        );
        assert!(file.tensors().is_empty());
    }
    let spm = GgufFile::open(data_dir().join("tokenizer/llamacpp-vocab/ggml-vocab-llama-spm.gguf"))
        .unwrap();
    let scores = spm
        .metadata()
        .get_f32_array("tokenizer.ggml.scores")
        .unwrap();
    assert_eq!(scores.len(), 32000);
    assert!(
        spm.metadata()
            .get_bool("tokenizer.ggml.add_bos_token")
            .unwrap()
    );
    let err = spm
        .metadata()
        .get_str_array("tokenizer.ggml.scores")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ggml-vocab-llama-spm.gguf")
            && err.contains(
                "\"tokenizer.ggml.scores\" holds array of 32000 f32, expected array of string"
            ),
        "{err}"
    );
}

/// The shared copy of llama.cpp's GPT-2 vocabulary went through a text conversion that turned
/// every invalid UTF-8 sequence into U+FFFD (a float and several lengths grew by bytes): it must
/// be refused with an error naming the file and the field, not read as garbage.
#[test]
fn damaged_gpt2_vocabulary_is_a_clear_error() {
    let path = data_dir().join("tokenizer/llamacpp-gpt2/ggml-vocab-gpt-2.gguf");
    let bytes = std::fs::read(&path).unwrap();
    if !bytes.windows(3).any(|w| w == "\u{fffd}".as_bytes()) {
        // Repaired: then it must read.
        GgufFile::open(&path).unwrap();
        return;
    }
    let err = GgufFile::open(&path).unwrap_err().to_string();
    assert!(err.contains("ggml-vocab-gpt-2.gguf"), "{err}");
    assert!(err.contains("metadata entry"), "{err}");
}
