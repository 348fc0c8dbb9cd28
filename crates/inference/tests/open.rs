//! The one loader: a model file read once into its model, its tokenizer, its chat template and
//! its metadata ([`open`]), and the one default chat-template rule every command follows.

use burn::prelude::*;
use claude_core::ModelFormat;
use claude_inference::{ChatTemplate, open, open_limited};
use claude_tokenizer::{CharTokenizer, Tokenizer};

fn smollm2() -> std::path::PathBuf {
    claude_files::shared_data_dir()
        .join("models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf")
}

#[test]
fn a_gguf_file_opens_into_its_model_tokenizer_chat_template_and_metadata() {
    let path = smollm2();
    let opened = open(&path, None, &Device::flex()).unwrap();
    assert_eq!(opened.info.path, path);
    assert_eq!(opened.info.format, ModelFormat::Gguf);
    assert_eq!(opened.info.architecture.as_deref(), Some("llama"));
    assert!(opened.info.name.is_some(), "{:?}", opened.info);
    assert_eq!(
        opened.info.tokenizer_path, path,
        "the tokenizer inside the file"
    );
    assert!(matches!(opened.tokenizer, Tokenizer::Gguf(_)));
    assert_eq!(
        opened.model.config().vocab_size,
        opened.tokenizer.vocab_size()
    );
    assert!(opened.info.own_chat_template);
    assert!(matches!(opened.chat_template, ChatTemplate::Jinja(_)));
    let prompt = opened
        .chat_template
        .render(&[("user".into(), "Hi".into())])
        .unwrap();
    assert!(
        prompt.contains("<|im_start|>user\nHi<|im_end|>"),
        "{prompt:?}"
    );
}

#[test]
fn a_model_opened_within_a_context_cap_builds_its_rotary_table_at_the_cap() {
    let capped = open_limited(&smollm2(), None, &Device::flex(), Some(256)).unwrap();
    assert_eq!(capped.model.context_length(), 256);
    let rope = capped.model.wpe.rope().unwrap();
    assert_eq!(rope.freq_complex.dims()[0], 256);
}

#[test]
fn without_a_template_of_its_own_a_model_gets_chatml_only_where_its_tokenizer_has_the_markers() {
    // SmolLM2 was trained on ChatML: its vocabulary has both markers as special tokens.
    let smollm2 = Tokenizer::from_gguf(smollm2()).unwrap();
    assert!(matches!(
        ChatTemplate::default_for(&smollm2),
        ChatTemplate::ChatMl
    ));
    // GPT-2's BPE spells the markers as ordinary text: plain text it is.
    let gpt2 = Tokenizer::load(claude_files::shared_data_dir().join("tokenizer/gpt2")).unwrap();
    assert!(matches!(
        ChatTemplate::default_for(&gpt2),
        ChatTemplate::Plain
    ));
    // A character vocabulary, even one holding every character of the markers.
    let chars = Tokenizer::Char(CharTokenizer::new("<|>_imstartend\n".chars()));
    assert!(matches!(
        ChatTemplate::default_for(&chars),
        ChatTemplate::Plain
    ));
}

#[test]
fn a_file_that_holds_no_model_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "not a model").unwrap();
    let err = open(&path, None, &Device::flex()).unwrap_err().to_string();
    assert!(err.contains("notes.txt"), "{err}");
    assert!(err.contains("not a model file"), "{err}");
}
