//! Training runs end to end on a tiny model: resume equals an uninterrupted run, metrics are
//! logged, evaluation matches a host computation, and bad input is a clear error.

use std::path::Path;

use burn::prelude::*;
use claude_core::Gpt;
use claude_tokenizer::data::TokenFile;
use claude_trainer::{Error, RunOptions, SilentReporter, TrainConfig, train};

use crate::support::{serial, tiny_config};

fn options(out: &Path, resume: bool, max_steps: Option<usize>) -> RunOptions {
    RunOptions {
        resume,
        max_steps,
        ..RunOptions::new(out)
    }
}

fn weights(path: &Path) -> Vec<(String, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut all: Vec<(String, Vec<f32>)> = tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let data = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            (name, data)
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

#[test]
fn resumed_run_ends_where_an_uninterrupted_run_ends() {
    let _serial = serial();
    let whole = tempfile::tempdir().unwrap();
    let summary = train(
        tiny_config(),
        &options(whole.path(), false, None),
        &mut SilentReporter,
    )
    .unwrap();
    assert_eq!(summary.steps, 12);

    let split = tempfile::tempdir().unwrap();
    let first = train(
        tiny_config(),
        &options(split.path(), false, Some(6)),
        &mut SilentReporter,
    )
    .unwrap();
    assert_eq!(first.steps, 6);
    let second = train(
        tiny_config(),
        &options(split.path(), true, None),
        &mut SilentReporter,
    )
    .unwrap();
    assert_eq!(second.steps, 12);

    let a = weights(&summary.checkpoint.join("model.safetensors"));
    let b = weights(&second.checkpoint.join("model.safetensors"));
    assert_eq!(a.len(), b.len());
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert_eq!(x, y, "{name} differs after resume");
    }
    assert_eq!(summary.val_loss, second.val_loss);
}

#[test]
fn metrics_jsonl_has_a_line_per_step_with_val_loss_on_eval_steps() {
    let _serial = serial();
    let out = tempfile::tempdir().unwrap();
    train(
        tiny_config(),
        &options(out.path(), false, None),
        &mut SilentReporter,
    )
    .unwrap();
    let text = std::fs::read_to_string(out.path().join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 12);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["step"], i + 1);
        for key in ["loss", "lr", "tokens_per_sec", "elapsed_s"] {
            assert!(
                line[key].as_f64().is_some_and(f64::is_finite),
                "{key} in {line}"
            );
        }
        assert_eq!(line.get("val_loss").is_some(), (i + 1) % 6 == 0, "{line}");
    }
    assert!(
        out.path()
            .join("checkpoints/best/model.safetensors")
            .is_file()
    );
    assert!(out.path().join("config.toml").is_file());
}

#[test]
fn bad_configs_are_clear_errors() {
    let _serial = serial();
    let err = TrainConfig::parse("[model]\ncontext_length = 8\nn_layers = 2\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `n_layers`"), "{err}");
    assert!(err.contains("line 3"), "{err}");

    let out = tempfile::tempdir().unwrap();
    let mut config = tiny_config();
    config.model.n_head = 3;
    let err = train(
        config,
        &options(out.path(), false, None),
        &mut SilentReporter,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("n_head 3 does not divide d_model 16"),
        "{err}"
    );

    let mut config = tiny_config();
    config.model.context_length = 200_000;
    let err = train(
        config,
        &options(out.path(), false, None),
        &mut SilentReporter,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("larger than the val data"),
        "{err}"
    );

    let mut config = tiny_config();
    config.data.text = Some(out.path().join("missing.txt"));
    assert!(matches!(
        train(
            config,
            &options(out.path(), false, None),
            &mut SilentReporter
        ),
        Err(Error::NoData(_))
    ));
}

