//! A Hugging Face folder through the one loader: the model (core's tiny random Llama), the
//! tokenizer from `tokenizer.json`, the stop tokens of `generation_config.json` and the chat
//! template of `tokenizer_config.json` or `chat_template.jinja`.

use std::path::Path;

use burn::prelude::*;
use claude_core::ModelFormat;
use claude_inference::{ChatTemplate, LoadError, open};
use claude_tokenizer::Tokenizer;

/// A SentencePiece-style tokenizer.json of 20 tokens (the tiny model has 128).
fn tokenizer_json() -> String {
    let vocab = [
        "<pad>",
        "<eos>",
        "<bos>",
        "<unk>",
        "<end_of_turn>",
        "<start_of_turn>",
        "▁",
        "h",
        "i",
        "▁h",
        "▁hi",
        "u",
        "s",
        "e",
        "r",
        "us",
        "er",
        "user",
        "\n",
        "<0x41>",
    ];
    let vocab: serde_json::Map<String, serde_json::Value> = (vocab.iter().enumerate())
        .map(|(id, t)| (t.to_string(), id.into()))
        .collect();
    let special =
        |id: u32, content: &str| serde_json::json!({"id": id, "content": content, "special": true});
    serde_json::json!({
        "added_tokens": [special(0, "<pad>"), special(1, "<eos>"), special(2, "<bos>"),
                         special(3, "<unk>"), special(4, "<end_of_turn>"),
                         special(5, "<start_of_turn>")],
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
        "pre_tokenizer": null,
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]}}},
        "decoder": null,
        "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": true, "vocab": vocab,
                  "merges": [["▁", "h"], ["▁h", "i"], ["u", "s"], ["e", "r"], ["us", "er"]]}
    })
    .to_string()
}

const TEMPLATE: &str = "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m.role }}\n\
                        {{ m.content }}<end_of_turn>\n{% endfor %}<start_of_turn>model\n";

/// A folder holding the tiny Llama and the tokenizer files.
fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/data/hf/llama");
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(model.join(file), dir.path().join(file)).unwrap();
    }
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("tokenizer.json", &tokenizer_json());
    let config = serde_json::json!({"bos_token": "<bos>", "eos_token": {"content": "<eos>"},
                                    "chat_template": TEMPLATE});
    write("tokenizer_config.json", &config.to_string());
    write(
        "generation_config.json",
        r#"{"bos_token_id": 2, "eos_token_id": [1, 4]}"#,
    );
    dir
}

#[test]
fn a_folder_opens_with_its_tokenizer_stop_tokens_and_template() {
    let dir = folder();
    let opened = open(dir.path(), None, &Device::flex()).unwrap();
    assert_eq!(opened.info.format, ModelFormat::HfFolder);
    assert_eq!(opened.info.path, dir.path());
    assert_eq!(opened.info.architecture.as_deref(), Some("llama"));
    assert_eq!(
        opened.info.tokenizer_path,
        dir.path().join("tokenizer.json")
    );
    assert!(matches!(opened.tokenizer, Tokenizer::Gguf(_)));
    assert_eq!(opened.tokenizer.encode(" hi user").unwrap(), [2, 10, 6, 17]);
    assert!(
        opened.tokenizer.is_end_of_generation(4),
        "generation_config's <end_of_turn>"
    );
    assert!(opened.tokenizer.is_end_of_generation(1));
    assert!(opened.info.own_chat_template);
    let prompt = opened
        .chat_template
        .render(&[("user".into(), "hi".into())])
        .unwrap();
    assert_eq!(
        prompt,
        "<bos><start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model"
    );
}

#[test]
fn the_template_file_is_read_when_the_config_has_none() {
    let dir = folder();
    std::fs::write(dir.path().join("tokenizer_config.json"), "{}").unwrap();
    std::fs::write(dir.path().join("chat_template.jinja"), TEMPLATE).unwrap();
    let opened = open(dir.path(), None, &Device::flex()).unwrap();
    let prompt = opened
        .chat_template
        .render(&[("user".into(), "x".into())])
        .unwrap();
    assert!(
        prompt.starts_with("<bos><start_of_turn>user\nx"),
        "{prompt:?}"
    );
    std::fs::remove_file(dir.path().join("chat_template.jinja")).unwrap();
    let opened = open(dir.path(), None, &Device::flex()).unwrap();
    assert!(!opened.info.own_chat_template);
    assert!(matches!(opened.chat_template, ChatTemplate::Plain));
}

#[test]
fn bad_folder_files_are_named() {
    let dir = folder();
    std::fs::write(
        dir.path().join("generation_config.json"),
        r#"{"eos_token_id": "x"}"#,
    )
    .unwrap();
    let err = open(dir.path(), None, &Device::flex()).unwrap_err();
    assert!(matches!(err, LoadError::HfFolder { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("generation_config.json: eos_token_id"),
        "{message}"
    );
    std::fs::remove_file(dir.path().join("generation_config.json")).unwrap();
    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        r#"{"chat_template": "{% for %}"}"#,
    )
    .unwrap();
    let message = open(dir.path(), None, &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("tokenizer_config.json: chat_template"),
        "{message}"
    );
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let message = open(dir.path(), None, &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(message.contains("tokenizer.json"), "{message}");
}
