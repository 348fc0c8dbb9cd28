//! Turning random windows of a token file into input and target tensors.

use burn::prelude::*;
use claude_tokenizer::data::TokenFile;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::error::Result;

/// Inputs and next-token targets, `[batch, context]` each.
pub struct Batch {
    /// Token ids fed to the model.
    pub inputs: Tensor<2, Int>,
    /// The ids that follow each input position.
    pub targets: Tensor<2, Int>,
}

/// The random generator for one micro-batch: a pure function of the seed, the step and the
/// micro-batch index, so a resumed run draws exactly the batches an uninterrupted run would.
pub fn batch_rng(seed: u64, step: usize, micro: usize) -> StdRng {
    let mix = seed
        ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (micro as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    StdRng::seed_from_u64(mix)
}

/// Draws `batch` windows of `context + 1` tokens and splits them into inputs and targets.
pub fn sample_batch(
    file: &TokenFile,
    batch: usize,
    context: usize,
    rng: &mut StdRng,
    device: &Device,
) -> Result<Batch> {
    let windows = file.random_windows(batch, context, rng)?;
    Ok(batch_of_windows(&windows, device))
}

/// Splits windows of `context + 1` tokens into inputs and targets, one row per window.
///
/// # Panics
/// If `windows` is empty or the windows differ in length.
pub fn batch_of_windows(windows: &[&[u32]], device: &Device) -> Batch {
    let rows = windows.len();
    let context = windows[0].len() - 1;
    let mut inputs = Vec::with_capacity(rows * context);
    let mut targets = Vec::with_capacity(rows * context);
    for window in windows {
        assert_eq!(window.len(), context + 1, "windows of one length");
        inputs.extend(window[..context].iter().map(|&id| id as i32));
        targets.extend(window[1..].iter().map(|&id| id as i32));
    }
    let tensor =
        |ids: Vec<i32>| Tensor::<2, Int>::from_data(TensorData::new(ids, [rows, context]), device);
    Batch {
        inputs: tensor(inputs),
        targets: tensor(targets),
    }
}
