//! `claude-rust train` / `generate` end to end: a run killed with SIGKILL and resumed ends where an
//! uninterrupted run ends, mixed precision, and the checkpoint generates text.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use claude_trainer::{Precision, TrainConfig};

use crate::support::{bin, free_port, tiny_config};

/// `configs/tiny.toml` for 400 steps, checkpointing every 5 and keeping the last 3.
pub(crate) fn write_config(dir: &Path) -> PathBuf {
    write_config_and(dir, |_| {})
}

/// `write_config`'s run, further changed by `edit`.
pub(crate) fn write_config_and(dir: &Path, edit: impl FnOnce(&mut TrainConfig)) -> PathBuf {
    tiny_config(dir, |c| {
        (c.schedule.warmup_steps, c.schedule.decay_steps) = (5, Some(400));
        (c.train.max_steps, c.train.grad_accum) = (400, 1);
        (c.train.eval_interval, c.train.checkpoint_interval) = (30, 5);
        c.train.keep_last = 3;
        edit(c);
    })
}

pub(crate) fn train(config: &Path, out: &Path, extra: &[&str]) {
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
    weights_at(out, 400)
}

/// Every tensor of the checkpoint of `step` by name.
pub(crate) fn weights_at(out: &Path, step: usize) -> Vec<(String, Vec<u8>)> {
    let path = out.join(format!("checkpoints/step-{step:08}/model.safetensors"));
    let bytes = std::fs::read(path).unwrap();
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

/// The training loss of every step in `<out>/metrics.jsonl`.
pub(crate) fn logged_losses(out: &Path) -> Vec<f64> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["loss"]
                .as_f64()
                .unwrap()
        })
        .collect()
}

/// The dtypes of a checkpoint's tensors, and how many of its f32 values a bf16 cannot hold.
fn dtypes_and_values_beyond_bf16(out: &Path, step: usize) -> (Vec<safetensors::Dtype>, f64) {
    let path = out.join(format!("checkpoints/step-{step:08}/model.safetensors"));
    let bytes = std::fs::read(path).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (mut dtypes, mut beyond, mut total) = (Vec::new(), 0usize, 0usize);
    for (_, view) in tensors.tensors() {
        dtypes.push(view.dtype());
        for b in view.data().chunks_exact(4) {
            let bits = u32::from_le_bytes(b.try_into().unwrap());
            beyond += usize::from(bits & 0xFFFF != 0);
            total += 1;
        }
    }
    dtypes.dedup();
    (dtypes, beyond as f64 / total as f64)
}

#[test]
fn mixed_precision_follows_f32_training_on_f32_master_weights() {
    let run = |precision: Precision| {
        let dir = tempfile::tempdir().unwrap();
        let config = tiny_config(dir.path(), |c| {
            (c.schedule.warmup_steps, c.schedule.decay_steps) = (5, Some(400));
            (c.train.grad_accum, c.train.checkpoint_interval) = (1, 40);
            c.train.precision = precision;
        });
        let out = dir.path().join("run");
        train(&config, &out, &["--max-steps", "40"]);
        (dir, out)
    };
    let (_f32_dir, f32_out) = run(Precision::F32);
    let reference = logged_losses(&f32_out);
    for (precision, tolerance, dtype) in [
        (Precision::Bf16Mixed, 0.01, safetensors::Dtype::F32),
        (Precision::F16Mixed, 0.05, safetensors::Dtype::F32),
        (Precision::Bf16True, 0.05, safetensors::Dtype::BF16),
    ] {
        let (_dir, out) = run(precision);
        let losses = logged_losses(&out);
        assert_eq!(losses.len(), 40);
        // Training happened: the loss fell from ln(65) as f32's did.
        assert!(losses[39] < losses[0] - 0.3, "{precision:?}: {losses:?}");
        // f16 skips its first steps while the loss scale comes down from 2^16; compare the end.
        let (ours, theirs) = (
            losses[35..].iter().sum::<f64>(),
            reference[35..].iter().sum::<f64>(),
        );
        assert!(
            (ours - theirs).abs() / 5.0 < tolerance,
            "{precision:?}: mean loss of the last 5 steps {} vs {} in f32",
            ours / 5.0,
            theirs / 5.0
        );
        let (dtypes, beyond_bf16) = dtypes_and_values_beyond_bf16(&out, 40);
        assert_eq!(dtypes, [dtype], "{precision:?}");
        if dtype == safetensors::Dtype::F32 {
            // The optimizer's weights are f32, and hold updates a bf16 weight would round away.
            assert!(beyond_bf16 > 0.9, "{precision:?}: {beyond_bf16}");
        }
    }
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

/// Serves `body` over HTTP on loopback to one client; returns the address of the file.
fn serve_once(body: Vec<u8>) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/input.txt", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body).unwrap();
    });
    url
}

#[test]
fn without_the_shared_data_the_default_corpus_is_downloaded_into_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    // The config names no text: the default corpus, tinyshakespeare.
    let config = tiny_config(dir.path(), |_| {});
    let corpus = claude_files::shared_data_dir().join("text/tinyshakespeare.txt");
    let url = serve_once(std::fs::read(corpus).unwrap());
    let (empty, cache) = (dir.path().join("no-shared-data"), dir.path().join("cache"));
    let train_offline = |url: &str| {
        bin()
            .args(["train", "--no-tui", "--max-steps", "2", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(dir.path().join("run"))
            .env("CLAUDE_RUST_DATA", &empty)
            .env("CLAUDE_RUST_CACHE", &cache)
            .env("CLAUDE_RUST_TINYSHAKESPEARE_URL", url)
            .output()
            .unwrap()
    };
    let output = train_offline(&url);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        std::fs::metadata(cache.join("data/tinyshakespeare.txt"))
            .unwrap()
            .len(),
        1_115_394
    );

    // Offline with an empty cache: the error says where the file comes from and where it goes.
    std::fs::remove_dir_all(&cache).unwrap();
    let nowhere = format!("http://127.0.0.1:{}/input.txt", free_port());
    let output = train_offline(&nowhere);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&nowhere), "{stderr}");
    assert!(
        stderr.contains(&cache.join("data/tinyshakespeare.txt").display().to_string()),
        "{stderr}"
    );
}
