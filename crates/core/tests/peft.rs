//! Our PEFT adapter folders against Hugging Face PEFT itself: `tests/data/peft/adapter/` is a
//! folder [`Gpt::save_adapter_peft`] wrote (rank 4, alpha 8, every module of both blocks of the
//! tiny random Llama `tests/data/hf/llama/`, which has GQA, so the query and key rows of `B`
//! must be in Hugging Face's NeoX order), and `tests/data/peft/reference.json` holds the logits
//! that `PeftModel.from_pretrained(base, adapter)` computes with it (in float64, by
//! `make_reference.py` there, with the torch, transformers and PEFT versions), and the base
//! model's. Our model with that folder loaded by [`Gpt::load_adapter`] must compute the same,
//! through the full forward pass and through prefill then token-by-token decode.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use claude_core::{
    AdapterFormat, AdapterInfo, Gpt, LoraSettings, LoraTarget, PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE,
};
use serde_json::Value;

use crate::support::{device, tokens, values};

/// The largest difference allowed, relative to the logit's size where it is above 1 (our f32
/// against PEFT's float64).
const TOLERANCE: f64 = 1e-4;

const RANK: usize = 4;
const ALPHA: f64 = 8.0;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// The tiny random Llama of the Hugging Face tests.
fn base_folder() -> PathBuf {
    data().join("hf/llama")
}

/// The committed adapter folder.
fn adapter_folder() -> PathBuf {
    data().join("peft/adapter")
}

/// A fixed pattern in -50..=50, different for every `seed`, row and column.
fn pattern(seed: usize, row: usize, col: usize) -> i32 {
    let mixed = seed * 7919 + row * row * 31 + row * 97 + col * 53 + row * col * 17 + seed * col;
    (mixed % 101) as i32 - 50
}

/// `rows x cols` values of `pattern(seed)` times `step` (a power of two, so every value is
/// exact in f32 on every platform).
fn patterned(seed: usize, [rows, cols]: [usize; 2], step: f32, device: &Device) -> Tensor<2> {
    let data = (0..rows * cols)
        .map(|i| pattern(seed, i / cols, i % cols) as f32 * step)
        .collect();
    Tensor::from_data(TensorData::new(data, [rows, cols]), device)
}

/// The tiny Llama with the committed adapters: on every module of every block, `A` (`[in, r]`)
/// and `B` (`[r, out]`) of fixed patterns, scaled by `alpha / r`.
fn adapted(device: &Device) -> Gpt {
    let settings = LoraSettings {
        rank: RANK,
        alpha: ALPHA,
        dropout: 0.0,
        targets: LoraTarget::ALL.to_vec(),
    };
    let mut model = (Gpt::load(&base_folder(), device).unwrap())
        .with_lora(&settings, device)
        .unwrap();
    let shapes: Vec<_> = (model.adapters().iter())
        .map(|a| (a.layer, a.slice.target, a.slice.a.dims(), a.slice.b.dims()))
        .collect();
    assert_eq!(shapes.len(), 2 * 7);
    for (layer, target, a_dims, b_dims) in shapes {
        let seed = 2 * (7 * layer + target as usize);
        let a = patterned(seed, a_dims, 1.0 / 256.0, device);
        let b = patterned(seed + 1, b_dims, 1.0 / 128.0, device);
        (model.set_adapter(layer, target, a, b, ALPHA / RANK as f64)).unwrap();
    }
    model
}

fn info() -> AdapterInfo {
    AdapterInfo {
        base_model_name_or_path: "crates/core/tests/data/hf/llama".into(),
        lora_dropout: 0.0,
    }
}

