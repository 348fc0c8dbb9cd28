//! `claude-rust export --format gguf`: a trained checkpoint, float or quantized, becomes a GGUF
//! file that our loader runs to the same text and perplexity and that the `gguf` Python package
//! (llama.cpp's own reader) reads to the same tensors; bad requests are named errors.

use std::path::Path;
use std::process::Command;

use claude_gguf::GgufFile;
use claude_quant::{GgmlType, dequantize};

use crate::support::{fails, ok, python_module_available, trained_run};

/// The perplexity line `claude-rust perplexity` prints for `model` on `text`.
fn perplexity(model: &Path, text: &Path) -> String {
    let stdout = ok(&[
        "perplexity",
        "--model",
        model.to_str().unwrap(),
        "--file",
        text.to_str().unwrap(),
        "--ctx",
        "32",
        "--chunks",
        "10",
    ]);
    stdout
        .lines()
        .find(|l| l.starts_with("Final estimate"))
        .unwrap()
        .to_string()
}

/// What `gguf.GGUFReader` reads: per tensor, its name, ggml shape, type id and the sum of its
/// values (decoded by the package's own `dequantize`).
fn read_with_the_gguf_package(path: &Path) -> String {
    let script = r#"
import sys
import gguf
reader = gguf.GGUFReader(sys.argv[1])
print("architecture", reader.fields["general.architecture"].contents())
for t in reader.tensors:
    values = gguf.dequantize(t.data, t.tensor_type)
    shape = ",".join(str(int(d)) for d in t.shape)
    mantissa, exponent = f"{float(values.astype('float64').sum()):.6e}".split("e")
    print(t.name, shape, int(t.tensor_type), f"{mantissa}e{int(exponent)}")
"#;
    let output = Command::new("python3")
        .args(["-c", script, path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The same listing from our reader.
fn read_with_ours(path: &Path) -> String {
    let file = GgufFile::open(path).unwrap();
    let arch = file.metadata().get_str("general.architecture").unwrap();
    let mut out = format!("architecture {arch}\n");
    for info in file.tensors() {
        let ty = GgmlType::from_id(info.ggml_type).unwrap();
        let mut values = vec![0.0f32; info.n_elements() as usize];
        dequantize(ty, file.data_of(info).unwrap(), &mut values).unwrap();
        let sum: f64 = values.iter().map(|&v| f64::from(v)).sum();
        let shape: Vec<String> = info.dims.iter().map(u64::to_string).collect();
        out += &format!(
            "{} {} {} {sum:.6e}\n",
            info.name,
            shape.join(","),
            info.ggml_type
        );
    }
    out
}

#[test]
fn a_trained_checkpoint_exports_to_gguf_that_runs_the_same() {
    let dir = tempfile::tempdir().unwrap();
    // The quick start's shape (rotary positions, GeLU, LayerNorm): llama.cpp's starcoder2.
    let run_dir = trained_run(dir.path(), |c| {
        (c.model.d_model, c.model.context_length) = (32, 32);
        c.model.positions = claude_core::Positions::Rope;
        c.train.max_steps = 30;
    });
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let checkpoint = run_dir.join("checkpoints/best");
    let input = std::fs::read(checkpoint.join("model.safetensors")).unwrap();
    let text = dir.path().join("val.txt");
    let shakespeare =
        std::fs::read_to_string(claude_files::shared_data_dir().join("text/tinyshakespeare.txt"))
            .unwrap();
    std::fs::write(&text, &shakespeare[shakespeare.len() - 4000..]).unwrap();
    let q8 = run_dir.join("q8_0");
    ok(&[
        "quantize",
        "--checkpoint",
        &s(&checkpoint),
        "--format",
        "q8_0",
        "--out",
        &s(&q8),
    ]);

    for (model, name) in [(checkpoint.clone(), "f32.gguf"), (q8, "q8_0.gguf")] {
        let out = run_dir.join(name);
        let stdout = ok(&["export", "--checkpoint", &s(&model), "--out", &s(&out)]);
        assert!(stdout.contains("architecture starcoder2"), "{stdout}");
        // A character tokenizer has no GGUF form: said, and found in the run directory instead.
        assert!(stdout.contains("no tokenizer written"), "{stdout}");
        assert_eq!(perplexity(&model, &text), perplexity(&out, &text), "{name}");
        let generate = |model: &Path| {
            ok(&[
                "generate",
                "--model",
                &s(model),
                "--prompt",
                "ROMEO:",
                "--max-new-tokens",
                "24",
                "--seed",
                "7",
            ])
        };
        assert_eq!(generate(&model), generate(&out), "{name}");
        if python_module_available("gguf", "CLAUDE_RUST_REQUIRE_GGUF") {
            assert_eq!(
                read_with_the_gguf_package(&out),
                read_with_ours(&out),
                "{name}"
            );
        }
    }
    assert_eq!(
        std::fs::read(checkpoint.join("model.safetensors")).unwrap(),
        input
    );

    let err = fails(&[
        "export",
        "--checkpoint",
        &s(&checkpoint),
        "--format",
        "onnx",
        "--out",
        &s(&run_dir.join("x")),
    ]);
    assert!(
        err.contains("--format \"onnx\" is not one of: gguf"),
        "{err}"
    );
    let err = fails(&[
        "export",
        "--checkpoint",
        &s(&checkpoint),
        "--out",
        &s(&checkpoint.join("model.safetensors")),
    ]);
    assert!(err.contains("is the input"), "{err}");
    let int8 = run_dir.join("int8");
    ok(&[
        "quantize",
        "--checkpoint",
        &s(&checkpoint),
        "--format",
        "int8",
        "--out",
        &s(&int8),
    ]);
    let bad = run_dir.join("int8.gguf");
    let err = fails(&["export", "--checkpoint", &s(&int8), "--out", &s(&bad)]);
    assert!(err.contains("int8 rows have no GGML type"), "{err}");
    assert!(!bad.exists());
    assert_eq!(
        std::fs::read(checkpoint.join("model.safetensors")).unwrap(),
        input
    );
}

#[test]
fn a_bpe_tokenizer_goes_inside_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let tokenizer = dir.path().join("tok");
    let corpus = claude_files::shared_data_dir().join("text/tinyshakespeare.txt");
    ok(&[
        "tokenizer",
        "train",
        "--input",
        &s(&corpus),
        "--vocab-size",
        "300",
        "--special",
        "<|endoftext|>",
        "--out",
        &s(&tokenizer),
    ]);
    let run_dir = trained_run(dir.path(), |c| {
        c.data.tokenizer = Some(s(&tokenizer));
        c.train.max_steps = 4;
    });
    let checkpoint = run_dir.join("checkpoints/best");
    // Outside the run directory: the file alone must be enough.
    let out = dir.path().join("elsewhere/model.gguf");
    let stdout = ok(&["export", "--checkpoint", &s(&checkpoint), "--out", &s(&out)]);
    assert!(stdout.contains("architecture gpt2"), "{stdout}");
    assert!(stdout.contains("tokenizer: 300 tokens"), "{stdout}");
    let generate = |model: &Path| {
        ok(&[
            "generate",
            "--model",
            &s(model),
            "--prompt",
            "KING",
            "--max-new-tokens",
            "16",
            "--seed",
            "3",
        ])
    };
    assert_eq!(generate(&checkpoint), generate(&out));
}
