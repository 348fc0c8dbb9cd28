//! Fine-tuning examples as the trainer's rows: drawn at random (with replacement) for training,
//! in order for the final evaluation; each counts only its assistant tokens.

use claude_trainer::{Row, TrainingRows};
use rand::Rng;
use rand::rngs::StdRng;

use crate::data::{Example, ExampleSet};

/// Training and validation examples.
pub struct ExampleRows {
    /// The training examples.
    pub train: Vec<Example>,
    /// The validation examples.
    pub val: Vec<Example>,
    /// The model's vocabulary (every token id is below it).
    pub vocab_size: usize,
}

impl ExampleRows {
    /// `train`'s examples, and `val`'s or, without one, every `1 / val_fraction`-th training
    /// example held out (the examples stay in their order; at least one each way).
    pub fn split(
        train: ExampleSet,
        val: Option<ExampleSet>,
        val_fraction: f64,
        vocab_size: usize,
    ) -> Self {
        let (train, val) = match val {
            Some(val) => (train.examples, val.examples),
            None => hold_out(train.examples, val_fraction),
        };
        ExampleRows {
            train,
            val,
            vocab_size,
        }
    }
}

/// Every `round(1 / fraction)`-th example (the last of each stride) as validation; with fewer
/// than two examples, the one example serves both.
fn hold_out(examples: Vec<Example>, fraction: f64) -> (Vec<Example>, Vec<Example>) {
    if examples.len() < 2 || fraction <= 0.0 {
        let val = examples.clone();
        return (examples, val);
    }
    let stride = ((1.0 / fraction).round() as usize).clamp(2, examples.len());
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (i, example) in examples.into_iter().enumerate() {
        match (i + 1) % stride == 0 {
            true => val.push(example),
            false => train.push(example),
        }
    }
    (train, val)
}

fn drawn<'a>(examples: &'a [Example], count: usize, rng: &mut StdRng) -> Vec<Row<'a>> {
    (0..count)
        .map(|_| row(&examples[rng.random_range(0..examples.len())]))
        .collect()
}

fn row(example: &Example) -> Row<'_> {
    Row {
        tokens: &example.tokens,
        counted: Some(&example.targets_mask),
    }
}

impl TrainingRows for ExampleRows {
    fn train_rows(&self, count: usize, rng: &mut StdRng) -> claude_trainer::Result<Vec<Row<'_>>> {
        Ok(drawn(&self.train, count, rng))
    }

    fn val_rows(&self, count: usize, rng: &mut StdRng) -> claude_trainer::Result<Vec<Row<'_>>> {
        Ok(drawn(&self.val, count, rng))
    }

    fn val_in_order(&self, max_tokens: usize) -> Vec<Row<'_>> {
        let mut tokens = 0;
        let mut rows = Vec::new();
        for example in &self.val {
            if !rows.is_empty() && tokens + example.tokens.len() > max_tokens {
                break;
            }
            tokens += example.tokens.len();
            rows.push(row(example));
        }
        rows
    }

    fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    fn longest_row(&self) -> usize {
        (self.train.iter().chain(&self.val))
            .map(|example| example.tokens.len())
            .max()
            .unwrap_or(0)
    }

    fn fingerprint(&self) -> serde_json::Value {
        let tokens = |examples: &[Example]| examples.iter().map(|e| e.tokens.len()).sum::<usize>();
        serde_json::json!({
            "train_examples": self.train.len(),
            "train_tokens": tokens(&self.train),
            "val_examples": self.val.len(),
            "val_tokens": tokens(&self.val),
            "vocab_size": self.vocab_size,
        })
    }
}
