//! Sentence embeddings as sentence-transformers computes them for all-MiniLM-L6-v2 and its
//! kin: WordPiece ids with `[CLS]` and `[SEP]` (cut to the model's `max_seq_length`), BERT's
//! final hidden states, their mean over every token of the text (the special tokens included,
//! padding not), and L2 normalisation, so a dot product of two vectors is their cosine.

use std::path::Path;

use burn::prelude::*;
use claude_tokenizer::WordPieceTokenizer;

use crate::bert::{Bert, BertConfig};
use crate::error::EmbedderError;
use crate::weights::Weights;

/// Texts embedded in one forward pass (sorted by length, so padding stays small).
const BATCH: usize = 32;

/// One text's embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// The unit-length vector.
    pub vector: Vec<f32>,
    /// Tokens the model saw (special tokens included).
    pub tokens: usize,
    /// Tokens cut from the end of the text by the length limit (0: none).
    pub dropped: usize,
}

/// A sentence embedding model: a BERT encoder, its WordPiece tokenizer, mean pooling.
pub struct SentenceEmbedder {
    bert: Bert,
    tokenizer: WordPieceTokenizer,
    device: Device,
}

impl SentenceEmbedder {
    /// Loads a sentence-transformers model directory (`config.json`, `model.safetensors`,
    /// the tokenizer files, `sentence_bert_config.json`, `1_Pooling/config.json`) onto `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, EmbedderError> {
        let config = BertConfig::load(&dir.join("config.json"))?;
        check_pooling(&dir.join("1_Pooling/config.json"))?;
        let mut tokenizer = WordPieceTokenizer::from_dir(dir)?;
        if tokenizer.vocab_size() != config.vocab_size {
            return Err(EmbedderError::invalid(
                &dir.join("config.json"),
                format!(
                    "vocab_size {} but the tokenizer has {} tokens",
                    config.vocab_size,
                    tokenizer.vocab_size()
                ),
            ));
        }
        // Never more tokens than positions.
        let limit = tokenizer
            .max_len()
            .map_or(config.max_position_embeddings, |len| {
                len.min(config.max_position_embeddings)
            });
        tokenizer.set_max_len(Some(limit))?;
        let weights = Weights::open(&dir.join("model.safetensors"))?;
        let bert = Bert::from_weights(config, &weights, device)?;
        Ok(SentenceEmbedder {
            bert,
            tokenizer,
            device: device.clone(),
        })
    }

    /// Width of the vectors.
    pub fn dimension(&self) -> usize {
        self.bert.config().hidden_size
    }

    /// The most tokens of a text the model sees (longer texts are cut, and say so).
    pub fn max_tokens(&self) -> Option<usize> {
        self.tokenizer.max_len()
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &WordPieceTokenizer {
        &self.tokenizer
    }

    /// The embedding of every text, in order.
    pub fn embed<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Vec<Embedding> {
        let encodings = self.tokenizer.encode_batch(texts);
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| encodings[i].ids.len());
        let mut out = vec![None; texts.len()];
        for batch in order.chunks(BATCH) {
            let rows: Vec<&[u32]> = batch.iter().map(|&i| &encodings[i].ids[..]).collect();
            for (&i, vector) in batch.iter().zip(self.pooled(&rows)) {
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

    /// Mean-pooled, normalised vectors of token rows, padded to the longest.
    fn pooled(&self, rows: &[&[u32]]) -> Vec<Vec<f32>> {
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
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, seq]), &self.device);
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [batch, seq]), &self.device);
        let hidden = self.bert.forward(ids, mask.clone());
        let summed = (hidden * mask.unsqueeze_dim::<3>(2)).sum_dim(1);
        let d = self.dimension();
        let sums = summed
            .reshape([batch, d])
            .try_into_vec_as::<f32>()
            .expect("float states convert to f32");
        sums.chunks_exact(d)
            .zip(rows)
            .map(|(sum, row)| normalised(sum, row.len()))
            .collect()
    }
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

/// Refuses pooling other than the mean over tokens (when the model says how it pools).
fn check_pooling(path: &Path) -> Result<(), EmbedderError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let config: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| EmbedderError::invalid(path, format!("not JSON: {e}")))?;
    if config["pooling_mode_mean_tokens"] != serde_json::Value::Bool(true) {
        return Err(EmbedderError::invalid(
            path,
            "only mean pooling (pooling_mode_mean_tokens) is supported",
        ));
    }
    Ok(())
}
