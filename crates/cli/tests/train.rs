//! `claude-rust train` / `generate` end to end: a run killed with SIGKILL and resumed ends where an
//! uninterrupted run ends, and the checkpoint generates text.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_claude-rust"))
}

fn write_config(dir: &Path) -> PathBuf {
    let corpus = claude_tokenizer::shared_data_dir().join("text/tinyshakespeare.txt");
    let path = dir.join("tiny.toml");
    std::fs::write(
        &path,
        format!(
            r#"
            [data]
            text = "{}"
            [model]
            context_length = 16
            n_layer = 1
            n_head = 2
            d_model = 16
            [schedule]
            lr = 3e-3
            warmup_steps = 5
            decay_steps = 400
            min_lr = 3e-4
            [train]
            max_steps = 400
            batch_size = 4
            eval_interval = 30
            eval_iters = 2
            checkpoint_interval = 5
            keep_last = 3
            "#,
            corpus.display()
        ),
    )
    .unwrap();
    path
}

fn train(config: &Path, out: &Path, extra: &[&str]) {
    let status = bin()
        .args(["train", "--no-tui", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out)
        .args(extra)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Every tensor of the final checkpoint by name (the header's metadata order may differ).
fn final_weights(out: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(out.join("checkpoints/step-00000400/model.safetensors")).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut all: Vec<(String, Vec<u8>)> = tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect();
    all.sort();
    all
}

#[test]
fn sigkill_then_resume_matches_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let whole = dir.path().join("whole");
    train(&config, &whole, &[]);

    let killed = dir.path().join("killed");
    let mut child = bin()
        .args(["train", "--no-tui", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&killed)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // Kill as soon as the first checkpoint exists, long before step 400.
    let has_checkpoint = |dir: &Path| {
        std::fs::read_dir(dir.join("checkpoints")).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("step-"))
        })
    };
    while !has_checkpoint(&killed) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "training ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    train(&config, &killed, &["--resume"]);

    assert!(
        final_weights(&whole) == final_weights(&killed),
        "weights differ after kill and resume"
    );
    // The steps run again after the kill are logged once.
    let metrics = std::fs::read_to_string(killed.join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> = metrics
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(steps, (1..=400).collect::<Vec<_>>());
}

#[test]
fn generate_prints_the_prompt_and_a_continuation() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let out = dir.path().join("run");
    train(&config, &out, &["--max-steps", "5"]);
    let output = bin()
        .args([
            "generate",
            "--prompt",
            "ROMEO:",
            "--max-new-tokens",
            "40",
            "--checkpoint",
        ])
        .arg(out.join("checkpoints/step-00000005"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.starts_with("ROMEO:"), "{text}");
    assert_eq!(
        text.strip_suffix('\n').unwrap().chars().count(),
        "ROMEO:".len() + 40,
        "{text:?}"
    );

    let bad = bin()
        .args(["generate", "--prompt", "ROMEO:", "--checkpoint"])
        .arg(dir.path().join("nope.safetensors"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nope.safetensors"));
}

#[test]
fn training_on_an_unknown_device_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let output = bin()
        .args(["train", "--no-tui", "--device", "tpu", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown device \"tpu\""));
}
