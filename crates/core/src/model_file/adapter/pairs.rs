//! One adapter as adapter files store it, whatever the format: `A` as `r` rows of `d_in`
//! (`[r, in]`) and `B` as `d_out` rows of `r` (`[out, r]`), the transposes of our `[d_in, r]`
//! and `[r, d_out]`, with `B`'s query and key rows in NeoX order where the file's layout wants
//! it (see [`b_order`]). Converting both ways lives here, so the formats share it.

use burn::prelude::*;

use crate::config::ModelConfig;
use crate::lora::{Adapter, LoraTarget};
use crate::model_file::gguf::arch::{HeadRows, gather_rows, scatter_rows};
use crate::model_file::{InvalidModelFile, ModelFileError};
use crate::quantize::values;
use crate::transformer::Gpt;

/// One module's adapter in a file's layout.
#[derive(Debug, Clone)]
pub(super) struct StoredPair {
    /// The block.
    pub layer: usize,
    /// The module.
    pub target: LoraTarget,
    /// `A`, `rank` rows of `d_in`.
    pub a: Vec<f32>,
    /// `B`, `d_out` rows of `rank`, in the file's row order.
    pub b: Vec<f32>,
    /// The rank `r`.
    pub rank: usize,
    /// The module's inputs.
    pub d_in: usize,
    /// The module's outputs.
    pub d_out: usize,
    /// The update's scale.
    pub scale: f64,
}

/// The stored order of `target`'s `B` rows (`order[stored] = model row`): NeoX halves for the
/// query and key heads when `neox`, else `None` (as the model's).
pub(super) fn b_order(config: &ModelConfig, target: LoraTarget, neox: bool) -> Option<Vec<usize>> {
    match (target, neox) {
        (LoraTarget::Q, true) => HeadRows::NeoxQueries.order(config),
        (LoraTarget::K, true) => HeadRows::NeoxKeys.order(config),
        _ => None,
    }
}

/// Every adapter of `model` in a file's layout, NeoX-ordered where `neox` says.
pub(super) fn stored_pairs(model: &Gpt, neox: bool) -> Vec<StoredPair> {
    model
        .adapters()
        .iter()
        .map(|adapter| stored(model.config(), adapter, neox))
        .collect()
}

fn stored(config: &ModelConfig, adapter: &Adapter<'_>, neox: bool) -> StoredPair {
    let slice = adapter.slice;
    let [d_in, rank] = slice.a.dims();
    let d_out = slice.width();
    let a = values(slice.a.val().transpose());
    let mut b = values(slice.b.val().transpose());
    if let Some(order) = b_order(config, slice.target, neox) {
        b = gather_rows(&b, rank, &order);
    }
    StoredPair {
        layer: adapter.layer,
        target: slice.target,
        a,
        b,
        rank,
        d_in,
        d_out,
        scale: slice.scale,
    }
}

/// One `alpha` for adapters of several scales and ranks, as a file stores it (`scale = alpha /
/// r`): the first's `scale · r`; the others' `B` are rescaled to keep their products. An `alpha`
/// of 0 means a scale of 1 to llama.cpp, so a zero scale is folded into `B` instead.
pub(super) fn common_alpha(pairs: &mut [StoredPair]) -> f64 {
    let alpha = pairs
        .iter()
        .map(|pair| pair.scale * pair.rank as f64)
        .find(|&alpha| alpha != 0.0)
        .unwrap_or_else(|| pairs.first().map_or(1.0, |pair| pair.rank as f64));
    for pair in pairs.iter_mut() {
        let factor = pair.scale * pair.rank as f64 / alpha;
        if factor != 1.0 {
            pair.b
                .iter_mut()
                .for_each(|x| *x = (*x as f64 * factor) as f32);
        }
        pair.scale = alpha / pair.rank as f64;
    }
    alpha
}

/// What a reader found for one adapter: `A` `[rank, d_in]` and `B` `[d_out, rank_b]` rows as
/// stored, named for errors.
#[derive(Debug)]
pub(super) struct FoundPair {
    /// The block.
    pub layer: usize,
    /// The module.
    pub target: LoraTarget,
    /// `A`'s name in the file.
    pub a_name: String,
    /// `A`'s shape and values.
    pub a: ([usize; 2], Vec<f32>),
    /// `B`'s name in the file.
    pub b_name: String,
    /// `B`'s shape and values.
    pub b: ([usize; 2], Vec<f32>),
}

/// Attaches every pair to a copy of `model` (so that an error leaves `model` as it was), `B`'s
/// rows put back in our order when `neox`, each scaled by `scale(rank)`; errors name `path`.
pub(super) fn attach_all(
    model: &mut Gpt,
    pairs: Vec<FoundPair>,
    neox: bool,
    scale: impl Fn(usize) -> f64,
    path: &std::path::Path,
    device: &Device,
) -> Result<usize, ModelFileError> {
    let mut staged = model.clone();
    let count = pairs.len();
    for pair in pairs {
        let ([rank, d_in], a) = pair.a;
        let ([d_out, b_rank], mut b) = pair.b;
        if let Some(order) = b_order(model.config(), pair.target, neox) {
            if order.len() != d_out {
                let cause = InvalidModelFile::Shape {
                    tensor: pair.b_name,
                    found: vec![d_out, b_rank],
                    expected: vec![order.len(), b_rank],
                };
                return Err(ModelFileError::invalid(path, cause));
            }
            b = scatter_rows(&b, b_rank, &order);
        }
        let a = Tensor::<2>::from_data(TensorData::new(a, [rank, d_in]), device).transpose();
        let b = Tensor::<2>::from_data(TensorData::new(b, [d_out, b_rank]), device).transpose();
        staged
            .set_adapter(pair.layer, pair.target, a, b, scale(b_rank))
            .map_err(|cause| {
                let tensor = format!("{} / {}", pair.a_name, pair.b_name);
                ModelFileError::invalid(path, InvalidModelFile::Adapter { tensor, cause })
            })?;
    }
    *model = staged;
    Ok(count)
}
