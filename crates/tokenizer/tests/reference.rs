//! The tokenizer against references we did not write (files in `../shared/data/tokenizer`):
//! the cs336 BPE trainer fixture and llama.cpp's GPT-2 test vectors.

use crate::support::llamacpp_cases;
use std::path::PathBuf;

use claude_files::shared_data_dir;
use claude_tokenizer::{BpeTrainer, Tokenizer, bytes::encode_token};

fn tokenizer_data() -> PathBuf {
    shared_data_dir().join("tokenizer")
}

#[test]
fn training_reproduces_the_reference_merges_and_vocab() {
    let dir = tokenizer_data().join("bpe-train-reference");
    let bpe = BpeTrainer::new(500)
        .with_special_tokens(["<|endoftext|>"])
        .train_files(&[dir.join("corpus.en")])
        .unwrap();

    let expected_merges =
        std::fs::read_to_string(dir.join("train-bpe-reference-merges.txt")).unwrap();
    let tokens = bpe.tokens();
    let ours: Vec<String> = bpe
        .merges()
        .iter()
        .map(|&(l, r)| {
            format!(
                "{} {}",
                encode_token(&tokens[l as usize]),
                encode_token(&tokens[r as usize])
            )
        })
        .collect();
    let expected: Vec<&str> = expected_merges.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(ours.len(), expected.len());
    for (i, (a, b)) in ours.iter().zip(&expected).enumerate() {
        assert_eq!(a, b, "merge {i} differs");
    }

    let vocab: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(dir.join("train-bpe-reference-vocab.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(vocab.len(), bpe.vocab_size());
    for (token, id) in &vocab {
        let id = id.as_u64().unwrap() as usize;
        let ours = if token == "<|endoftext|>" {
            String::from_utf8(tokens[id].clone()).unwrap()
        } else {
            encode_token(&tokens[id])
        };
        assert_eq!(&ours, token, "id {id}");
    }
}

/// llama.cpp's GPT-2 suite.
fn gpt2_cases() -> Vec<(String, Vec<u32>)> {
    llamacpp_cases(&tokenizer_data().join("llamacpp-gpt2/ggml-vocab-gpt-2.gguf"))
}

#[test]
fn gpt2_ids_equal_llamacpp_expected_ids() {
    let gpt2 = Tokenizer::load(tokenizer_data().join("gpt2")).unwrap();
    assert_eq!(gpt2.vocab_size(), 50257);
    assert_eq!(gpt2.end_of_text(), Some(50256));
    let cases = gpt2_cases();
    assert!(cases.len() > 30);
    for (text, expected) in cases {
        let ids = gpt2.encode(&text).unwrap();
        assert_eq!(ids, expected, "input {text:?}");
        assert_eq!(gpt2.decode(&ids).unwrap(), text);
    }
}

#[test]
fn saved_gpt2_tokenizer_reloads_identically() {
    let gpt2 = Tokenizer::load(tokenizer_data().join("gpt2")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    gpt2.save(dir.path()).unwrap();
    let again = Tokenizer::load(dir.path()).unwrap();
    assert_eq!(again.fingerprint(), gpt2.fingerprint());
    let text = "Hello <|endoftext|> world 🚀";
    assert_eq!(again.encode(text).unwrap(), gpt2.encode(text).unwrap());
}
