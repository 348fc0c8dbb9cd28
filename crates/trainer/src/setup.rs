//! Setting up a run: devices and their float type, the data, the model (fresh or resumed with
//! its optimizer state), the process group, and the metrics log.

use std::ops::Range;
use std::path::Path;
use std::time::Instant;

use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use burn::tensor::FloatDType;
use claude_core::{Gpt, ModelConfig};
use claude_tensors::parse_devices;

use crate::checkpoint::{Checkpoints, TrainState};
use crate::config::TrainConfig;
use crate::data::open_dataset;
use crate::distributed::{Group, rank_rows};
use crate::error::{Error, Result};
use crate::metrics::{MetricsLog, Reporter};
use crate::optim::build_optimizer;
use crate::precision::{LossScaler, cast_params};
use crate::rows::{TrainingRows, Windows};
use crate::run::{Job, RunOptions};
use crate::trainee::Trainee;

/// Everything a run holds between steps but the model, which each optimizer step consumes and
/// returns (AdamW updates the weights in place when it holds the only reference).
pub(crate) struct Run {
    /// The config, with `vocab_size` filled in from the tokenizer.
    pub config: TrainConfig,
    /// The training devices (autodiff); the first holds the model and the optimizer.
    pub train_devices: Vec<Device>,
    /// The first device without autodiff, for evaluation.
    pub eval_device: Device,
    /// Rows of every micro-batch this process computes.
    pub rows: Range<usize>,
    /// Training and validation rows.
    pub data: Box<dyn TrainingRows>,
    /// What is trained, and what checkpoints share.
    pub trainee: Box<dyn Trainee>,
    /// AdamW with its state.
    pub optim: ModuleOptimizer,
    /// Step, tokens seen, losses, loss scale.
    pub state: TrainState,
    /// Where checkpoints go.
    pub checkpoints: Checkpoints,
    /// The process group (a group of one when training alone).
    pub group: Group,
    /// `metrics.jsonl`.
    pub metrics_log: MetricsLog,
    /// The newest checkpoint written or resumed from.
    pub last_checkpoint: Option<std::path::PathBuf>,
    /// When this process started training.
    pub started: Instant,
    /// Training time of the earlier runs this one resumed.
    pub resumed_elapsed_s: f64,
    /// The step this process started from.
    pub first_step: usize,
    /// The tokens seen before this process started.
    pub first_tokens_seen: u64,
    /// Seconds spent in this process's steps (evaluation and checkpoints excluded).
    pub stepping_s: f64,
    /// The loss over the start of `val.bin` in order, once the last step has run.
    pub full_val_loss: Option<f64>,
}

impl Run {
    /// Opens the devices and the data, builds or restores the model (f32 master weights under
    /// mixed precision) and its optimizer, and joins the other ranks.
    pub fn start(
        job: Job,
        options: &RunOptions,
        reporter: &mut dyn Reporter,
    ) -> Result<(Run, Gpt)> {
        let Job {
            mut config,
            data,
            trainee,
        } = job;
        if let Some(max_steps) = options.max_steps {
            config.train.max_steps = max_steps;
        }
        let devices = open_devices(&config, &options.device)?;
        let (rank, world_size) = options.rank_and_world_size();
        let rows = rank_rows(config.train.batch_size, rank, world_size);
        check_rows_per_device(
            config.train.batch_size,
            &rows,
            devices.len(),
            rank,
            world_size,
            &options.device,
        )?;
        let out_dir = options.rank_dir();
        std::fs::create_dir_all(&out_dir).map_err(|e| Error::io(&out_dir, e))?;
        let data: Box<dyn TrainingRows> = match data {
            Some(rows) => rows,
            None => {
                let dataset = open_dataset(&config.data, &out_dir)?;
                let context = config.model.context_length;
                let windows = Windows { dataset, context };
                windows.check()?;
                Box::new(windows)
            }
        };
        fit_model_to_data(&mut config.model, data.as_ref())?;
        write_config(&config, &out_dir)?;

        let eval_device = devices[0].clone();
        let checkpointing = config.train.activation_checkpointing;
        let train_devices: Vec<Device> = (devices.into_iter())
            .map(|device| match checkpointing {
                true => device.autodiff().gradient_checkpointing(),
                false => device.autodiff(),
            })
            .collect();
        let precision = config.train.precision;
        let mut model = trainee.build(&config.model, &train_devices[0])?;
        if precision.has_master_weights() {
            model = cast_params(model, FloatDType::F32);
        }
        let checkpoints = Checkpoints::new(&out_dir, config.train.keep_last);
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
        let group = join_group(options, &config, data.as_ref(), state.step, reporter)?;
        let metrics_log = MetricsLog::open(&out_dir, state.step)?;
        let run = Run {
            train_devices,
            eval_device,
            rows,
            data,
            trainee,
            optim,
            checkpoints,
            group,
            metrics_log,
            last_checkpoint: resume_from,
            started: Instant::now(),
            resumed_elapsed_s: state.elapsed_s,
            first_step: state.step,
            first_tokens_seen: state.tokens_seen,
            stepping_s: 0.0,
            full_val_loss: None,
            state,
            config,
        };
        Ok((run, model))
    }
}

