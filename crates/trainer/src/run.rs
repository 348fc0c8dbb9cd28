//! The training loop: micro-batches with gradient accumulation, global-norm clipping, AdamW,
//! warmup + cosine schedule, periodic evaluation and checkpoints, resume, Ctrl-C and NaN handling.
//!
//! Written by hand rather than with burn-train's `Learner`: the Learner is epoch-based (its
//! checkpoints, validation and resume work per epoch) and clips gradients per tensor, while a GPT
//! run is counted in steps, evaluates and checkpoints every N steps, clips the global norm, and must
//! resume mid-run on exactly the batches it would have drawn. The pieces come from burn: AdamW and
//! its parameter groups, `GradientsAccumulator`, autodiff, burnpack/safetensors storage.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use burn::tensor::FloatDType;
use claude_core::{Gpt, ModelConfig};
use claude_tensors::parse_devices;
use claude_tokenizer::data::TokenFile;

use crate::batch::{batch_of_windows, batch_rng, sample_batch};
use crate::checkpoint::{Checkpoints, TrainState};
use crate::clip::clip_global_norm;
use crate::collective::{Group, GroupConfig};
use crate::config::TrainConfig;
use crate::data::{Dataset, open_dataset};
use crate::distributed::{all_reduce_gradients, rank_rows};
use crate::error::{Error, Result};
use crate::metrics::{MetricsLog, Reporter, StepMetrics, peak_memory_bytes};
use crate::optim::build_optimizer;
use crate::precision::{LossScaler, cast_params, grads_to_master, working_copy};

/// How to run a config.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Output directory: checkpoints, `metrics.jsonl`, tokenizer, prepared data.
    pub out_dir: PathBuf,
    /// Device string (`cpu`, `wgpu`, `cuda:0`, ...), or a comma-separated list for data
    /// parallel training (the first device holds the model and the optimizer).
    pub device: String,
    /// Continue from the newest checkpoint in `out_dir`.
    pub resume: bool,
    /// Override of `train.max_steps`.
    pub max_steps: Option<usize>,
    /// This process's place in a multi-process (multi-machine) run; `None` trains alone.
    pub distributed: Option<GroupConfig>,
}

/// What a finished (or interrupted) run reports.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Steps completed.
    pub steps: usize,
    /// Last validation loss.
    pub val_loss: Option<f64>,
    /// Best validation loss.
    pub best_val_loss: Option<f64>,
    /// Validation loss over the first `train.final_eval_tokens` of `val.bin` in order, when the
    /// run reached its last step.
    pub full_val_loss: Option<f64>,
    /// Mean training throughput in tokens per second.
    pub tokens_per_sec: f64,
    /// Peak resident memory of the process, in bytes.
    pub peak_memory_bytes: Option<u64>,
    /// The newest checkpoint.
    pub checkpoint: PathBuf,
    /// Whether Ctrl-C stopped the run early.
    pub interrupted: bool,
}

/// Set by Ctrl-C; the loop checkpoints and stops at the next step boundary.
fn interrupt_flag() -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let handler_flag = flag.clone();
        // Fails only if another handler is installed (e.g. by an embedding program): then that
        // program owns Ctrl-C and we simply never see it.
        let _ = ctrlc::set_handler(move || handler_flag.store(true, Ordering::SeqCst));
        flag
    })
    .clone()
}

/// Salt for the evaluation batches (fixed, so every evaluation sees the same windows).
const EVAL_SEED: u64 = 0x5EED_E7A1;

