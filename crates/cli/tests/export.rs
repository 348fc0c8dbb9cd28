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

/// Qwen2's split regex, as `tokenizers` writes it.
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A ChatML template, as Qwen2's folders carry it.
const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + \
                      message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if \
                      add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/// A byte-level BPE `tokenizer.json` in Qwen2's form (NFC, Qwen2's split, ByteLevel) for the
/// tiny Qwen2 model: ChatML's three special tokens, the printable ASCII bytes, space and
/// newline, and five merges: 104 tokens, fewer than the model's 128 (as Qwen2.5's 151,665 are
/// fewer than its 151,936), so the GGUF vocabulary is padded.
fn tiny_qwen2_tokenizer() -> (String, String) {
    let mut tokens: Vec<String> = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        .map(String::from)
        .to_vec();
    tokens.extend((b'!'..=b'~').map(|b| char::from(b).to_string()));
    tokens.extend(["Ġ", "Ċ"].map(String::from));
    let merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a")];
    tokens.extend(merges.iter().map(|(l, r)| format!("{l}{r}")));
    let vocab: serde_json::Map<String, serde_json::Value> = (tokens.iter().enumerate())
        .map(|(id, t)| (t.clone(), id.into()))
        .collect();
    let special =
        |id: u32, content: &str| serde_json::json!({"id": id, "content": content, "special": true});
    let json = serde_json::json!({
        "added_tokens": [special(0, "<|endoftext|>"), special(1, "<|im_start|>"),
                         special(2, "<|im_end|>")],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_REGEX}, "behavior": "Isolated",
             "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false,
             "use_regex": false}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false,
                           "use_regex": false},
        "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false,
                    "use_regex": false},
        "model": {"type": "BPE", "vocab": vocab, "merges": merges.map(|(l, r)| [l, r]),
                  "ignore_merges": false}
    });
    let config = serde_json::json!({
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "clean_up_tokenization_spaces": false,
        "chat_template": CHATML,
    });
    (json.to_string(), config.to_string())
}

/// What the `gguf` package reads of a GGUF file's tokenizer: model, pre-tokenizer, token count,
/// the first and last tokens, the special ids, the chat template's length, and the tensors.
fn tokenizer_with_the_gguf_package(path: &Path) -> String {
    let script = r#"
import sys
import gguf
reader = gguf.GGUFReader(sys.argv[1])
f = lambda key: reader.fields[key].contents()
tokens = f("tokenizer.ggml.tokens")
print(f("tokenizer.ggml.model"), f("tokenizer.ggml.pre"), len(tokens), tokens[3], tokens[-1])
print(len(f("tokenizer.ggml.token_type")), len(f("tokenizer.ggml.merges")))
print(f("tokenizer.ggml.bos_token_id"), f("tokenizer.ggml.eos_token_id"),
      f("tokenizer.ggml.padding_token_id"), f("tokenizer.ggml.add_bos_token"))
print(len(f("tokenizer.chat_template")), len(reader.tensors))
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

/// The prompt of a chat turn from the chat template of the model at `path` and its ids by the
/// model's own tokenizer (special tokens parsed).
fn chat_prompt(path: &Path) -> (String, Vec<u32>) {
    use claude_tokenizer::Tokenizer;
    use claude_tokenizer::gguf::EncodeOptions;

    let opened = claude_inference::open(path, None, &burn::prelude::Device::flex()).unwrap();
    assert!(opened.info.own_chat_template, "{}", path.display());
    let messages = [("user".to_string(), "Hi there, the cat!".to_string())];
    let prompt = opened.chat_template.render(&messages).unwrap();
    let Tokenizer::Gguf(tokenizer) = &opened.tokenizer else {
        panic!("{}: not a GGUF tokenizer", path.display());
    };
    let parse = EncodeOptions {
        add_special: true,
        parse_special: true,
    };
    let ids = tokenizer.encode(&prompt, parse);
    (prompt, ids)
}

/// The logits (all positions, flattened) of `ids` from the model at `path`.
fn logits(path: &Path, ids: &[i32]) -> Vec<f32> {
    use burn::prelude::*;

    let device = Device::flex();
    let model = claude_core::Gpt::load(path, &device).unwrap();
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), &device);
    model
        .forward(input)
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap()
}

/// The largest difference between two sets of logits, relative to the largest of `reference`.
fn relative_difference(ours: &[f32], reference: &[f32]) -> f32 {
    assert_eq!(ours.len(), reference.len());
    let scale = reference.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let worst = (ours.iter().zip(reference))
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    worst / scale
}

