//! The `claude-rust` binary end to end: tokenizer train/encode/decode and prepare.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn data() -> PathBuf {
    claude_files::shared_data_dir()
}

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_claude-rust"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn ok(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let out = run(args, stdin);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn fails(args: &[&str]) -> String {
    let out = run(args, b"");
    assert!(!out.status.success(), "{args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn train_encode_decode_round_trips_a_file_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let tok = dir.path().join("tok");
    let corpus = data().join("tokenizer/bpe-train-reference/corpus.en");
    let args = [
        "tokenizer",
        "train",
        "--input",
        s(&corpus),
        "--vocab-size",
        "500",
        "--special",
        "<|endoftext|>",
        "--out",
        s(&tok),
    ];
    ok(&args, b"");
    assert!(tok.join("vocab.json").is_file() && tok.join("merges.txt").is_file());

    let ids = ok(
        &[
            "tokenizer",
            "encode",
            "--tokenizer",
            s(&tok),
            "--input",
            s(&corpus),
        ],
        b"",
    );
    let ids = String::from_utf8(ids).unwrap();
    assert_eq!(ids.lines().count(), 1, "one line of ids");
    let ids_file = dir.path().join("ids.txt");
    std::fs::write(&ids_file, &ids).unwrap();
    let text = ok(
        &[
            "tokenizer",
            "decode",
            "--tokenizer",
            s(&tok),
            "--input",
            s(&ids_file),
        ],
        b"",
    );
    assert_eq!(text, std::fs::read(&corpus).unwrap());
}

#[test]
fn gpt2_encode_from_stdin_in_text_json_and_lines() {
    let gpt2 = data().join("tokenizer/gpt2");
    let gpt2 = s(&gpt2);
    assert_eq!(
        ok(
            &["tokenizer", "encode", "--tokenizer", gpt2],
            b"Hello world"
        ),
        b"15496 995\n"
    );
    assert_eq!(
        ok(
            &["tokenizer", "encode", "--tokenizer", gpt2],
            b"Hello world\n"
        ),
        b"15496 995 198\n"
    );
    assert_eq!(
        ok(
            &[
                "tokenizer",
                "encode",
                "--tokenizer",
                gpt2,
                "--format",
                "json",
                "--lines"
            ],
            b"Hello world\n Hello\n"
        ),
        b"[15496,995]\n[18435]\n"
    );
    assert_eq!(
        ok(
            &[
                "tokenizer",
                "encode",
                "--tokenizer",
                gpt2,
                "--allow-special"
            ],
            b"a<|endoftext|>"
        ),
        b"64 50256\n"
    );
    assert_eq!(
        ok(
            &["tokenizer", "decode", "--tokenizer", gpt2, "--lines"],
            b"15496 995\n[18435]\n"
        ),
        b"Hello world\n Hello\n"
    );
}

#[test]
fn prepare_writes_bins_and_sidecars() {
    let dir = tempfile::tempdir().unwrap();
    let tok = dir.path().join("chars");
    let corpus = data().join("text/tinyshakespeare.txt");
    ok(
        &[
            "tokenizer",
            "train",
            "--kind",
            "char",
            "--input",
            s(&corpus),
            "--out",
            s(&tok),
        ],
        b"",
    );
    let out = dir.path().join("data");
    let stdout = ok(
        &[
            "prepare",
            "--tokenizer",
            s(&tok),
            "--input",
            s(&corpus),
            "--out",
            s(&out),
        ],
        b"",
    );
    let stdout = String::from_utf8(stdout).unwrap();
    assert!(
        stdout.contains("(1003854 tokens)") && stdout.contains("(111540 tokens)"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::metadata(out.join("train.bin")).unwrap().len(),
        1_003_854 * 4
    );
    let sidecar: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("val.json")).unwrap()).unwrap();
    assert_eq!(sidecar["token_count"], 111_540);
    assert_eq!(sidecar["vocab_size"], 65);
}

