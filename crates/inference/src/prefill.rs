//! A prompt's prefill, from its longest cached prefix ([`PromptCache`]) and in chunks of
//! [`PREFILL_CHUNK`] tokens ([`Gpt::extend`](claude_core::Gpt::extend)), so that a scheduler
//! can run the batch's decode steps between the chunks of a long prompt instead of stalling
//! every stream behind it.
//!
//! A model whose sliding-window layers would wrap their cache within the prompt (Gemma's local
//! layers, past their window) takes the prompt in one pass from position 0, uncached.

use std::sync::{Mutex, MutexGuard, PoisonError};

use burn::prelude::*;
use claude_core::KvCache;

use crate::generate::Generator;
use crate::prompt_cache::PromptCache;

/// Prompt tokens fed per forward pass of a chunked prefill.
pub const PREFILL_CHUNK: usize = 128;

/// A prompt being fed to the model: a cache of its first `fed` tokens.
pub(crate) struct Prefill {
    prompt: Vec<u32>,
    fed: usize,
    cache: Option<KvCache>,
}

impl Prefill {
    /// Prompt tokens not fed yet.
    pub(crate) fn remaining(&self) -> usize {
        self.prompt.len() - self.fed
    }
}

impl Generator {
    /// Starts feeding `prompt`, from the longest prefix the prompt cache holds.
    pub(crate) fn start_prefill(&self, prompt: Vec<u32>) -> Prefill {
        let cached = match (self.prompt_cache(), self.model().extends_to(prompt.len())) {
            (Some(prompts), true) => lock(prompts).lookup(&prompt),
            _ => None,
        };
        let (cache, fed) = cached.map_or((None, 0), |(cache, fed)| (Some(cache), fed));
        Prefill { prompt, fed, cache }
    }

    /// Feeds the next `chunk` tokens of `prefill` (all of them where the model cannot take the
    /// prompt in chunks); once the prompt is all fed, its last position's logits and its cache
    /// (which the prompt cache keeps too).
    pub(crate) fn advance_prefill(
        &self,
        prefill: &mut Prefill,
        chunk: usize,
    ) -> Option<(Vec<f32>, KvCache)> {
        let len = prefill.prompt.len();
        let end = match self.model().extends_to(len) {
            true => prefill.fed.saturating_add(chunk.max(1)).min(len),
            false => len,
        };
        let tokens = &prefill.prompt[prefill.fed..end];
        let ids: Vec<i32> = tokens.iter().map(|&t| t as i32).collect();
        let ids = Tensor::from_data(TensorData::new(ids, [1, tokens.len()]), self.device());
        let logits = match &mut prefill.cache {
            Some(cache) => self.model().extend(ids, cache),
            None => {
                let (logits, cache) = self.model().prefill(ids);
                prefill.cache = Some(cache);
                logits
            }
        };
        prefill.fed = end;
        if end < len {
            return None;
        }
        let cache = prefill.cache.take().expect("a fed prompt has a cache");
        if let Some(prompts) = self.prompt_cache() {
            lock(prompts).insert(prefill.prompt.clone(), cache.clone());
        }
        Some((self.rows_of(logits).into_first(), cache))
    }

    /// Feeds the rest of `prefill`, a chunk at a time: its last position's logits and cache.
    pub(crate) fn finish_prefill(&self, prefill: &mut Prefill) -> (Vec<f32>, KvCache) {
        loop {
            if let Some(done) = self.advance_prefill(prefill, PREFILL_CHUNK) {
                return done;
            }
        }
    }

    /// Feeds all of `prompt` (from a cached prefix where there is one).
    pub(crate) fn prefill(&self, prompt: &[u32]) -> (Vec<f32>, KvCache) {
        self.finish_prefill(&mut self.start_prefill(prompt.to_vec()))
    }
}

/// The prompt cache, locked (a panic elsewhere leaves its entries whole: each change is one
/// `Vec` operation).
fn lock(prompts: &Mutex<PromptCache>) -> MutexGuard<'_, PromptCache> {
    prompts.lock().unwrap_or_else(PoisonError::into_inner)
}