#[test]
fn a_hugging_face_folder_becomes_gguf_with_its_tokenizer_and_chat_template() {
    let dir = tempfile::tempdir().unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    // core's tiny random Qwen2 (128 tokens), with a tokenizer of Qwen2's form.
    let folder = dir.path().join("tiny-qwen2");
    std::fs::create_dir(&folder).unwrap();
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/data/hf/qwen2");
    for name in ["config.json", "model.safetensors", "generation_config.json"] {
        std::fs::copy(tiny.join(name), folder.join(name)).unwrap();
    }
    let (tokenizer, config) = tiny_qwen2_tokenizer();
    std::fs::write(folder.join("tokenizer.json"), tokenizer).unwrap();
    std::fs::write(folder.join("tokenizer_config.json"), config).unwrap();

    let q8 = dir.path().join("q8_0.gguf");
    let stdout = ok(&[
        "quantize",
        "--model",
        &s(&folder),
        "--format",
        "q8_0",
        "--out",
        &s(&q8),
    ]);
    assert!(stdout.contains("architecture qwen2"), "{stdout}");
    assert!(
        stdout.contains("tokenizer: 104 tokens") && stdout.contains("with its chat template"),
        "{stdout}"
    );
    let f32 = dir.path().join("f32.gguf");
    let stdout = ok(&["export", "--model", &s(&folder), "--out", &s(&f32)]);
    assert!(stdout.contains("with its chat template"), "{stdout}");

    // The file holds the tokenizer, padded to the model's 128 rows, and the template.
    let file = GgufFile::open(&q8).unwrap();
    let m = file.metadata();
    assert_eq!(m.get_str("tokenizer.ggml.model").unwrap(), "gpt2");
    assert_eq!(m.get_str("tokenizer.ggml.pre").unwrap(), "qwen2");
    let tokens = m.get_str_array("tokenizer.ggml.tokens").unwrap();
    assert_eq!(tokens.len(), 128);
    assert_eq!(tokens[127], "[PAD127]");
    assert_eq!(m.get_str_array("tokenizer.ggml.merges").unwrap().len(), 5);
    assert_eq!(m.get_str("tokenizer.chat_template").unwrap(), CHATML);
    // BOS from config.json (the tokenizer names none), EOS from tokenizer_config.json.
    assert_eq!(m.get_uint("tokenizer.ggml.bos_token_id").unwrap(), 1);
    assert_eq!(m.get_uint("tokenizer.ggml.eos_token_id").unwrap(), 2);
    assert_eq!(m.get_uint("tokenizer.ggml.padding_token_id").unwrap(), 0);
    drop(file);

    // Loaded back: the same prompt and ids as from the folder.
    let (folder_prompt, folder_ids) = chat_prompt(&folder);
    // "<|im_start|>", then "user"; "Ġthe" and "<|im_end|>" inside.
    assert_eq!(folder_ids[0], 1);
    assert!(folder_ids.contains(&101) && folder_ids.contains(&2));
    for path in [&f32, &q8] {
        assert_eq!(
            chat_prompt(path),
            (folder_prompt.clone(), folder_ids.clone())
        );
    }
    // The float file gives the folder's logits; the q8_0 file gives those of the same model
    // quantized to our own file, and so comes within q8_0's rounding of the folder's.
    let ours_q8 = dir.path().join("q8_0-ours");
    ok(&[
        "quantize",
        "--model",
        &s(&folder),
        "--format",
        "q8_0",
        "--out",
        &s(&ours_q8),
    ]);
    let ids: Vec<i32> = vec![1, 30, 100, 101, 75, 2, 0, 64, 99, 103, 50, 20];
    let reference = logits(&folder, &ids);
    assert!(relative_difference(&logits(&f32, &ids), &reference) < 1e-5);
    let quantized = logits(&q8, &ids);
    assert!(relative_difference(&quantized, &logits(&ours_q8, &ids)) < 1e-5);
    let difference = relative_difference(&quantized, &reference);
    assert!(difference < 0.05, "q8_0: {difference}");

    if python_module_available("gguf", "CLAUDE_RUST_REQUIRE_GGUF") {
        let read = tokenizer_with_the_gguf_package(&q8);
        let lines: Vec<&str> = read.lines().collect();
        assert_eq!(lines[0], "gpt2 qwen2 128 ! [PAD127]", "{read}");
        assert_eq!(lines[1], "128 5", "{read}");
        assert_eq!(lines[2], "1 2 0 False", "{read}");
        assert!(
            lines[3].starts_with(&format!("{} ", CHATML.len())),
            "{read}"
        );
        assert_eq!(read_with_the_gguf_package(&q8), read_with_ours(&q8));
    }
}
