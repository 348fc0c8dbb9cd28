//! What every embedder here shares: texts embedded in batches of similar length (padding stays
//! small), padded ids with their mask, and the masked mean of the final states scaled to unit
//! length.

use burn::prelude::*;
use claude_tokenizer::wordpiece::Encoding;

use crate::text_embedder::Embedding;

/// The embeddings of `encodings`, in order: `pool` gives the unit vectors of a batch of at most
/// `batch` id rows.
pub(crate) fn embed_in_batches(
    encodings: &[Encoding],
    batch: usize,
    pool: impl Fn(&[&[u32]]) -> Vec<Vec<f32>>,
) -> Vec<Embedding> {
    let mut order: Vec<usize> = (0..encodings.len()).collect();
    order.sort_by_key(|&i| encodings[i].ids.len());
    let mut out = vec![None; encodings.len()];
    for rows in order.chunks(batch) {
        let ids: Vec<&[u32]> = rows.iter().map(|&i| &encodings[i].ids[..]).collect();
        for (&i, vector) in rows.iter().zip(pool(&ids)) {
            out[i] = Some(Embedding {
                vector,
                tokens: encodings[i].ids.len(),
                dropped: encodings[i].dropped,
            });
        }
    }
    out.into_iter()
        .map(|e| e.expect("every text is embedded"))
        .collect()
}

/// `rows` padded with id 0 to the longest (at least 1), and the mask of their real tokens.
///
/// # Shapes
/// -> (`[rows, seq]`, `[rows, seq]`)
pub(crate) fn padded(rows: &[&[u32]], device: &Device) -> (Tensor<2, Int>, Tensor<2>) {
    let seq = rows.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
    let batch = rows.len();
    let mut ids = Vec::with_capacity(batch * seq);
    let mut mask = Vec::with_capacity(batch * seq);
    for row in rows {
        ids.extend(row.iter().map(|&id| id as i32));
        ids.extend(std::iter::repeat_n(0, seq - row.len()));
        mask.extend(std::iter::repeat_n(1.0f32, row.len()));
        mask.extend(std::iter::repeat_n(0.0f32, seq - row.len()));
    }
    (
        Tensor::from_data(TensorData::new(ids, [batch, seq]), device),
        Tensor::from_data(TensorData::new(mask, [batch, seq]), device),
    )
}

/// The mean of each row's `states` over its masked tokens, scaled to unit length (a row with
/// no tokens stays zero).
///
/// # Shapes
/// - states: `[rows, seq, d]`, mask: `[rows, seq]`
pub(crate) fn masked_mean(states: Tensor<3>, mask: Tensor<2>) -> Vec<Vec<f32>> {
    let [rows, _, d] = states.dims();
    let counts = mask
        .clone()
        .sum_dim(1)
        .try_into_vec_as::<f32>()
        .expect("float masks convert to f32");
    let sums = (states * mask.unsqueeze_dim::<3>(2))
        .sum_dim(1)
        .reshape([rows, d])
        .try_into_vec_as::<f32>()
        .expect("float states convert to f32");
    sums.chunks_exact(d.max(1))
        .zip(counts)
        .map(|(sum, count)| normalised(sum, count as usize))
        .collect()
}

/// `sum / count`, scaled to unit length (a zero vector stays zero).
fn normalised(sum: &[f32], count: usize) -> Vec<f32> {
    let mean: Vec<f64> = sum
        .iter()
        .map(|&v| f64::from(v) / count.max(1) as f64)
        .collect();
    let norm = mean.iter().map(|v| v * v).sum::<f64>().sqrt();
    let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
    mean.iter().map(|v| (v * scale) as f32).collect()
}
