//! A fallback embedder for users without a sentence model: one of our own language models
//! (a checkpoint we trained, or any model file `Gpt::load` reads), its final hidden states
//! averaged over the text's tokens and scaled to unit length. Weaker than a model trained for
//! sentence similarity, but it needs nothing beyond the model a user already has.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use claude_core::{Gpt, model_file};
use claude_tokenizer::Tokenizer;
use claude_tokenizer::wordpiece::Encoding;

use crate::error::EmbedderError;
use crate::pooling::{embed_in_batches, masked_mean, padded};
use crate::text_embedder::{EmbedderIdentity, Embedding, TextEmbedder, fingerprint, located};

/// Texts embedded in one forward pass.
const BATCH: usize = 16;

/// A language model used as a sentence embedder (mean-pooled final states).
pub struct ModelEmbedder {
    model: Gpt,
    tokenizer: Tokenizer,
    device: Device,
    identity: EmbedderIdentity,
    location: PathBuf,
}

impl ModelEmbedder {
    /// Embeds with `model` and its `tokenizer`, loaded from `path` (a model file or a
    /// checkpoint directory: it names the embedder and its weights fingerprint it).
    pub fn new(
        model: Gpt,
        tokenizer: Tokenizer,
        device: Device,
        path: &Path,
    ) -> Result<Self, EmbedderError> {
        let file = model_file(path);
        let (location, name) = located(path);
        let identity = EmbedderIdentity {
            name,
            dimension: model.config().d_model,
            fingerprint: fingerprint(&file).map_err(|e| EmbedderError::io(&file, e))?,
        };
        Ok(ModelEmbedder {
            model,
            tokenizer,
            device,
            identity,
            location,
        })
    }

    /// The ids of `text`, cut to the model's context. A text the tokenizer cannot encode whole
    /// (a character-level vocabulary meeting an unknown character) keeps the words it can.
    fn encode(&self, text: &str) -> Encoding {
        let mut ids = self.tokenizer.encode(text).unwrap_or_else(|_| {
            let words = text.split_inclusive(char::is_whitespace);
            words
                .filter_map(|w| self.tokenizer.encode(w).ok())
                .flatten()
                .collect()
        });
        let limit = self.model.context_length();
        let dropped = ids.len().saturating_sub(limit);
        ids.truncate(limit);
        Encoding { ids, dropped }
    }
}

impl TextEmbedder for ModelEmbedder {
    fn identity(&self) -> &EmbedderIdentity {
        &self.identity
    }

    fn embed_texts(&self, texts: &[&str]) -> Vec<Embedding> {
        let encodings: Vec<Encoding> = texts.iter().map(|t| self.encode(t)).collect();
        embed_in_batches(&encodings, BATCH, |rows| {
            let (ids, mask) = padded(rows, &self.device);
            // Causal attention: the padding after a row's tokens does not change their states.
            masked_mean(self.model.final_states(ids), mask)
        })
    }

    fn count_tokens(&self, text: &str) -> usize {
        let encoding = self.encode(text);
        let bos = usize::from(self.tokenizer.added_bos().is_some());
        (encoding.ids.len() + encoding.dropped).saturating_sub(bos)
    }

    fn max_tokens(&self) -> Option<usize> {
        Some(self.model.context_length())
    }

    fn location(&self) -> Option<&Path> {
        Some(&self.location)
    }
}