/// The devices of a device list, each set to the run's float type and seeded.
fn open_devices(config: &TrainConfig, device_list: &str) -> Result<Vec<Device>> {
    let mut devices = parse_devices(device_list)?;
    for device in &mut devices {
        if let Some(dtype) = config.train.precision.float_dtype() {
            // Must happen before the first tensor exists on the device.
            device.configure(dtype).map_err(|e| {
                Error::Invalid(format!(
                    "train.precision {:?} on {device_list}: {e}",
                    config.train.precision
                ))
            })?;
        }
        device.seed(config.train.seed);
    }
    Ok(devices)
}

/// Every device needs at least one row of every micro-batch.
fn check_rows_per_device(
    batch_size: usize,
    rows: &Range<usize>,
    devices: usize,
    rank: usize,
    world_size: usize,
    device_list: &str,
) -> Result<()> {
    if rows.len() >= devices {
        return Ok(());
    }
    let share = if world_size > 1 {
        format!(
            " gives rank {rank} of {world_size} {} rows of every micro-batch, fewer than its",
            rows.len()
        )
    } else {
        " is smaller than the".into()
    };
    Err(Error::Invalid(format!(
        "train.batch_size {batch_size}{share} {devices} devices in {device_list:?}: each device needs at \
         least one row of every micro-batch",
    )))
}

/// Fills in the vocabulary size from the data's tokenizer and checks that the rows fit the
/// context.
fn fit_model_to_data(model: &mut ModelConfig, data: &dyn TrainingRows) -> Result<()> {
    let vocab = data.vocab_size();
    if model.vocab_size == 0 {
        model.vocab_size = vocab;
    } else if model.vocab_size != vocab {
        return Err(Error::Invalid(format!(
            "model.vocab_size is {} but the tokenizer has {vocab} tokens",
            model.vocab_size
        )));
    }
    model.validate()?;
    let longest = data.longest_row();
    if longest > model.context_length + 1 {
        return Err(Error::Invalid(format!(
            "a row of {longest} tokens does not fit model.context_length {}",
            model.context_length
        )));
    }
    Ok(())
}

/// The process group of a multi-process run (waiting for every rank), or a group of one.
fn join_group(
    options: &RunOptions,
    config: &TrainConfig,
    data: &dyn TrainingRows,
    step: usize,
    reporter: &mut dyn Reporter,
) -> Result<Group> {
    let Some(mpi) = options.mpi.as_ref().filter(|mpi| mpi.world_size() > 1) else {
        return Ok(Group::single());
    };
    let (rank, world_size) = (mpi.rank(), mpi.world_size());
    let rows = rank_rows(config.train.batch_size, rank, world_size);
    reporter.note(&format!(
        "rank {rank} of {world_size} (local rank {}): rows {}..{} of every micro-batch",
        mpi.local_rank(),
        rows.start,
        rows.end,
    ));
    let fingerprint = run_fingerprint(config, data, step);
    let group = Group::join(mpi, &fingerprint, options.mpi_timeout)?;
    reporter.note(&format!("all {world_size} ranks agree on the run"));
    Ok(group)
}

/// What every rank of a multi-process run must agree on: the run's settings, the data's size and
/// vocabulary, and the step it starts from.
fn run_fingerprint(
    config: &TrainConfig,
    data: &dyn TrainingRows,
    step: usize,
) -> serde_json::Value {
    serde_json::json!({
        "model": config.model,
        "optim": config.optim,
        "schedule": config.schedule,
        "train": config.train,
        "data": data.fingerprint(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_device_of_every_rank_needs_a_row() {
        assert!(check_rows_per_device(4, &(0..2), 2, 0, 2, "cpu,cpu").is_ok());
        let err = check_rows_per_device(4, &rank_rows(4, 0, 3), 2, 0, 3, "cpu,cpu").unwrap_err();
        assert!(
            err.to_string().contains(
                "train.batch_size 4 gives rank 0 of 3 1 rows of every micro-batch, fewer than \
                 its 2 devices"
            ),
            "{err}"
        );
    }
}
