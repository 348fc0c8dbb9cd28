//! Fine-tuning end to end, CI-sized, on the real SmolLM2-135M: `finetune` with LoRA teaches it
//! facts it cannot know (`crates/finetune/tests/data/facts`). The validation loss on the
//! assistant's tokens falls; greedy answers to phrasings training never saw contain the facts
//! after training and not before, with the adapter applied at load (`--lora`) and from the
//! merged model `export --quant q4_k_m` writes, whose answers are llama.cpp's (committed). The
//! merged model computes what base + adapter computes (equal perplexity). QLoRA resumes exactly.

use std::path::{Path, PathBuf};

use claude_finetune::{FinetuneConfig, Method};
use serde_json::Value;

use crate::serve::{http, serve};
use crate::support::{bin, fails, ok, succeeded};

pub fn smollm2() -> PathBuf {
    claude_files::shared_data_dir()
        .join("models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf")
}

pub fn facts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../finetune/tests/data/facts")
}

fn s(path: &Path) -> String {
    path.to_str().unwrap().to_string()
}

/// `configs/finetune-lora.toml` changed by `edit`, written into `dir`.
pub fn config(dir: &Path, edit: impl FnOnce(&mut FinetuneConfig)) -> PathBuf {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/finetune-lora.toml");
    let mut config = FinetuneConfig::load(&base).unwrap();
    edit(&mut config);
    let path = dir.join("finetune.toml");
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    path
}

