//! The same model gives the same logits on every compiled backend: Flex (CPU) against wgpu
//! (the software Vulkan device in CI, a real GPU elsewhere). Built with `--features wgpu`.
#![cfg(feature = "wgpu")]

use burn::module::Module;
use burn::prelude::*;
use claude_rust::core::{ModelConfig, Positions};
use claude_rust::tensors::parse_device;

fn logits(model: &claude_rust::core::Gpt, device: &Device) -> Vec<f32> {
    let ids: Vec<i32> = (0..24).map(|i| (i * 7 % 50) as i32).collect();
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
        let mut config = ModelConfig::new(50, 16, 2, 4, 32);
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
