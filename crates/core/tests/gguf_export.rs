//! Writing our models as GGUF ([`Gpt::save_gguf`]): every architecture reads back to identical
//! logits, float or with its packed blocks as they were; what llama.cpp has no form for is an
//! error naming it.

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::Distribution;
use claude_core::{Activation, Gpt, ModelConfig, NormKind, Positions};
use claude_gguf::GgufFile;

use crate::support::{device, tokens};

/// Adds noise to every float parameter, so that norms and biases are not the 1s and 0s of a
/// fresh model and a misplaced one shows in the logits.
struct Jitter;

impl ModuleMapper for Jitter {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|tensor| {
            let noise = Tensor::random(
                tensor.shape(),
                Distribution::Uniform(-0.3, 0.3),
                &tensor.device(),
            );
            tensor + noise
        })
    }
}

/// 32 wide (GGML's blocks), four heads of 8 sharing two key/value heads, two blocks.
fn config(positions: Positions, activation: Activation, norm: NormKind, bias: bool) -> ModelConfig {
    ModelConfig {
        vocab_size: 48,
        context_length: 16,
        n_layer: 2,
        n_head: 4,
        n_kv_head: Some(2),
        d_model: 32,
        positions,
        activation,
        norm,
        bias,
        tie_embeddings: false,
        rope_theta: 500.0,
        norm_eps: 1e-6,
        ..ModelConfig::default()
    }
}

/// Each architecture's config, with the name it is written as.
fn architectures() -> Vec<(&'static str, ModelConfig)> {
    use Activation::*;
    use NormKind::*;
    use Positions::*;
    vec![
        ("llama", config(Rope, Swiglu, Rmsnorm, false)),
        (
            "gpt2",
            ModelConfig {
                n_kv_head: None,
                tie_embeddings: true,
                ..config(Learned, Gelu, Layernorm, true)
            },
        ),
        ("starcoder2", config(Rope, Gelu, Layernorm, true)),
        // No biases: written as zeros.
        ("starcoder2", config(Rope, Gelu, Layernorm, false)),
    ]
}

/// Writes `model` as GGUF and reads it back, checking the architecture and the logits.
fn round_trip(model: &Gpt, arch: &str, what: &str) -> Gpt {
    let device = device();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.gguf");
    let metadata = vec![("general.name".to_string(), "test".into())];
    assert_eq!(model.save_gguf(&path, metadata).unwrap(), arch, "{what}");
    let file = GgufFile::open(&path).unwrap();
    assert_eq!(
        file.metadata().get_str("general.architecture").unwrap(),
        arch
    );
    let loaded = Gpt::load(&path, &device).unwrap();
    let ids = tokens(&[3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5], &device);
    assert_eq!(
        model.forward(ids.clone()).into_data(),
        loaded.forward(ids).into_data(),
        "{what}: logits"
    );
    // Nothing is left beside the file.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    loaded
}

#[test]
fn every_architecture_reads_back_to_identical_logits() {
    let device = device();
    for (arch, config) in architectures() {
        let model = config.init(&device).map(&mut Jitter);
        let loaded = round_trip(&model, arch, &format!("{arch} {config:?}"));
        let again = loaded.config();
        assert_eq!(
            (again.positions, again.activation, again.norm),
            (config.positions, config.activation, config.norm)
        );
        assert_eq!(
            (again.n_head, again.kv_heads()),
            (config.n_head, config.kv_heads())
        );
        assert_eq!(again.tie_embeddings, config.tie_embeddings, "{arch}");
        assert_eq!(again.norm_eps as f32, 1e-6);
        if config.positions == Positions::Rope {
            assert_eq!(again.rope_theta, 500.0);
        }
    }
}

#[test]
fn packed_weights_are_written_in_their_blocks() {
    let device = device();
    for (arch, config) in architectures() {
        for format in ["q8_0", "q4_0", "q4_1"] {
            for embeddings in [false, true] {
                let mut model = config.init(&device).map(&mut Jitter);
                model.quantize(format.parse().unwrap(), embeddings).unwrap();
                let what = format!("{arch} {format} embeddings {embeddings}");
                let loaded = round_trip(&model, arch, &what);
                assert_eq!(
                    loaded.packed_tensor_names(),
                    model.packed_tensor_names(),
                    "{what}"
                );
            }
        }
    }
}

#[test]
fn what_llama_cpp_cannot_hold_is_refused_by_name() {
    let device = device();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.gguf");
    let sinusoidal = config(
        Positions::Sinusoidal,
        Activation::Gelu,
        NormKind::Layernorm,
        true,
    );
    let err = sinusoidal
        .init(&device)
        .save_gguf(&path, vec![])
        .unwrap_err();
    assert!(
        err.to_string().contains("no llama.cpp architecture"),
        "{err}"
    );
    let mut int8 = architectures()[0].1.init(&device);
    int8.quantize("int8".parse().unwrap(), false).unwrap();
    let err = int8.save_gguf(&path, vec![]).unwrap_err();
    assert!(
        err.to_string().contains("int8 rows have no GGML type"),
        "{err}"
    );
    assert!(!path.exists(), "no file is left behind");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