/// The arguments of `claude-rust finetune` on SmolLM2 with `data`, `config` and `out`, then
/// `extra`.
pub fn finetune_args(data: &Path, config: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["finetune", "--no-tui"].map(String::from).to_vec();
    let paths = [
        ("--model", &smollm2()),
        ("--data", &data.to_path_buf()),
        ("--config", &config.to_path_buf()),
        ("--out", &out.to_path_buf()),
    ];
    for (flag, path) in paths {
        args.extend([flag.to_string(), s(path)]);
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

/// `claude-rust ARGS`, which must succeed: its standard output.
fn ok_owned(args: &[String]) -> String {
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The held-out questions and the word each answer must contain.
fn held_out() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(facts().join("heldout.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    (json["questions"].as_array().unwrap().iter())
        .map(|q| {
            let field = |key: &str| q[key].as_str().unwrap().to_string();
            (field("question"), field("answer_contains"))
        })
        .collect()
}

/// The model's greedy reply to `question` as a one-message chat.
fn answer(model: &Path, lora: Option<&Path>, question: &str) -> String {
    let mut command = bin();
    command.args(["generate", "--model", &s(model), "--chat", question]);
    command.args(["--temperature", "0", "--max-new-tokens", "20"]);
    if let Some(lora) = lora {
        command.args(["--lora", &s(lora)]);
    }
    succeeded(command.output().unwrap()).trim().to_string()
}

/// Validation losses logged in `metrics.jsonl`, in step order.
fn val_losses(run: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    (text.lines())
        .filter_map(|line| serde_json::from_str::<Value>(line).unwrap()["val_loss"].as_f64())
        .collect()
}

/// The perplexity `claude-rust perplexity` prints for `model` (with `lora`) on `file`.
fn perplexity(model: &Path, lora: Option<&Path>, file: &Path) -> f64 {
    let mut args = vec!["perplexity".to_string(), "--model".into(), s(model)];
    if let Some(lora) = lora {
        args.extend(["--lora".into(), s(lora)]);
    }
    // Exact products: the packed weights meet f32 activations, as the merged f32 ones do.
    args.extend([
        "--exact".into(),
        "--file".into(),
        s(file),
        "--ctx".into(),
        "64".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ok(&args);
    let value = (out.split("PPL = ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok());
    value.unwrap_or_else(|| panic!("no perplexity in {out}"))
}

#[test]
fn lora_teaches_smollm2_facts_it_did_not_know() {
    let dir = tempfile::tempdir().unwrap();
    let questions = held_out();
    for (question, fact) in &questions {
        let before = answer(&smollm2(), None, question);
        assert!(
            !before.contains(fact.as_str()),
            "knew {fact} already: {before}"
        );
    }
    let config = config(dir.path(), |config| {
        config.train.max_steps = 20;
        config.train.eval_interval = 1;
    });
    let run = dir.path().join("run");
    let facts = facts();
    let val = s(&facts.join("val.jsonl"));
    ok_owned(&finetune_args(
        &facts.join("train.jsonl"),
        &config,
        &run,
        &["--val", &val],
    ));
    let losses = val_losses(&run);
    assert_eq!(losses.len(), 20);
    let (first, last) = (losses[0], *losses.last().unwrap());
    assert!(
        last < 0.1 && last < first / 10.0,
        "val loss {first} -> {last}"
    );

    let checkpoint = run.join("checkpoints/best");
    let adapter = checkpoint.join("adapter");
    for file in ["adapter_config.json", "adapter_model.safetensors"] {
        assert!(adapter.join(file).is_file(), "{file}");
    }
    assert!(checkpoint.join("adapter.gguf").is_file());
    for (question, fact) in &questions {
        let after = answer(&smollm2(), Some(&adapter), question);
        assert!(after.contains(fact.as_str()), "{question} -> {after}");
    }
    // Served with the adapter, over the OpenAI API.
    let server = serve(&smollm2(), &["--lora", &s(&adapter)]);
    let (question, fact) = &questions[0];
    let body = serde_json::json!({
        "model": "SmolLM2-135M-Instruct.Q4_1",
        "messages": [{"role": "user", "content": question}],
        "temperature": 0,
        "max_tokens": 20,
    });
    let (status, reply) = http(
        &server.address,
        "POST",
        "/v1/chat/completions",
        &["Content-Type: application/json"],
        &body.to_string(),
    );
    assert_eq!(status, 200, "{reply}");
    assert!(reply.contains(fact.as_str()), "{reply}");
    drop(server);

    // The merged model, quantized as llama.cpp's Q4_K_M, answers as llama.cpp does from it.
    let merged = dir.path().join("merged-q4_k_m.gguf");
    ok(&[
        "export",
        "--checkpoint",
        &s(&checkpoint),
        "--quant",
        "q4_k_m",
        "--out",
        &s(&merged),
    ]);
    let reference = std::fs::read_to_string(facts.join("llama_cpp_answers.json")).unwrap();
    let reference: Value = serde_json::from_str(&reference).unwrap();
    for (question, fact) in &questions {
        let ours = answer(&merged, None, question);
        assert!(ours.contains(fact.as_str()), "{question} -> {ours}");
        let theirs = (reference["answers"].as_array().unwrap().iter())
            .find(|a| a["question"] == question.as_str())
            .and_then(|a| a["llama_cpp"].as_str())
            .unwrap();
        assert_eq!(ours, theirs, "{question}: ours vs llama.cpp's");
    }

    // Unquantized, the merged model computes what the base and the adapter compute.
    let merged = dir.path().join("merged.gguf");
    ok(&[
        "export",
        "--checkpoint",
        &s(&checkpoint),
        "--out",
        &s(&merged),
    ]);
    let text = dir.path().join("answers.txt");
    let answers: String = questions
        .iter()
        .map(|(q, f)| format!("{q} {f}.\n"))
        .collect();
    std::fs::write(&text, answers.repeat(4)).unwrap();
    let adapted = perplexity(&smollm2(), Some(&adapter), &text);
    let folded = perplexity(&merged, None, &text);
    assert!(
        (adapted - folded).abs() < 1e-3 * adapted,
        "{adapted} vs {folded}"
    );
}

#[test]
fn qlora_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), |config| {
        config.method = Method::Qlora;
        config.train.max_steps = 4;
        config.train.batch_size = 2;
        config.train.eval_interval = 2;
        config.train.checkpoint_interval = 2;
        config.train.keep_last = 2;
    });
    let facts = facts();
    let run = |out: &Path, steps: &str, resume: bool| {
        let mut extra = vec!["--max-steps", steps];
        if resume {
            extra.push("--resume");
        }
        ok_owned(&finetune_args(
            &facts.join("train.jsonl"),
            &config,
            out,
            &extra,
        ))
    };
    let (straight, resumed) = (dir.path().join("straight"), dir.path().join("resumed"));
    run(&straight, "4", false);
    run(&resumed, "2", false);
    let note = run(&resumed, "4", true);
    assert!(note.contains("resumed from"), "{note}");
    let weights = |run: &Path| {
        let path = run.join("checkpoints/step-00000004/adapter/adapter_model.safetensors");
        std::fs::read(path).unwrap()
    };
    assert!(
        weights(&straight) == weights(&resumed),
        "the resumed adapters differ"
    );
}

#[test]
fn bad_data_is_named_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("chat.jsonl");
    let good = r#"{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}"#;
    std::fs::write(&data, format!("{good}\n{good}\n{{\"messages\": [oops\n")).unwrap();
    let config = config(dir.path(), |_| {});
    let args = finetune_args(&data, &config, &dir.path().join("run"), &[]);
    let error = fails(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(error.contains("chat.jsonl:3"), "{error}");
}

#[test]
fn full_fine_tuning_writes_a_model_that_exports() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), |config| {
        config.method = Method::Full;
        config.lora = None;
        config.schedule.lr = 1e-4;
        config.train.max_steps = 2;
        config.train.batch_size = 2;
        config.train.eval_interval = 2;
        config.train.checkpoint_interval = 2;
        config.train.keep_last = 1;
    });
    let (run, facts) = (dir.path().join("run"), facts());
    ok_owned(&finetune_args(
        &facts.join("train.jsonl"),
        &config,
        &run,
        &[],
    ));
    let checkpoint = run.join("checkpoints/best");
    assert!(checkpoint.join("model.safetensors").is_file());
    assert!(!checkpoint.join("adapter").exists());
    let exported = dir.path().join("full-q8_0.gguf");
    ok(&[
        "export",
        "--checkpoint",
        &s(&checkpoint),
        "--quant",
        "q8_0",
        "--out",
        &s(&exported),
    ]);
    let (question, _) = &held_out()[0];
    assert!(!answer(&exported, None, question).is_empty());
}
