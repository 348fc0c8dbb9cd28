//! Real Hugging Face folders (Gemma 3 270M, Qwen2.5 Coder 0.5B: their GGUF files' weights,
//! dequantized by transformers and saved as f32 safetensors shards by `data/hf/make_real.py`
//! into `$CLAUDE_RUST_MODELS/hf-models/`, too large to commit) against transformers' logits on one
//! prompt, saved beside them. Skipped when a folder is missing, unless
//! `CLAUDE_RUST_REQUIRE_HF_MODELS=1`.

use std::path::PathBuf;

use burn::prelude::*;
use claude_core::Gpt;
use claude_files::{models_dir, optional_fixture};
use serde_json::Value;

use crate::support::device;

/// Set to `1`, a missing folder fails the tests instead of skipping them.
const REQUIRE_ENV: &str = "CLAUDE_RUST_REQUIRE_HF_MODELS";

/// The largest difference allowed from transformers' logits (f32 both; logits of order 10 to
/// 30 after 18 to 24 layers).
const TOLERANCE: f32 = 5e-4;

fn folder(name: &str) -> Option<PathBuf> {
    let dir = models_dir().join("hf-models").join(name);
    optional_fixture(
        &dir.join("reference.json"),
        &dir,
        "run crates/core/tests/data/hf/make_real.py",
        REQUIRE_ENV,
    )
    .then_some(dir)
}

fn floats(value: &Value) -> Vec<f32> {
    (value.as_array().unwrap().iter())
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn check(name: &str) {
    let Some(dir) = folder(name) else {
        return;
    };
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let ids: Vec<i32> = (reference["ids"].as_array().unwrap().iter())
        .map(|id| id.as_i64().unwrap() as i32)
        .collect();
    let device = device();
    let model = Gpt::load(&dir, &device).unwrap();
    let n = ids.len();
    let (last, mut cache) = model.prefill(Tensor::from_data(
        TensorData::new(ids[..n - 1].to_vec(), [1, n - 1]),
        &device,
    ));
    let row = |t: Tensor<2>| t.into_data().try_into_vec_as::<f32>().unwrap();
    let diff = |ours: &[f32], theirs: &[f32]| {
        (ours.iter().zip(theirs))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max)
    };
    let before_last = diff(&row(last), &floats(&reference["before_last"]));
    let decoded = model.decode(
        Tensor::from_data(TensorData::new(vec![ids[n - 1]], [1]), &device),
        &mut cache,
    );
    let decoded = row(decoded);
    let last = diff(&decoded, &floats(&reference["last"]));
    println!("{name}: prefill {before_last:.2e}, decode {last:.2e}");
    assert!(
        before_last < TOLERANCE && last < TOLERANCE,
        "{name}: {before_last} {last}"
    );
    let argmax = (0..decoded.len())
        .max_by(|&a, &b| decoded[a].total_cmp(&decoded[b]))
        .unwrap();
    assert_eq!(argmax as u64, reference["next"].as_u64().unwrap());
}

#[test]
fn gemma3_270m_folder_matches_transformers() {
    check("gemma-3-270m");
}

#[test]
fn qwen2_5_coder_folder_matches_transformers() {
    check("qwen2.5-coder-0.5b-instruct");
}
