//! A fine-tuning run end to end: open the pretrained model (its tokenizer and chat template too),
//! read the data with them, and train through the trainer's loop.

use std::path::PathBuf;

use burn::prelude::*;
use claude_trainer::{DataConfig, Job, Reporter, RunOptions, RunSummary, TrainConfig, run_job};

use crate::config::FinetuneConfig;
use crate::data::{DataStats, ReadOptions, read_examples};
use crate::error::Result;
use crate::rows::ExampleRows;
use crate::trainee::Pretrained;

/// What to fine-tune on what.
#[derive(Debug, Clone)]
pub struct FinetuneJob {
    /// The pretrained model: a GGUF file, a Hugging Face folder, or our checkpoint.
    pub model: PathBuf,
    /// Training data (JSON lines).
    pub data: PathBuf,
    /// Validation data; `None`: part of `data` is held out.
    pub val: Option<PathBuf>,
    /// The method and settings.
    pub config: FinetuneConfig,
}

/// What a fine-tuning run reports.
#[derive(Debug, Clone)]
pub struct FinetuneSummary {
    /// The training loop's summary.
    pub run: RunSummary,
    /// What was read from the training data.
    pub train_data: DataStats,
    /// What was read from the validation data, when a file was given.
    pub val_data: Option<DataStats>,
}

/// Fine-tunes `job.model` on `job.data` as `job.config` says, writing checkpoints (each with
/// the model file, or the adapters in PEFT's and llama.cpp's formats, and `finetune.json`) to
/// `options.out_dir`.
pub fn finetune(
    job: FinetuneJob,
    options: &RunOptions,
    reporter: &mut dyn Reporter,
) -> Result<FinetuneSummary> {
    let config = job.config;
    let opened =
        claude_inference::open_limited(&job.model, None, &Device::flex(), Some(config.max_length))?;
    let read = ReadOptions::new(config.max_length).with_overlong(config.overlong);
    let (template, tokenizer) = (&opened.chat_template, &opened.tokenizer);
    let train = read_examples(&job.data, template, tokenizer, read)?;
    reporter.note(&data_note(&job.data, &train.stats));
    let val = match &job.val {
        Some(path) => {
            let val = read_examples(path, template, tokenizer, read)?;
            reporter.note(&data_note(path, &val.stats));
            Some(val)
        }
        None => None,
    };
    let (train_data, val_data) = (train.stats.clone(), val.as_ref().map(|v| v.stats.clone()));
    let model = opened.model;
    let model_config = model.config().clone();
    let rows = ExampleRows::split(train, val, config.val_fraction, model_config.vocab_size);
    reporter.note(&format!(
        "{} training and {} validation examples; {:?} fine-tuning",
        rows.train.len(),
        rows.val.len(),
        config.method
    ));
    let trainee = Pretrained::new(model, job.model.clone(), config.method, config.lora.clone());
    let train_config = TrainConfig {
        data: DataConfig::default(),
        model: model_config,
        optim: config.optim,
        schedule: config.schedule,
        train: config.train,
    };
    let job = Job {
        config: train_config,
        data: Some(Box::new(rows)),
        trainee: Box::new(trainee),
    };
    let run = run_job(job, options, reporter)?;
    Ok(FinetuneSummary {
        run,
        train_data,
        val_data,
    })
}

/// One line on what a data file held.
fn data_note(path: &std::path::Path, stats: &DataStats) -> String {
    format!(
        "{}: {} examples ({} tokens, {} counted; longest {}), {} truncated, {} skipped as too long, {} without a counted token",
        path.display(),
        stats.examples,
        stats.tokens,
        stats.target_tokens,
        stats.longest,
        stats.truncated,
        stats.skipped_overlong,
        stats.skipped_no_targets,
    )
}