#[test]
fn bad_input_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = data().join("tokenizer/bpe-train-reference/corpus.en");
    let out = dir.path().join("tok");
    let err = fails(&[
        "tokenizer",
        "train",
        "--input",
        s(&corpus),
        "--vocab-size",
        "200",
        "--out",
        s(&out),
    ]);
    assert!(
        err.contains("vocab size 200 is too small: it must be at least 256"),
        "{err}"
    );
    let err = fails(&[
        "tokenizer",
        "train",
        "--input",
        s(&corpus),
        "--out",
        s(&out),
    ]);
    assert!(err.contains("--vocab-size is required"), "{err}");
    let missing = dir.path().join("nope.txt");
    let err = fails(&[
        "tokenizer",
        "train",
        "--input",
        s(&missing),
        "--vocab-size",
        "300",
        "--out",
        s(&out),
    ]);
    assert!(err.contains("nope.txt: No such file"), "{err}");
    assert!(!out.exists(), "a failed training writes nothing");

    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, b"abc\xFFdef").unwrap();
    let err = fails(&[
        "tokenizer",
        "train",
        "--input",
        s(&bad),
        "--vocab-size",
        "300",
        "--out",
        s(&out),
    ]);
    assert!(
        err.contains("bad.txt: invalid UTF-8 at byte offset 3"),
        "{err}"
    );

    let gpt2 = data().join("tokenizer/gpt2");
    let err = fails(&[
        "tokenizer",
        "encode",
        "--tokenizer",
        s(&gpt2),
        "--input",
        s(&bad),
    ]);
    assert!(err.contains("invalid UTF-8 at byte offset 3"), "{err}");
    let ids = dir.path().join("ids.txt");
    std::fs::write(&ids, "1 2\n3 x 4\n").unwrap();
    let err = fails(&[
        "tokenizer",
        "decode",
        "--tokenizer",
        s(&gpt2),
        "--input",
        s(&ids),
    ]);
    assert!(err.contains("ids.txt:2: \"x\" is not a token id"), "{err}");
    std::fs::write(&ids, "1 99999\n").unwrap();
    let err = fails(&[
        "tokenizer",
        "decode",
        "--tokenizer",
        s(&gpt2),
        "--input",
        s(&ids),
    ]);
    assert!(
        err.contains("token id 99999 at position 1 is out of range"),
        "{err}"
    );
    let err = fails(&["tokenizer", "encode", "--tokenizer", s(dir.path())]);
    assert!(err.contains("no tokenizer found"), "{err}");
}

#[cfg(not(feature = "mpi"))]
#[test]
fn mpi_in_a_build_without_it_says_how_to_rebuild() {
    let err = fails(&["train", "--mpi", "--config", "configs/tiny.toml"]);
    assert!(
        err.contains("built without MPI") && err.contains("--features mpi"),
        "{err}"
    );
}

#[test]
fn embed_prints_unit_vectors_and_reports_truncation() {
    let model = data().join("models/all-minilm-l6-v2");
    let long = "retrieval augmented generation ".repeat(100);
    let output = run(
        &[
            "embed",
            "--model",
            s(&model),
            "A man is eating food.",
            "A man is eating a piece of bread.",
            &long,
        ],
        b"",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let vectors: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(vectors.len(), 3);
    let values = |v: &serde_json::Value| -> Vec<f64> {
        v["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let (a, b) = (values(&vectors[0]), values(&vectors[1]));
    assert_eq!(a.len(), 384);
    let cosine: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    // The value published for this model and pair.
    assert!((cosine - 0.7553).abs() < 1e-3, "{cosine}");
    assert_eq!(vectors[2]["truncated"], true);
    assert_eq!(vectors[2]["tokens"], 256);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("text 3:") && stderr.contains("beyond the model's 256 were cut"),
        "{stderr}"
    );

    let err = fails(&[
        "embed",
        "--model",
        s(&data().join("models/stories260K")),
        "hi",
    ]);
    assert!(err.contains("config.json"), "{err}");
}