/// Trains as `config` says; `reporter` shows progress.
pub fn train(
    mut config: TrainConfig,
    options: &RunOptions,
    reporter: &mut dyn Reporter,
) -> Result<RunSummary> {
    if let Some(max_steps) = options.max_steps {
        config.train.max_steps = max_steps;
    }
    let mut devices = parse_devices(&options.device)?;
    for device in &mut devices {
        if let Some(dtype) = config.train.precision.float_dtype() {
            // Must happen before the first tensor exists on the device.
            device.configure(dtype).map_err(|e| {
                Error::Invalid(format!(
                    "train.precision {:?} on {}: {e}",
                    config.train.precision, options.device
                ))
            })?;
        }
        device.seed(config.train.seed);
    }
    let (rank, world_size) = options
        .distributed
        .as_ref()
        .map_or((0, 1), |group| (group.rank, group.world_size));
    let rows = rank_rows(config.train.batch_size, rank, world_size);
    if rows.len() < devices.len() {
        let share = if world_size > 1 {
            format!(
                " gives rank {rank} of {world_size} {} rows of every micro-batch, fewer than its",
                rows.len()
            )
        } else {
            " is smaller than the".into()
        };
        return Err(Error::Invalid(format!(
            "train.batch_size {}{share} {} devices in {:?}: each device needs at least one row \
             of every micro-batch",
            config.train.batch_size,
            devices.len(),
            options.device
        )));
    }
    let device = devices[0].clone();
    std::fs::create_dir_all(&options.out_dir).map_err(|e| Error::io(&options.out_dir, e))?;
    let data = open_dataset(&config.data, &options.out_dir)?;
    fit_model_to_data(&mut config.model, &data)?;
    write_config(&config, &options.out_dir)?;

    let train_devices: Vec<Device> = devices.into_iter().map(Device::autodiff).collect();
    let train_device = train_devices[0].clone();
    let precision = config.train.precision;
    let mut model = config.model.init(&train_device);
    if precision.has_master_weights() {
        model = cast_params(model, FloatDType::F32);
    }
    let checkpoints = Checkpoints::new(&options.out_dir, config.train.keep_last);
    let mut state = TrainState {
        step: 0,
        tokens_seen: 0,
        val_loss: None,
        best_val_loss: None,
        elapsed_s: 0.0,
        loss_scaler: precision.scales_loss().then(LossScaler::new),
    };
    let resume_from = if options.resume {
        checkpoints.latest()?
    } else {
        None
    };
    if let Some(dir) = &resume_from {
        (model, state) = Checkpoints::restore_model(dir, model)?;
    }
    // Built after the restore: parameter groups and state are keyed by the parameter ids.
    let mut optim = build_optimizer(&config.optim, &model);
    if let Some(dir) = &resume_from {
        optim = Checkpoints::restore_optimizer(dir, optim)?;
        reporter.note(&format!(
            "resumed from {} at step {}",
            dir.display(),
            state.step
        ));
    } else if options.resume {
        reporter.note("no checkpoint to resume from: starting a new run");
    }
    let mut last_checkpoint = resume_from;
    reporter.note(&format!(
        "model: {} parameters ({} layers, {} heads, {} wide, context {}, vocab {}) on {}",
        model.num_params(),
        config.model.n_layer,
        config.model.n_head,
        config.model.d_model,
        config.model.context_length,
        config.model.vocab_size,
        options.device
    ));

    let mut group = join_group(options, &config, &data, state.step, reporter)?;

    let interrupt = interrupt_flag();
    interrupt.store(false, Ordering::SeqCst);
    let tokens_per_step = config.tokens_per_step();
    let max_steps = config.train.max_steps;
    let mut metrics_log = MetricsLog::open(&options.out_dir, state.step)?;
    let started = Instant::now();
    let resumed_elapsed = state.elapsed_s;
    let first_step = state.step;
    let mut interrupted = false;
    let mut full_val_loss = None;

    while state.step < max_steps {
        let step_started = Instant::now();
        let step = state.step;
        // Dropout draws from the device's generator: seeding it per step makes resume exact.
        for device in &train_devices {
            device.seed(config.train.seed.wrapping_add(step as u64));
        }
        let loss_scale = state.loss_scaler.as_ref().map_or(1.0, |s| s.scale);
        let (grads, loss) = accumulate_gradients(
            &working_copy(&model, precision),
            &data.train,
            &config,
            step,
            &train_devices,
            rows.clone(),
            loss_scale,
        )?;
        let grads = grads_to_master(&model, grads, precision, loss_scale);
        // Read before the reduction, so that every rank of a multi-process run stops at the same
        // step when any of them is interrupted.
        let stop_requested = interrupt.load(Ordering::SeqCst) || reporter.should_stop();
        let (mut grads, loss, stop_requested) =
            all_reduce_gradients(&mut group, &model, grads, loss, stop_requested, step + 1)?;
        if !loss.is_finite() {
            return Err(Error::NonFiniteLoss {
                step: step + 1,
                loss: loss as f32,
                last_checkpoint: last_checkpoint.map_or("none".into(), |p| p.display().to_string()),
            });
        }
        let grad_norm = clip_global_norm(&model, &mut grads, config.optim.grad_clip);
        let lr = config.schedule.lr_at(step, max_steps);
        let apply = match &mut state.loss_scaler {
            Some(scaler) => scaler.update(grad_norm.is_finite()),
            None => true,
        };
        if apply {
            model = optim.step(lr, model, grads);
        } else {
            reporter.note(&format!(
                "step {}: f16 gradients overflowed at loss scale {loss_scale}; step skipped",
                step + 1
            ));
        }
        // Training time only: evaluation and checkpoints below are not part of the step.
        let step_seconds = step_started.elapsed().as_secs_f64();

        state.step += 1;
        state.tokens_seen += tokens_per_step as u64;
        state.elapsed_s = resumed_elapsed + started.elapsed().as_secs_f64();
        let last = state.step == max_steps;
        interrupted = stop_requested;
        let evaluate = state.step.is_multiple_of(config.train.eval_interval) || last;
        let val_loss = if evaluate {
            Some(evaluate_loss(
                &working_copy(&model, precision).valid(),
                &data,
                &config,
                &device,
            )?)
        } else {
            None
        };
        state.val_loss = val_loss;
        let is_best = match (val_loss, state.best_val_loss) {
            (Some(v), Some(best)) => v < best,
            (Some(_), None) => true,
            _ => false,
        };
        if is_best {
            state.best_val_loss = val_loss;
        }
        if last && config.train.final_eval_tokens > 0 {
            full_val_loss = Some(evaluate_full(
                &working_copy(&model, precision).valid(),
                &data,
                &config,
                &device,
            )?);
        }
        let metrics = StepMetrics {
            step: state.step,
            loss,
            lr,
            grad_norm,
            tokens_per_sec: tokens_per_step as f64 / step_seconds,
            elapsed_s: state.elapsed_s,
            val_loss,
            val_perplexity: val_loss.map(f64::exp),
            val_loss_full: full_val_loss,
        };
        metrics_log.write(&metrics)?;
        reporter.step(&metrics, max_steps);
        if state.step.is_multiple_of(config.train.checkpoint_interval) || last || interrupted {
            let dir = checkpoints.save(&model.valid(), &config.model, &optim, &state, is_best)?;
            last_checkpoint = Some(dir);
        }
        if interrupted {
            reporter.note(&format!(
                "interrupted: checkpoint written at step {}",
                state.step
            ));
            break;
        }
    }
    let trained_steps = state.step - first_step;
    let seconds = started.elapsed().as_secs_f64();
    Ok(RunSummary {
        steps: state.step,
        val_loss: state.val_loss,
        best_val_loss: state.best_val_loss,
        full_val_loss,
        tokens_per_sec: if trained_steps > 0 {
            (trained_steps * tokens_per_step) as f64 / seconds
        } else {
            0.0
        },
        peak_memory_bytes: peak_memory_bytes(),
        checkpoint: match last_checkpoint {
            Some(dir) => dir,
            None => checkpoints.latest()?.unwrap_or_else(|| checkpoints.best()),
        },
        interrupted,
    })
}

