//! Helpers of the known-answer unit tests (`norm.rs`, `mlp.rs`, `position.rs`), whose expected
//! numbers come from `tests/data/known_answers.py` (float64 numpy).

use burn::prelude::*;

/// f32 compute against float64 answers.
pub(crate) const TOLERANCE: f64 = 1e-5;

/// A tensor of `values` in `shape`.
pub(crate) fn tensor<const D: usize>(
    values: &[f32],
    shape: [usize; D],
    device: &Device,
) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
}

/// Checks `actual`'s shape and every element against `expected` within [`TOLERANCE`].
pub(crate) fn assert_close<const D: usize>(actual: Tensor<D>, shape: [usize; D], expected: &[f64]) {
    assert_eq!(actual.dims(), shape);
    let actual = actual.into_data().try_into_vec_as::<f32>().unwrap();
    assert_eq!(actual.len(), expected.len());
    for (i, (&got, &want)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (f64::from(got) - want).abs() <= TOLERANCE,
            "element {i}: got {got}, expected {want}"
        );
    }
}