/// The committed folder is ours: what [`Gpt::save_adapter_peft`] writes of [`adapted`], byte
/// for byte. With `CLAUDE_RUST_REWRITE_REFERENCES` set, the test writes the committed folder
/// instead (then rerun `make_reference.py`).
#[test]
fn writes_the_committed_adapter() {
    if std::env::var_os("CLAUDE_RUST_REWRITE_REFERENCES").is_some() {
        let folder = adapter_folder();
        std::fs::create_dir_all(&folder).unwrap();
        adapted(&device())
            .save_adapter_peft(&folder, &info())
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let written = dir.path().join("adapter");
    adapted(&device())
        .save_adapter_peft(&written, &info())
        .unwrap();
    for name in [PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE] {
        let ours = std::fs::read(written.join(name)).unwrap();
        let committed = std::fs::read(adapter_folder().join(name)).unwrap();
        assert!(
            ours == committed,
            "{name} differs from the committed one (rewrite it with \
             `CLAUDE_RUST_REWRITE_REFERENCES=1 cargo test -p claude-core --test main \
             peft::writes_the_committed_adapter`, then rerun make_reference.py)"
        );
    }
}

/// `reference.json`: the tokens, and PEFT's logits (`[position][vocab]`, flattened) of the
/// base model and of the adapted one.
fn reference() -> (Vec<i32>, Vec<f64>, Vec<f64>) {
    let text = std::fs::read_to_string(data().join("peft/reference.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    let tokens = (json["tokens"].as_array().unwrap().iter())
        .map(|t| t.as_i64().unwrap() as i32)
        .collect();
    let logits = |key: &str| -> Vec<f64> {
        (json[key].as_array().unwrap().iter())
            .flat_map(|row| row.as_array().unwrap().iter())
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    (tokens, logits("base_logits"), logits("adapted_logits"))
}

/// The largest absolute difference, after checking every one against [`TOLERANCE`].
fn compare(ours: &[f64], theirs: &[f64], what: &str) -> f64 {
    assert_eq!(ours.len(), theirs.len(), "{what}");
    let mut worst = 0.0f64;
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        let diff = (a - b).abs();
        assert!(
            diff <= TOLERANCE * b.abs().max(1.0),
            "{what}: logit {i}: ours {a}, PEFT's {b}"
        );
        worst = worst.max(diff);
    }
    worst
}

#[test]
fn peft_logits_match() {
    let device = device();
    let (ids, base_expected, adapted_expected) = reference();
    let mut model = Gpt::load(&base_folder(), &device).unwrap();
    let base = values(model.forward(tokens(&ids, &device)));
    let base_diff = compare(&base, &base_expected, "base");

    let loaded = model.load_adapter(&adapter_folder(), &device).unwrap();
    assert_eq!(loaded, (AdapterFormat::Peft, 14));
    let adapted = values(model.forward(tokens(&ids, &device)));
    let mut adapted_diff = compare(&adapted, &adapted_expected, "adapted");
    // And through the cache: prefill half the tokens, then decode the rest one by one.
    let vocab = adapted.len() / ids.len();
    let half = ids.len() / 2;
    let (last, mut cache) = model.prefill(tokens(&ids[..half], &device));
    let mut rows = vec![(half - 1, values(last))];
    for (position, &id) in ids.iter().enumerate().skip(half) {
        let token = Tensor::<1, Int>::from_data(TensorData::new(vec![id], [1]), &device);
        rows.push((position, values(model.decode(token, &mut cache))));
    }
    for (position, row) in rows {
        let expected = &adapted_expected[position * vocab..(position + 1) * vocab];
        let what = format!("adapted, cached, position {position}");
        adapted_diff = adapted_diff.max(compare(&row, expected, &what));
    }
    // The adapters move the logits far more than the tolerance, so a wrong row order or scale
    // could not pass.
    let moved = (base_expected.iter().zip(&adapted_expected))
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(moved > 0.5, "the adapters move the logits by {moved}");
    println!(
        "PEFT: largest difference {base_diff:.2e} (base), {adapted_diff:.2e} (adapted); the \
         adapters move the logits by up to {moved:.2}"
    );
}
