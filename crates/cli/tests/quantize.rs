//! `claude-rust quantize`, then `perplexity` and `generate` on the result: every format packs the
//! projections of a trained checkpoint, costs little perplexity, loads transparently, and never
//! touches its input; bad requests are named errors.

use std::path::Path;

use crate::support::{fails, ok, trained_run};

/// The perplexity `claude-rust perplexity` prints for `model` on `text`.
fn perplexity(model: &Path, text: &Path) -> f64 {
    let stdout = ok(&[
        "perplexity",
        "--model",
        model.to_str().unwrap(),
        "--file",
        text.to_str().unwrap(),
        "--ctx",
        "32",
        "--chunks",
        "40",
    ]);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("Final estimate"))
        .unwrap();
    line.split_whitespace().nth(4).unwrap().parse().unwrap()
}

#[test]
fn every_format_quantizes_a_checkpoint_that_then_loads_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    // 32 wide: the GGML formats pack rows in blocks of 32.
    let run_dir = trained_run(dir.path(), |c| {
        (c.model.d_model, c.model.context_length) = (32, 32);
        (c.train.max_steps, c.schedule.decay_steps) = (60, Some(60));
    });
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let checkpoint = run_dir.join("checkpoints/best");
    let input = std::fs::read(checkpoint.join("model.safetensors")).unwrap();
    let text = dir.path().join("val.txt");
    let shakespeare =
        std::fs::read_to_string(claude_files::shared_data_dir().join("text/tinyshakespeare.txt"))
            .unwrap();
    std::fs::write(&text, &shakespeare[100_000..140_000]).unwrap();
    let float = perplexity(&checkpoint, &text);

    for (format, allowed) in [
        ("int8", 0.01),
        ("q8_0", 0.01),
        ("q4_0", 0.10),
        ("q4_1", 0.10),
    ] {
        let out = run_dir.join(format);
        let report = ok(&[
            "quantize",
            "--checkpoint",
            &s(&checkpoint),
            "--format",
            format,
            "--out",
            &s(&out),
        ]);
        assert!(report.contains("4 packed tensors"), "{report}");
        let quantized = perplexity(&out, &text);
        assert!(
            quantized <= float * (1.0 + allowed) && quantized >= float * (1.0 - allowed),
            "{format}: perplexity {quantized} against {float} in f32"
        );
        // generate finds the run's tokenizer above the new file.
        let text = ok(&["generate", "--model", &s(&out), "--max-new-tokens", "20"]);
        assert!(!text.is_empty());
        // Quantizing it again is refused.
        let err = fails(&[
            "quantize",
            "--checkpoint",
            &s(&out),
            "--format",
            format,
            "--out",
            &s(&dir.path().join("again")),
        ]);
        assert!(err.contains("already quantized"), "{err}");
    }
    assert_eq!(
        std::fs::read(checkpoint.join("model.safetensors")).unwrap(),
        input
    );

    let err = fails(&[
        "quantize",
        "--checkpoint",
        &s(&checkpoint),
        "--format",
        "q9_k",
        "--out",
        &s(&run_dir.join("k")),
    ]);
    assert!(
        err.contains("--format \"q9_k\" is not one of int8, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k"),
        "{err}"
    );
    let err = fails(&[
        "quantize",
        "--checkpoint",
        &s(&checkpoint),
        "--format",
        "q8_0",
        "--out",
        &s(&checkpoint),
    ]);
    assert!(err.contains("is the input"), "{err}");
    assert_eq!(
        std::fs::read(checkpoint.join("model.safetensors")).unwrap(),
        input
    );
}

#[test]
fn rows_that_blocks_cannot_tile_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = trained_run(dir.path(), |c| c.train.max_steps = 2);
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let out = run_dir.join("q4_0");
    let err = fails(&[
        "quantize",
        "--checkpoint",
        &s(&run_dir.join("checkpoints/best")),
        "--format",
        "q4_0",
        "--out",
        &s(&out),
    ]);
    assert!(
        err.contains(
            "h.0.attn.c_attn.weight: rows of 16 values do not split into Q4_0 blocks of 32"
        ),
        "{err}"
    );
    assert!(!out.exists(), "nothing is written");
}