/// Fills in the vocabulary size from the tokenizer and checks that the data fits the context.
fn fit_model_to_data(model: &mut ModelConfig, data: &Dataset) -> Result<()> {
    let vocab = data.tokenizer.vocab_size();
    if model.vocab_size == 0 {
        model.vocab_size = vocab;
    } else if model.vocab_size != vocab {
        return Err(Error::Invalid(format!(
            "model.vocab_size is {} but the tokenizer has {vocab} tokens",
            model.vocab_size
        )));
    }
    model.validate()?;
    for (name, file) in [("train", &data.train), ("val", &data.val)] {
        if file.len() <= model.context_length {
            return Err(Error::Invalid(format!(
                "model.context_length {} is larger than the {name} data ({} tokens in {})",
                model.context_length,
                file.len(),
                file.path().display()
            )));
        }
    }
    Ok(())
}

/// The process group of a multi-process run (waiting for every rank), or a group of one.
fn join_group(
    options: &RunOptions,
    config: &TrainConfig,
    data: &Dataset,
    step: usize,
    reporter: &mut dyn Reporter,
) -> Result<Group> {
    let Some(group_config) = options.distributed.as_ref().filter(|g| g.world_size > 1) else {
        return Ok(Group::single());
    };
    let GroupConfig {
        rank, world_size, ..
    } = *group_config;
    let rows = rank_rows(config.train.batch_size, rank, world_size);
    reporter.note(&format!(
        "rank {rank} of {world_size}: rows {}..{} of every micro-batch; waiting for the other \
         ranks at {}",
        rows.start, rows.end, group_config.coordinator
    ));
    let group = Group::join(group_config, run_fingerprint(config, data, step))
        .map_err(|e| Error::Distributed(e.to_string()))?;
    reporter.note(&format!("all {world_size} ranks joined"));
    Ok(group)
}

/// What every rank of a multi-process run must agree on: the run's settings, the data's size and
/// vocabulary, and the step it starts from.
fn run_fingerprint(config: &TrainConfig, data: &Dataset, step: usize) -> serde_json::Value {
    serde_json::json!({
        "model": config.model,
        "optim": config.optim,
        "schedule": config.schedule,
        "train": config.train,
        "data": {
            "train_tokens": data.train.len(),
            "val_tokens": data.val.len(),
            "vocab_size": data.tokenizer.vocab_size(),
        },
        "resumed_step": step,
    })
}

