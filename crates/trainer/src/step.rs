//! One optimizer step: the gradient of every micro-batch (split over the devices and the ranks),
//! summed over the ranks, cast to the master weights, clipped by the global norm, and applied by
//! AdamW (or skipped when f16 gradients overflowed).

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::time::Instant;

use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use claude_core::Gpt;

use crate::batch::batch_rng;
use crate::clip::clip_global_norm;
use crate::config::TrainConfig;
use crate::distributed::{all_reduce_gradients, rank_rows};
use crate::error::{Error, Result};
use crate::metrics::Reporter;
use crate::precision::{grads_to_master, working_copy};
use crate::rows::{Batch, Row, TrainingRows};
use crate::run::interrupt_flag;
use crate::setup::Run;

/// What a step measured.
pub(crate) struct StepOutcome {
    /// Mean training loss over all the step's rows (every rank's).
    pub loss: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Seconds the step took (evaluation and checkpoints excluded).
    pub seconds: f64,
    /// Tokens the step's rows fed the model, padding excluded (every rank's).
    pub tokens: usize,
    /// Whether any rank was asked to stop.
    pub stop_requested: bool,
}

impl Run {
    /// Runs step `self.state.step + 1` on `model`, advances the state past it and returns the
    /// updated model.
    pub fn train_step(
        &mut self,
        model: Gpt,
        reporter: &mut dyn Reporter,
    ) -> Result<(Gpt, StepOutcome)> {
        let started = Instant::now();
        let step = self.state.step;
        let config = &self.config;
        let precision = config.train.precision;
        // Dropout draws from the device's generator: seeding it per step makes resume exact.
        for device in &self.train_devices {
            device.seed(config.train.seed.wrapping_add(step as u64));
        }
        let loss_scale = self.state.loss_scaler.as_ref().map_or(1.0, |s| s.scale);
        let (grads, loss, tokens) = accumulate_gradients(
            &working_copy(&model, precision),
            self.data.as_ref(),
            config,
            step,
            &self.train_devices,
            self.rows.clone(),
            loss_scale,
        )?;
        let grads = grads_to_master(&model, grads, precision, loss_scale);
        // Read before the reduction, so that every rank of a multi-process run stops at the same
        // step when any of them is interrupted.
        let stop = interrupt_flag().load(Ordering::SeqCst) || reporter.should_stop();
        let (mut grads, loss, stop_requested) =
            all_reduce_gradients(&mut self.group, &model, grads, loss, stop, step + 1)?;
        if !loss.is_finite() {
            return Err(Error::NonFiniteLoss {
                step: step + 1,
                loss: loss as f32,
                last_checkpoint: self
                    .last_checkpoint
                    .as_ref()
                    .map_or("none".into(), |p| p.display().to_string()),
            });
        }
        let grad_norm = clip_global_norm(&model, &mut grads, config.optim.grad_clip);
        let lr = config.schedule.lr_at(step, config.train.max_steps);
        let apply = match &mut self.state.loss_scaler {
            Some(scaler) => scaler.update(grad_norm.is_finite()),
            None => true,
        };
        let model = if apply {
            self.optim.step(lr, model, grads)
        } else {
            reporter.note(&format!(
                "step {}: f16 gradients overflowed at loss scale {loss_scale}; step skipped",
                step + 1
            ));
            model
        };
        let seconds = started.elapsed().as_secs_f64();
        self.state.step += 1;
        self.state.tokens_seen += tokens as u64;
        self.state.elapsed_s = self.resumed_elapsed_s + self.started.elapsed().as_secs_f64();
        let outcome = StepOutcome {
            loss,
            lr,
            grad_norm,
            seconds,
            tokens,
            stop_requested,
        };
        Ok((model, outcome))
    }
}

/// Runs rows `rows` of the step's micro-batches and returns their part of the gradient of the
/// mean loss over all rows (times `loss_scale`), on the first device, their part of that
/// loss (unscaled), and the tokens all the step's rows feed the model (every rank draws them
/// all). With several devices the rows are split between them, every worker on its
/// own thread with a replica of the model; the batches depend only on the step and the
/// micro-batch index, so the result does not depend on the number of devices or processes.
fn accumulate_gradients(
    model: &Gpt,
    data: &dyn TrainingRows,
    config: &TrainConfig,
    step: usize,
    devices: &[Device],
    rows: Range<usize>,
    loss_scale: f64,
) -> Result<(GradientsParams, f64, usize)> {
    let batch = config.train.batch_size;
    let micro_batches = (0..config.train.grad_accum)
        .map(|micro| {
            let mut rng = batch_rng(config.train.seed, step, micro);
            data.train_rows(batch, &mut rng)
        })
        .collect::<Result<Vec<_>>>()?;
    let tokens = (micro_batches.iter().flatten())
        .map(|row| row.tokens.len() - 1)
        .sum();
    let main = &devices[0];
    if devices.len() == 1 {
        let (grads, loss) = worker_gradients(model, &micro_batches, rows, loss_scale, main);
        return Ok((grads, loss, tokens));
    }
    let results: Vec<(GradientsParams, f64)> = std::thread::scope(|scope| {
        let workers: Vec<_> = devices
            .iter()
            .enumerate()
            .map(|(worker, device)| {
                let share = rank_rows(rows.len(), worker, devices.len());
                let rows = rows.start + share.start..rows.start + share.end;
                let replica = model.clone().fork(device);
                let micro_batches = &micro_batches;
                scope.spawn(move || {
                    let (grads, loss) =
                        worker_gradients(&replica, micro_batches, rows, loss_scale, device);
                    (grads.to_device(main, &replica), loss)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut accumulator = GradientsAccumulator::new();
    let mut loss = 0.0;
    for (grads, worker_loss) in results {
        accumulator.accumulate(model, grads);
        loss += worker_loss;
    }
    Ok((accumulator.grads(), loss, tokens))
}

/// Forward and backward passes over rows `rows` of every micro-batch on `device`. Each part's
/// loss is weighted by its share of all the step's counted targets (of its rows, for windows),
/// so the workers' gradients and losses sum to those of the mean loss over the step; the
/// gradients are of the loss times `loss_scale`.
fn worker_gradients(
    model: &Gpt,
    micro_batches: &[Vec<Row<'_>>],
    rows: Range<usize>,
    loss_scale: f64,
    device: &Device,
) -> (GradientsParams, f64) {
    let counted = |rows: &[Row<'_>]| rows.iter().map(Row::counted_targets).sum::<usize>();
    let total: usize = micro_batches.iter().map(|rows| counted(rows)).sum();
    let mut accumulator = GradientsAccumulator::new();
    let mut weighted_loss = 0.0;
    for windows in micro_batches {
        let part = &windows[rows.clone()];
        // Each part's mean loss weighs as its share of the step's counted targets: the sum is
        // the mean over every counted target of the step, however the rows are split.
        let weight = counted(part) as f64 / total.max(1) as f64;
        let loss = Batch::of_rows(part, device).loss(model);
        let scaled = loss.clone().mul_scalar(weight * loss_scale);
        let grads = GradientsParams::from_grads(scaled.backward(), model);
        weighted_loss += f64::from(loss.into_scalar::<f32>()) * weight;
        accumulator.accumulate(model, grads);
    }
    (accumulator.grads(), weighted_loss)
}
