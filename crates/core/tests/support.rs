//! Helpers shared by the test modules.

use burn::prelude::*;

/// The CPU device every test runs on.
pub fn device() -> Device {
    Device::flex()
}

/// A tensor's values as `f64`.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}

/// One row of token ids.
pub fn tokens(ids: &[i32], device: &Device) -> Tensor<2, Int> {
    Tensor::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), device)
}