/// Saves the merged config beside the checkpoints (`<out>/config.toml`).
fn write_config(config: &TrainConfig, out_dir: &Path) -> Result<()> {
    let text =
        toml::to_string_pretty(config).map_err(|e| Error::Invalid(format!("config: {e}")))?;
    let path = out_dir.join("config.toml");
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
}

/// Runs rows `rows` of the step's micro-batches and returns their part of the gradient of the
/// mean loss over all rows (times `loss_scale`), on the first device, and their part of that
/// loss (unscaled). With several
/// devices the rows are split between them, every worker on its own thread with a replica of the
/// model; the batches depend only on the step and the micro-batch index, so the result does not
/// depend on the number of devices or processes.
fn accumulate_gradients(
    model: &Gpt,
    train: &TokenFile,
    config: &TrainConfig,
    step: usize,
    devices: &[Device],
    rows: Range<usize>,
    loss_scale: f64,
) -> Result<(GradientsParams, f64)> {
    let batch = config.train.batch_size;
    let micro_batches = (0..config.train.grad_accum)
        .map(|micro| {
            let mut rng = batch_rng(config.train.seed, step, micro);
            train.random_windows(batch, config.model.context_length, &mut rng)
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let main = &devices[0];
    if devices.len() == 1 {
        return Ok(worker_gradients(
            model,
            &micro_batches,
            rows,
            loss_scale,
            main,
        ));
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
    Ok((accumulator.grads(), loss))
}

/// Forward and backward passes over rows `rows` of every micro-batch on `device`. Each part's
/// loss is weighted by its share of all the step's rows, so the workers' gradients and losses
/// sum to those of the mean loss over the step; the gradients are of the loss times `loss_scale`.
fn worker_gradients(
    model: &Gpt,
    micro_batches: &[Vec<&[u32]>],
    rows: Range<usize>,
    loss_scale: f64,
    device: &Device,
) -> (GradientsParams, f64) {
    let total_rows: usize = micro_batches.iter().map(Vec::len).sum();
    let mut accumulator = GradientsAccumulator::new();
    let mut weighted_loss = 0.0;
    for windows in micro_batches {
        let part = &windows[rows.clone()];
        let weight = part.len() as f64 / total_rows as f64;
        let batch = batch_of_windows(part, device);
        let loss = model.loss(batch.inputs, batch.targets);
        let scaled = loss.clone().mul_scalar(weight * loss_scale);
        let grads = GradientsParams::from_grads(scaled.backward(), model);
        weighted_loss += f64::from(loss.into_scalar::<f32>()) * weight;
        accumulator.accumulate(model, grads);
    }
    (accumulator.grads(), weighted_loss)
}

/// Mean loss over `eval_iters` fixed batches of `val.bin`, without autodiff.
pub fn evaluate_loss(
    model: &Gpt,
    data: &Dataset,
    config: &TrainConfig,
    device: &Device,
) -> Result<f64> {
    let mut total = 0.0;
    for i in 0..config.train.eval_iters {
        let mut rng = batch_rng(EVAL_SEED, i, 0);
        let batch = sample_batch(
            &data.val,
            config.train.batch_size,
            config.model.context_length,
            &mut rng,
            device,
        )?;
        total += f64::from(model.loss(batch.inputs, batch.targets).into_scalar::<f32>());
    }
    Ok(total / config.train.eval_iters as f64)
}

/// Rows per forward pass of the final evaluation (no gradients are kept, so wider than training).
const FULL_EVAL_ROWS: usize = 64;

/// Mean loss over consecutive windows covering the first `final_eval_tokens` of `val.bin` (the
/// whole file when it is shorter), without autodiff: deterministic and free of sampling noise.
pub fn evaluate_full(
    model: &Gpt,
    data: &Dataset,
    config: &TrainConfig,
    device: &Device,
) -> Result<f64> {
    let context = config.model.context_length;
    let max_windows = (config.train.final_eval_tokens / context).max(1);
    let windows: Vec<&[u32]> = data
        .val
        .sequential_windows(context)
        .take(max_windows)
        .collect();
    let mut total = 0.0;
    for chunk in windows.chunks(FULL_EVAL_ROWS) {
        let batch = batch_of_windows(chunk, device);
        let loss = model.loss(batch.inputs, batch.targets).into_scalar::<f32>();
        total += f64::from(loss) * chunk.len() as f64;
    }
    Ok(total / windows.len() as f64)
}
