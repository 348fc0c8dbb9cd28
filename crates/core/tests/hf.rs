//! Hugging Face folders against transformers: tiny random models of every model type we read
//! (`tests/data/hf/<arch>/`, made by `make_tiny.py` there with the torch and transformers
//! versions in each `logits.json`), loaded through `ModelFile::open` and `Gpt::from_file`; our
//! logits must equal transformers' at every position of a 24-token sequence, through the full
//! forward pass and through prefill then token-by-token decode.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use claude_core::{Gpt, ModelFile, ModelFileError, ModelFormat, UnsupportedModelFile};
use serde_json::Value;

use crate::support::device;

/// The largest difference allowed between our logits and transformers' (both f32; the logits
/// are of order 1 to 10, and the references are written with 7 significant digits).
const TOLERANCE: f32 = 1e-4;

/// Positions run by prefill before decoding the rest one by one.
const PREFILL: usize = 10;

fn folder(arch: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/hf")
        .join(arch)
}

/// The reference tokens and logits (`[position][vocab]`) of `arch`.
fn reference(arch: &str) -> (Vec<i32>, Vec<Vec<f32>>) {
    let text = std::fs::read_to_string(folder(arch).join("logits.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    let tokens = (json["tokens"].as_array().unwrap().iter())
        .map(|t| t.as_i64().unwrap() as i32)
        .collect();
    let logits = (json["logits"].as_array().unwrap().iter())
        .map(|row| {
            (row.as_array().unwrap().iter())
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    (tokens, logits)
}

fn rows(t: Tensor<2>) -> Vec<Vec<f32>> {
    let vocab = t.dims()[1];
    let flat = t.into_data().try_into_vec_as::<f32>().unwrap();
    flat.chunks(vocab).map(<[f32]>::to_vec).collect()
}

/// The largest difference between two rows.
fn max_diff(ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(ours.len(), theirs.len());
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

/// Our logits of `arch`'s sequence, full pass and prefill + decode, against transformers'.
fn check(arch: &str) {
    let device = device();
    let file = ModelFile::open(&folder(arch)).unwrap();
    assert_eq!(file.format(), ModelFormat::HfFolder);
    let model = Gpt::from_file(&file, &device).unwrap();
    let (tokens, expected) = reference(arch);
    let n = tokens.len();

    let input = Tensor::<2, Int>::from_data(TensorData::new(tokens.clone(), [1, n]), &device);
    let logits = model.forward(input);
    let vocab = logits.dims()[2];
    let full = rows(logits.reshape([n, vocab]));
    let mut worst = 0.0f32;
    for (position, (ours, theirs)) in full.iter().zip(&expected).enumerate() {
        let diff = max_diff(ours, theirs);
        assert!(
            diff < TOLERANCE,
            "{arch}: forward, position {position}: {diff}"
        );
        worst = worst.max(diff);
    }

    let prompt = Tensor::<2, Int>::from_data(
        TensorData::new(tokens[..PREFILL].to_vec(), [1, PREFILL]),
        &device,
    );
    let (last, mut cache) = model.prefill(prompt);
    let diff = max_diff(&rows(last)[0], &expected[PREFILL - 1]);
    assert!(diff < TOLERANCE, "{arch}: prefill: {diff}");
    worst = worst.max(diff);
    for position in PREFILL..n {
        let token =
            Tensor::<1, Int>::from_data(TensorData::new(vec![tokens[position]], [1]), &device);
        let row = rows(model.decode(token, &mut cache)).remove(0);
        let diff = max_diff(&row, &expected[position]);
        assert!(
            diff < TOLERANCE,
            "{arch}: decode, position {position}: {diff}"
        );
        worst = worst.max(diff);
    }
    println!("{arch}: largest difference from transformers {worst:.2e}");
}

#[test]
fn llama_matches_transformers() {
    check("llama");
}

#[test]
fn mistral_with_a_window_matches_transformers() {
    check("mistral");
}

#[test]
fn qwen2_matches_transformers() {
    check("qwen2");
}

#[test]
fn qwen3_matches_transformers() {
    check("qwen3");
}

#[test]
fn gemma3_matches_transformers() {
    check("gemma3");
}

#[test]
fn phi3_matches_transformers() {
    check("phi3");
}

#[test]
fn folder_errors_name_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let copy = |name: &str| {
        std::fs::copy(folder("llama").join(name), dir.path().join(name)).unwrap();
    };
    copy("config.json");
    let err = ModelFile::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            &err,
            ModelFileError::Unsupported {
                cause: UnsupportedModelFile::NoSafetensors,
                ..
            }
        ),
        "{err}"
    );
    copy("model.safetensors");
    ModelFile::open(dir.path()).unwrap();

    let config = std::fs::read_to_string(folder("llama").join("config.json")).unwrap();
    let config_path = dir.path().join("config.json");
    std::fs::write(
        &config_path,
        config.replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3"),
    )
    .unwrap();
    let file = ModelFile::open(dir.path()).unwrap();
    let err = Gpt::from_file(&file, &device()).unwrap_err().to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("model.layers.2.input_layernorm.weight"),
        "{err}"
    );
    std::fs::write(
        &config_path,
        config.replace("\"hidden_size\": 64", "\"hidden_size\": 48"),
    )
    .unwrap();
    let file = ModelFile::open(dir.path()).unwrap();
    let err = Gpt::from_file(&file, &device()).unwrap_err().to_string();
    assert!(
        err.contains("model.embed_tokens.weight") && err.contains("[128, 48]"),
        "{err}"
    );
    std::fs::write(&config_path, "{").unwrap();
    let err = ModelFile::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("config.json"), "{err}");
}
