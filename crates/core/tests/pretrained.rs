//! Real pretrained Llama-family models read from the files users download, against independent
//! float64 references (`tests/data/reference/`, numpy, reading the same files; see its README):
//! logits at fixed positions within 2e-3 and the same greedy continuation of 48 tokens through
//! the key/value cache.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use claude_core::{Gpt, ModelFormat, PackedArithmetic, Projection, TokenEmbedding};
use claude_quant::{GgmlType, RowFormat};
use serde_json::Value;

use crate::support::device;

/// f32 compute against float64 references.
const TOLERANCE: f64 = 2e-3;

fn shared(file: &str) -> PathBuf {
    claude_files::shared_data_dir().join(file)
}

fn reference(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/reference")
        .join(name);
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

/// Next-token logits at every position of `tokens`, `[position][vocab]`.
fn logits(model: &Gpt, tokens: &[u32], device: &Device) -> Vec<Vec<f32>> {
    let input: Vec<i32> = tokens.iter().map(|&t| t as i32).collect();
    let logits = model.forward(Tensor::from_data(
        TensorData::new(input, [1, tokens.len()]),
        device,
    ));
    let vocab = logits.dims()[2];
    let flat = logits.into_data().try_into_vec_as::<f32>().unwrap();
    flat.chunks(vocab).map(<[f32]>::to_vec).collect()
}

/// `steps` greedy tokens after `prompt`, through prefill and the cache (lowest id on ties).
fn greedy(model: &Gpt, prompt: &[u32], steps: usize, device: &Device) -> Vec<u32> {
    let argmax = |row: Vec<f32>| {
        let mut best = 0;
        for (i, &v) in row.iter().enumerate() {
            if v > row[best] {
                best = i;
            }
        }
        best as u32
    };
    let input: Vec<i32> = prompt.iter().map(|&t| t as i32).collect();
    let (row, mut cache) = model.prefill(Tensor::from_data(
        TensorData::new(input, [1, prompt.len()]),
        device,
    ));
    let mut next = argmax(row.into_data().try_into_vec_as::<f32>().unwrap());
    let mut out = vec![next];
    while out.len() < steps {
        let row = model.decode(
            Tensor::from_data(TensorData::new(vec![next as i32], [1]), device),
            &mut cache,
        );
        next = argmax(row.into_data().try_into_vec_as::<f32>().unwrap());
        out.push(next);
    }
    out
}

fn assert_close(ours: f32, theirs: &Value, what: &str) {
    let theirs = theirs.as_f64().unwrap();
    let diff = (f64::from(ours) - theirs).abs();
    assert!(diff <= TOLERANCE, "{what}: {ours} vs reference {theirs}");
}

fn logsumexp(row: &[f32]) -> f32 {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    let sum: f64 = row.iter().map(|&x| f64::from(x - max).exp()).sum();
    max + sum.ln() as f32
}

#[test]
fn stories260k_from_llama2c_matches_run_c_exactly() {
    let device = device();
    let path = shared("models/stories260K/stories260K.bin");
    assert_eq!(ModelFormat::of(&path).unwrap(), ModelFormat::Llama2c);
    let model = Gpt::load(&path, &device).unwrap();
    let config = model.config();
    assert_eq!((config.d_model, config.n_layer, config.n_head), (64, 5, 8));
    assert_eq!((config.kv_heads(), config.vocab_size), (4, 512));
    let reference = reference("stories260k_reference.json");
    for sequence in reference["sequences"].as_array().unwrap() {
        let name = sequence["name"].as_str().unwrap();
        let tokens = ids(&sequence["tokens"]);
        let ours = logits(&model, &tokens, &device);
        for (position, row) in sequence["logits"].as_array().unwrap().iter().enumerate() {
            for (id, logit) in row.as_array().unwrap().iter().enumerate() {
                assert_close(
                    ours[position][id],
                    logit,
                    &format!("{name} position {position} id {id}"),
                );
            }
        }
        let expected = ids(&sequence["greedy"]["tokens"]);
        assert_eq!(greedy(&model, &tokens, 48, &device), expected, "{name}");
    }
}

#[test]
fn smollm2_from_gguf_matches_a_float64_reference() {
    let device = device();
    let path = shared("models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf");
    let mut model = Gpt::load(&path, &device).unwrap();
    // The exact path: f32 activations times the exactly decoded weights.
    model.set_packed_arithmetic(PackedArithmetic::Exact);
    let config = model.config();
    assert_eq!(
        (
            config.n_layer,
            config.d_model,
            config.n_head,
            config.kv_heads()
        ),
        (30, 576, 9, 3)
    );
    assert_eq!(
        (config.vocab_size, config.context_length, config.rope_theta),
        (49152, 8192, 1e5)
    );
    // The Q4_1 weights stay packed (the test then checks the products on them): every projection
    // and the token table (Q8_0 in this file), which is also the tied output head.
    let q4_1 = RowFormat::Ggml(GgmlType::Q4_1);
    for block in &model.h {
        for layer in [
            &block.attn.c_attn,
            &block.attn.c_proj,
            &block.mlp.c_fc,
            &block.mlp.c_proj,
        ] {
            let Projection::Packed(packed) = layer else {
                panic!("a projection was decoded to f32");
            };
            assert!(packed.weight.formats().iter().all(|&f| f == q4_1));
        }
    }
    let TokenEmbedding::Packed(table) = &model.wte else {
        panic!("the token table was decoded to f32");
    };
    assert_eq!(table.table.formats(), [RowFormat::Ggml(GgmlType::Q8_0)]);
    assert!(model.lm_head.is_none());
    let reference = reference("smollm2_reference.json");
    let probes = ids(&reference["probe_ids"]);
    for sequence in reference["sequences"].as_array().unwrap() {
        let name = sequence["name"].as_str().unwrap();
        let tokens = ids(&sequence["tokens"]);
        let ours = logits(&model, &tokens, &device);
        for row in sequence["logit_rows"].as_array().unwrap() {
            let position = row["position"].as_u64().unwrap() as usize;
            let what = format!("{name} position {position}");
            for pair in row["top20"].as_array().unwrap() {
                let id = pair[0].as_u64().unwrap() as usize;
                assert_close(ours[position][id], &pair[1], &format!("{what} id {id}"));
            }
            for (&id, logit) in probes.iter().zip(row["probe_logits"].as_array().unwrap()) {
                assert_close(
                    ours[position][id as usize],
                    logit,
                    &format!("{what} id {id}"),
                );
            }
            assert_close(
                logsumexp(&ours[position]),
                &row["logsumexp"],
                &format!("{what} logsumexp"),
            );
        }
        let expected = ids(&sequence["greedy"]["tokens"]);
        assert_eq!(greedy(&model, &tokens, 48, &device), expected, "{name}");
    }
}

#[test]
fn foreign_files_are_named_errors() {
    let device = device();
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated.bin");
    let bytes = std::fs::read(shared("models/stories260K/stories260K.bin")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let err = Gpt::load(&truncated, &device).unwrap_err().to_string();
    assert!(
        err.contains("truncated.bin") && err.contains("truncated"),
        "{err}"
    );
    let vocab_only = shared("tokenizer/llamacpp-vocab/ggml-vocab-llama-spm.gguf");
    let err = Gpt::load(&vocab_only, &device).unwrap_err().to_string();
    assert!(err.contains("ggml-vocab-llama-spm.gguf"), "{err}");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let err = Gpt::load(&text, &device).unwrap_err().to_string();
    assert!(
        err.contains("notes.txt") && err.contains("not a model file"),
        "{err}"
    );
}