#[test]
fn a_diverging_run_stops_with_the_step_and_last_checkpoint() {
    let _serial = serial();
    let out = tempfile::tempdir().unwrap();
    let mut config = tiny_config();
    config.schedule.lr = 1e6;
    config.schedule.min_lr = 1e6;
    config.optim.grad_clip = 0.0;
    config.train.max_steps = 200;
    config.train.checkpoint_interval = 1;
    let err = train(
        config,
        &options(out.path(), false, None),
        &mut SilentReporter,
    )
    .unwrap_err();
    let Error::NonFiniteLoss {
        step,
        last_checkpoint,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert!(*step > 1, "{err}");
    assert!(
        last_checkpoint.contains(&format!("step-{:08}", step - 1)),
        "{err}"
    );
}

#[test]
fn every_config_in_configs_parses_and_validates() {
    let _serial = serial();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        // `finetune-*.toml` are fine-tuning configs (claude-finetune parses them).
        let finetune =
            (path.file_name().and_then(|n| n.to_str())).is_some_and(|n| n.starts_with("finetune-"));
        if path.extension().is_some_and(|e| e == "toml") && !finetune {
            let mut config = TrainConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
            if config.model.vocab_size == 0 {
                config.model.vocab_size = 65;
            }
            config
                .model
                .validate()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
    }
    assert!(seen >= 3);
}

/// Mean cross-entropy of `targets` under `logits` (`[rows * seq, vocab]`, row-major), in f64.
fn host_cross_entropy(logits: &[f32], targets: &[u32], vocab: usize) -> f64 {
    let total: f64 = targets
        .iter()
        .zip(logits.chunks(vocab))
        .map(|(&target, row)| {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) as f64;
            let sum: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
            max + sum.ln() - row[target as usize] as f64
        })
        .sum();
    total / targets.len() as f64
}

#[test]
fn final_evaluation_covers_val_in_order_and_matches_a_host_computation() {
    let _serial = serial();
    let out = tempfile::tempdir().unwrap();
    let mut config = tiny_config();
    // 40 windows of 16: not a multiple of the evaluation's 64 rows per pass.
    config.train.final_eval_tokens = 40 * 16 + 5;
    let summary = train(
        config,
        &options(out.path(), false, None),
        &mut SilentReporter,
    )
    .unwrap();
    let full = summary
        .full_val_loss
        .expect("the run reached its last step");

    let text = std::fs::read_to_string(out.path().join("metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let logged = last["val_loss_full"].as_f64().unwrap();
    assert!(
        (logged - full).abs() < 1e-12,
        "{logged} logged, {full} returned"
    );

    // The same windows, cut by hand from val.bin, through the saved model in one batch.
    let val = TokenFile::open(out.path().join("data/val.bin")).unwrap();
    let ids = val.tokens();
    let (inputs, targets): (Vec<i32>, Vec<u32>) = (0..40)
        .flat_map(|w| (0..16).map(move |i| w * 16 + i))
        .map(|i| (ids[i] as i32, ids[i + 1]))
        .unzip();
    let device = Device::flex();
    let model = Gpt::load(&summary.checkpoint, &device).unwrap();
    let logits = model.forward(Tensor::<2, Int>::from_data(
        TensorData::new(inputs, [40, 16]),
        &device,
    ));
    let logits: Vec<f32> = logits.into_data().try_into_vec_as::<f32>().unwrap();
    let expected = host_cross_entropy(&logits, &targets, model.config().vocab_size);
    assert!(
        (full - expected).abs() < 1e-4,
        "final evaluation {full} vs host computation {expected}"
    );
}

#[test]
fn data_parallel_workers_follow_the_single_device_run() {
    let _serial = serial();
    let losses = |device: &str| -> Vec<f64> {
        let out = tempfile::tempdir().unwrap();
        let mut options = options(out.path(), false, Some(4));
        options.device = device.into();
        train(tiny_config(), &options, &mut SilentReporter).unwrap();
        std::fs::read_to_string(out.path().join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["loss"]
                    .as_f64()
                    .unwrap()
            })
            .collect()
    };
    let single = losses("cpu");
    // Two and three workers on the CPU, splitting each micro-batch's four rows (3 unevenly).
    for devices in ["cpu,cpu", "cpu,cpu,cpu"] {
        let parallel = losses(devices);
        assert_eq!(parallel.len(), 4);
        for (step, (a, b)) in single.iter().zip(&parallel).enumerate() {
            assert!(
                (a - b).abs() < 1e-5,
                "step {}: loss {a} on one device, {b} on {devices}",
                step + 1
            );
        }
    }

    // More devices than rows in a micro-batch.
    let out = tempfile::tempdir().unwrap();
    let mut five = options(out.path(), false, Some(4));
    five.device = "cpu,cpu,cpu,cpu,cpu".into();
    let err = train(tiny_config(), &five, &mut SilentReporter).unwrap_err();
    assert!(
        err.to_string()
            .contains("train.batch_size 4 is smaller than the 5 devices"),
        "{err}"
    );
}
