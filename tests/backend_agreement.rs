//! The same model gives the same logits (and the sentence embedder the same vectors) on every
//! compiled backend: Flex (CPU) against wgpu (the software Vulkan device in CI, a real GPU
//! elsewhere). Built with `--features wgpu`.

use burn::module::Module;
use burn::prelude::*;
use claude_rust::core::{ModelConfig, Positions};
use claude_rust::tensors::parse_device;

fn logits(model: &claude_rust::core::Gpt, device: &Device) -> Vec<f32> {
    let ids: Vec<i32> = (0..24).map(|i| i * 7 % 50).collect();
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [2, 12]), device);
    model
        .forward(tokens)
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap()
}

#[test]
fn flex_and_wgpu_agree_within_1e_4() {
    let cpu = Device::flex();
    let gpu = parse_device("wgpu").expect("wgpu is compiled in");
    for positions in [Positions::Learned, Positions::Rope] {
        let mut config = ModelConfig {
            vocab_size: 50,
            context_length: 16,
            n_layer: 2,
            n_head: 4,
            d_model: 32,
            ..ModelConfig::default()
        };
        config.positions = positions;
        let model = config.init(&cpu);
        let on_cpu = logits(&model, &cpu);
        let on_gpu = logits(&model.clone().to_device(&gpu), &gpu);
        let max_diff = on_cpu
            .iter()
            .zip(&on_gpu)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            max_diff < 1e-4,
            "{positions:?}: max |flex - wgpu| = {max_diff}"
        );
    }
}

/// Per-step training losses from `metrics.jsonl`.
fn losses(out: &std::path::Path) -> Vec<f64> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            value["loss"].as_f64().unwrap()
        })
        .collect()
}

#[test]
fn data_parallel_training_over_flex_and_wgpu_follows_the_single_device_run() {
    use claude_rust::trainer::{RunOptions, SilentReporter, TrainConfig, train};
    let tiny = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/tiny.toml");
    let config = || {
        let mut config = TrainConfig::load(&tiny).unwrap();
        (config.train.max_steps, config.train.final_eval_tokens) = (5, 0);
        config
    };
    let run = |device: &str| {
        let out = tempfile::tempdir().unwrap();
        let options = RunOptions {
            device: device.into(),
            ..RunOptions::new(out.path())
        };
        train(config(), &options, &mut SilentReporter).unwrap();
        losses(out.path())
    };
    let single = run("cpu");
    let parallel = run("cpu,wgpu");
    assert_eq!(single.len(), 5);
    for (step, (a, b)) in single.iter().zip(&parallel).enumerate() {
        assert!(
            (a - b).abs() < 1e-3,
            "step {}: loss {a} on the CPU alone, {b} split over CPU and wgpu",
            step + 1
        );
    }
}

/// The sentence embedder loads and runs on wgpu and gives the CPU's vectors, padded batch and
/// all.
#[test]
fn the_sentence_embedder_gives_the_same_vectors_on_wgpu() {
    let dir = claude_rust::files::shared_data_dir().join("models/all-minilm-l6-v2");
    let texts = [
        "A man is eating food.",
        "Café déjà vu",
        "",
        "東京は日本の首都です",
    ];
    let embed = |device: &Device| {
        claude_rust::retrieval::SentenceEmbedder::load(&dir, device)
            .unwrap()
            .embed(&texts)
    };
    let on_cpu = embed(&Device::flex());
    let on_gpu = embed(&parse_device("wgpu").expect("wgpu is compiled in"));
    for (a, b) in on_cpu.iter().zip(&on_gpu) {
        assert_eq!(a.tokens, b.tokens);
        let max_diff = a
            .vector
            .iter()
            .zip(&b.vector)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(max_diff < 1e-4, "max abs difference {max_diff}");
    }
}
