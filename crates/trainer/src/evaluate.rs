//! After each step: evaluate when due, log the metrics, and write a checkpoint when due.

use burn::prelude::*;
use claude_core::Gpt;

use crate::batch::batch_rng;
use crate::config::TrainConfig;
use crate::error::Result;
use crate::metrics::{Reporter, StepMetrics};
use crate::precision::working_copy;
use crate::rows::{Batch, TrainingRows};
use crate::setup::Run;
use crate::step::StepOutcome;

/// Salt for the evaluation batches (fixed, so every evaluation sees the same windows).
const EVAL_SEED: u64 = 0x5EED_E7A1;
/// Rows per forward pass of the final evaluation (no gradients are kept, so wider than training).
const FULL_EVAL_ROWS: usize = 64;

impl Run {
    /// Evaluates on `val.bin` when the step is due (every `eval_interval` and the last), logs
    /// and reports the step, and checkpoints when due (every `checkpoint_interval`, the last
    /// step, and when a stop was requested).
    pub fn evaluate_and_checkpoint(
        &mut self,
        model: &Gpt,
        outcome: &StepOutcome,
        reporter: &mut dyn Reporter,
    ) -> Result<()> {
        let config = &self.config;
        let step = self.state.step;
        let last = step == config.train.max_steps;
        let evaluated = (step.is_multiple_of(config.train.eval_interval) || last)
            .then(|| working_copy(model, config.train.precision).valid());
        let val_loss = match &evaluated {
            Some(model) => Some(evaluate_loss(
                model,
                self.data.as_ref(),
                config,
                &self.eval_device,
            )?),
            None => None,
        };
        self.state.val_loss = val_loss;
        let is_best = match (val_loss, self.state.best_val_loss) {
            (Some(v), Some(best)) => v < best,
            (Some(_), None) => true,
            _ => false,
        };
        if is_best {
            self.state.best_val_loss = val_loss;
        }
        if let Some(model) = evaluated
            .as_ref()
            .filter(|_| last && config.train.final_eval_tokens > 0)
        {
            self.full_val_loss = Some(evaluate_full(
                model,
                self.data.as_ref(),
                config,
                &self.eval_device,
            ));
        }
        let metrics = StepMetrics {
            step,
            loss: outcome.loss,
            lr: outcome.lr,
            grad_norm: outcome.grad_norm,
            tokens_per_sec: outcome.tokens as f64 / outcome.seconds,
            elapsed_s: self.state.elapsed_s,
            val_loss,
            val_perplexity: val_loss.map(f64::exp),
            val_loss_full: self.full_val_loss,
        };
        self.metrics_log.write(&metrics)?;
        reporter.step(&metrics, config.train.max_steps);
        if step.is_multiple_of(config.train.checkpoint_interval) || last || outcome.stop_requested {
            let dir = self.checkpoints.save(
                &model.valid(),
                self.trainee.as_ref(),
                &self.optim,
                &self.state,
                is_best,
            )?;
            self.last_checkpoint = Some(dir);
        }
        Ok(())
    }
}

/// Mean loss over `eval_iters` fixed batches of validation rows, without autodiff.
fn evaluate_loss(
    model: &Gpt,
    data: &dyn TrainingRows,
    config: &TrainConfig,
    device: &Device,
) -> Result<f64> {
    let mut total = 0.0;
    for i in 0..config.train.eval_iters {
        let mut rng = batch_rng(EVAL_SEED, i, 0);
        let rows = data.val_rows(config.train.batch_size, &mut rng)?;
        let loss = Batch::of_rows(&rows, device).loss(model);
        total += f64::from(loss.into_scalar::<f32>());
    }
    Ok(total / config.train.eval_iters as f64)
}

/// Mean loss over the validation rows in order, about `final_eval_tokens` of them (consecutive
/// windows of `val.bin`; every example of a fine-tuning set that fits), without autodiff:
/// deterministic and free of sampling noise.
fn evaluate_full(
    model: &Gpt,
    data: &dyn TrainingRows,
    config: &TrainConfig,
    device: &Device,
) -> f64 {
    let rows = data.val_in_order(config.train.final_eval_tokens);
    let mut total = 0.0;
    for chunk in rows.chunks(FULL_EVAL_ROWS) {
        let loss = Batch::of_rows(chunk, device)
            .loss(model)
            .into_scalar::<f32>();
        total += f64::from(loss) * chunk.len() as f64;
    }
    total / rows.len() as f64
}
