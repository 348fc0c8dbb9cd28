//! Every architecture's tensor names, fused layouts and NeoX row orders, written and read back:
//! a random model of each architecture's variants, saved as that architecture and loaded again,
//! gives the same logits (the writer and the reader undo each other's reorderings, so a mistake
//! in one that the other does not mirror shows here).

use burn::prelude::*;

use super::arch::Architecture;
use super::{load, open, write};
use crate::config::{ModelConfig, Positions, SlidingWindow};
use crate::transformer::Gpt;

/// A small model of `arch`'s variants, with grouped-query attention, and for the architectures
/// that have one a head width of its own and a sliding window shorter than the test sequence.
fn config(arch: Architecture) -> ModelConfig {
    let variants = arch.variants();
    let own_head_width = variants.qk_norm;
    ModelConfig {
        vocab_size: 48,
        context_length: 16,
        n_layer: 3,
        n_head: 4,
        n_kv_head: Some(2),
        d_model: 32,
        d_ff: Some(40),
        head_dim: own_head_width.then_some(12),
        // A base of its own where positions rotate (learned positions store none).
        rope_theta: match variants.positions {
            Positions::Rope => 5_000.0,
            _ => variants.rope_theta,
        },
        // Exact in f32, as the file stores it.
        norm_eps: 1.0 / 131_072.0,
        sliding_window: variants
            .sliding_window
            .map(|window| SlidingWindow { size: 5, ..window }),
        ..variants
    }
}

fn logits(model: &Gpt, device: &Device) -> Vec<f32> {
    let ids: Vec<i32> = (0..12).map(|i| (i * 7 + 3) % 48).collect();
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, 12]), device);
    model.forward(tokens).into_data().try_to_vec().unwrap()
}

#[test]
fn every_architecture_reads_back_what_it_wrote() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    for arch in Architecture::ALL {
        device.seed(7);
        let model = config(arch).init(&device);
        let path = dir.path().join(format!("{}.gguf", arch.name()));
        let written = write::save_as(&model, &path, Vec::new(), arch).unwrap();
        assert_eq!(written, arch.name());
        let file = open(&path).unwrap();
        assert_eq!(
            file.metadata().get_str("general.architecture").unwrap(),
            arch.name()
        );
        let back = load(&file, &device, None).unwrap();
        assert_eq!(back.config(), model.config(), "{}", arch.name());
        let (a, b) = (logits(&model, &device), logits(&back, &device));
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-5, "{}: logits differ by {diff}", arch.name());
    }
}
