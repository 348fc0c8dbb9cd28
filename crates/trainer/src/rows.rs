//! Where a run's rows come from: random windows of a token file (pretraining), or examples whose
//! loss counts only some tokens (fine-tuning on chat data: the assistant's). The loop draws rows
//! through [`TrainingRows`] and never asks which.

use burn::prelude::*;
use rand::rngs::StdRng;

use crate::data::Dataset;
use crate::error::{Error, Result};

/// One row: tokens, and which of them the loss predicts.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// The tokens; the model reads all but the last and predicts all but the first.
    pub tokens: &'a [u32],
    /// Per token, whether the loss predicts it (same length as `tokens`; the first entry is
    /// never used); `None`: every token counts.
    pub counted: Option<&'a [bool]>,
}

impl Row<'_> {
    /// The targets the loss counts: every token after the first, or those `counted` marks.
    pub fn counted_targets(&self) -> usize {
        match self.counted {
            None => self.tokens.len().saturating_sub(1),
            Some(counted) => counted.iter().skip(1).filter(|&&c| c).count(),
        }
    }
}

/// The rows of a run.
pub trait TrainingRows: Send + Sync {
    /// `count` training rows drawn with `rng`: a pure function of the generator's state, so a
    /// resumed run draws what an uninterrupted one would.
    fn train_rows(&self, count: usize, rng: &mut StdRng) -> Result<Vec<Row<'_>>>;

    /// `count` validation rows drawn with `rng`.
    fn val_rows(&self, count: usize, rng: &mut StdRng) -> Result<Vec<Row<'_>>>;

    /// Validation rows in order, about `max_tokens` tokens of them (at least one row), for the
    /// final evaluation.
    fn val_in_order(&self, max_tokens: usize) -> Vec<Row<'_>>;

    /// The number of distinct token ids the rows use (the model's vocabulary must cover it).
    fn vocab_size(&self) -> usize;

    /// The longest row (the model's context must hold it, less one).
    fn longest_row(&self) -> usize;

    /// What the ranks of a multi-process run must agree on about the data (sizes, vocabulary).
    fn fingerprint(&self) -> serde_json::Value;
}

/// A token file's random windows of `context + 1` tokens, every token counted.
pub(crate) struct Windows {
    /// The files.
    pub dataset: Dataset,
    /// Tokens each window feeds the model.
    pub context: usize,
}

impl TrainingRows for Windows {
    fn train_rows(&self, count: usize, rng: &mut StdRng) -> Result<Vec<Row<'_>>> {
        let windows = self
            .dataset
            .train
            .random_windows(count, self.context, rng)?;
        Ok(windows.into_iter().map(whole).collect())
    }

    fn val_rows(&self, count: usize, rng: &mut StdRng) -> Result<Vec<Row<'_>>> {
        let windows = self.dataset.val.random_windows(count, self.context, rng)?;
        Ok(windows.into_iter().map(whole).collect())
    }

    fn val_in_order(&self, max_tokens: usize) -> Vec<Row<'_>> {
        let max_windows = (max_tokens / self.context).max(1);
        (self.dataset.val.sequential_windows(self.context))
            .take(max_windows)
            .map(whole)
            .collect()
    }

    fn vocab_size(&self) -> usize {
        self.dataset.tokenizer.vocab_size()
    }

    fn longest_row(&self) -> usize {
        self.context + 1
    }

    fn fingerprint(&self) -> serde_json::Value {
        serde_json::json!({
            "train_tokens": self.dataset.train.len(),
            "val_tokens": self.dataset.val.len(),
            "vocab_size": self.dataset.tokenizer.vocab_size(),
        })
    }
}

impl Windows {
    /// Checks that both files hold more than one window.
    pub fn check(&self) -> Result<()> {
        for (name, file) in [("train", &self.dataset.train), ("val", &self.dataset.val)] {
            if file.len() <= self.context {
                return Err(Error::Invalid(format!(
                    "model.context_length {} is larger than the {name} data ({} tokens in {})",
                    self.context,
                    file.len(),
                    file.path().display()
                )));
            }
        }
        Ok(())
    }
}

fn whole(tokens: &[u32]) -> Row<'_> {
    Row {
        tokens,
        counted: None,
    }
}

/// Inputs, next-token targets and the weight of each target, `[rows, longest - 1]` each.
pub struct Batch {
    /// Token ids fed to the model (padding after a shorter row's end).
    pub inputs: Tensor<2, Int>,
    /// The ids that follow each input position.
    pub targets: Tensor<2, Int>,
    /// 1 where a target counts, 0 where it does not (a prompt token, padding), row-major
    /// `[rows, longest - 1]` on the host; `None` when every target counts.
    pub weights: Option<Vec<f32>>,
}

impl Batch {
    /// Rows as one batch: shorter rows are padded to the longest (the padding is never a
    /// counted target, and attention is causal, so it changes nothing before it).
    ///
    /// # Panics
    /// If `rows` is empty or a row has fewer than 2 tokens.
    pub fn of_rows(rows: &[Row<'_>], device: &Device) -> Batch {
        let width = rows.iter().map(|row| row.tokens.len()).max().expect("rows") - 1;
        let all_counted = rows
            .iter()
            .all(|row| row.counted.is_none() && row.tokens.len() == width + 1);
        let mut inputs = Vec::with_capacity(rows.len() * width);
        let mut targets = Vec::with_capacity(rows.len() * width);
        let mut weights = Vec::with_capacity(if all_counted { 0 } else { rows.len() * width });
        for row in rows {
            let tokens = row.tokens;
            assert!(tokens.len() >= 2, "a row needs two tokens");
            let pad = width + 1 - tokens.len();
            inputs.extend(tokens[..tokens.len() - 1].iter().map(|&id| id as i32));
            inputs.extend(std::iter::repeat_n(0, pad));
            targets.extend(tokens[1..].iter().map(|&id| id as i32));
            targets.extend(std::iter::repeat_n(0, pad));
            if !all_counted {
                let counted = |i: usize| row.counted.is_none_or(|counted| counted[i]);
                weights.extend((1..tokens.len()).map(|i| if counted(i) { 1.0f32 } else { 0.0 }));
                weights.extend(std::iter::repeat_n(0.0, pad));
            }
        }
        let shape = [rows.len(), width];
        let ids = |ids: Vec<i32>| Tensor::<2, Int>::from_data(TensorData::new(ids, shape), device);
        Batch {
            inputs: ids(inputs),
            targets: ids(targets),
            weights: (!all_counted).then_some(weights),
        }
    }

    /// The model's loss on the batch: over every target, or over the counted ones.
    pub fn loss(self, model: &claude_core::Gpt) -> Tensor<1> {
        match self.weights {
            None => model.loss(self.inputs, self.targets),
            Some(weights) => model.masked_loss(self.inputs, self.targets, &weights),
        }
    }
}
