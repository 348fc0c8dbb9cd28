//! Sentence embeddings as sentence-transformers computes them for all-MiniLM-L6-v2 and its
//! kin: WordPiece ids with `[CLS]` and `[SEP]` (cut to the model's `max_seq_length`), BERT's
//! final hidden states, their mean over every token of the text (the special tokens included,
//! padding not), and L2 normalisation, so a dot product of two vectors is their cosine.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use claude_tokenizer::WordPieceTokenizer;

use crate::bert::{Bert, BertConfig};
use crate::error::EmbedderError;
use crate::pooling::{embed_in_batches, masked_mean, padded};
use crate::text_embedder::{EmbedderIdentity, Embedding, TextEmbedder, fingerprint, located};
use crate::weights::Weights;

/// Texts embedded in one forward pass (sorted by length, so padding stays small).
const BATCH: usize = 32;

/// A sentence embedding model: a BERT encoder, its WordPiece tokenizer, mean pooling.
pub struct SentenceEmbedder {
    bert: Bert,
    tokenizer: WordPieceTokenizer,
    device: Device,
    identity: EmbedderIdentity,
    dir: PathBuf,
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
        let weights_path = dir.join("model.safetensors");
        let weights = Weights::open(&weights_path)?;
        let (location, name) = located(dir);
        let identity = EmbedderIdentity {
            name,
            dimension: config.hidden_size,
            fingerprint: fingerprint(&weights_path)
                .map_err(|e| EmbedderError::io(&weights_path, e))?,
        };
        let bert = Bert::from_weights(config, &weights, device)?;
        Ok(SentenceEmbedder {
            bert,
            tokenizer,
            device: device.clone(),
            identity,
            dir: location,
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
        embed_in_batches(&encodings, BATCH, |rows| {
            let (ids, mask) = padded(rows, &self.device);
            masked_mean(self.bert.forward(ids, mask.clone()), mask)
        })
    }
}

impl TextEmbedder for SentenceEmbedder {
    fn identity(&self) -> &EmbedderIdentity {
        &self.identity
    }

    fn embed_texts(&self, texts: &[&str]) -> Vec<Embedding> {
        self.embed(texts)
    }

    fn count_tokens(&self, text: &str) -> usize {
        self.tokenizer.encode_without_special(text).ids.len()
    }

    fn max_tokens(&self) -> Option<usize> {
        self.tokenizer.max_len()
    }

    fn location(&self) -> Option<&Path> {
        Some(&self.dir)
    }
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
