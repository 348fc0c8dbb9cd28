//! Round trips and pre-tokenization on arbitrary and real multilingual text.

use claude_files::shared_data_dir;
use claude_tokenizer::pretokenize::GPT2_REGEX;
use claude_tokenizer::{AllowedSpecial, BpeTrainer, Pattern, Tokenizer};
use proptest::prelude::*;
use std::sync::OnceLock;

fn udhr() -> String {
    std::fs::read_to_string(shared_data_dir().join("text/udhr-multilingual.txt")).unwrap()
}

fn gpt2() -> &'static Tokenizer {
    static GPT2: OnceLock<Tokenizer> = OnceLock::new();
    GPT2.get_or_init(|| Tokenizer::load(shared_data_dir().join("tokenizer/gpt2")).unwrap())
}

/// A small tokenizer trained on the multilingual corpus, with the GPT-4 pattern.
fn trained_gpt4() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        let text = udhr();
        let bpe = BpeTrainer::new(1000)
            .with_pattern(Pattern::Gpt4)
            .with_special_tokens(["<|endoftext|>"])
            .train_from_texts(&[&text[..text.len() / 4]])
            .unwrap();
        Tokenizer::Bpe(bpe)
    })
}

#[test]
fn udhr_round_trips_through_gpt2_and_a_trained_tokenizer() {
    let text = udhr();
    for tokenizer in [gpt2(), trained_gpt4()] {
        let ids = tokenizer.encode(&text).unwrap();
        assert_eq!(tokenizer.decode(&ids).unwrap(), text);
    }
}

#[test]
fn hand_written_gpt2_split_equals_the_regex_on_udhr() {
    let text = udhr();
    let re = fancy_regex::Regex::new(GPT2_REGEX).unwrap();
    let expected: Vec<&str> = re.find_iter(&text).map(|m| m.unwrap().as_str()).collect();
    let mut ours = Vec::new();
    Pattern::Gpt2.split(&text, |piece| ours.push(piece));
    assert_eq!(ours.len(), expected.len());
    assert!(ours == expected);
}

#[test]
fn special_tokens_are_single_ids_only_when_allowed() {
    let tok = gpt2();
    let text = "a<|endoftext|>b";
    assert_eq!(
        tok.encode_with_special(text, AllowedSpecial::All).unwrap(),
        [64, 50256, 65]
    );
    let ordinary = tok.encode(text).unwrap();
    assert!(!ordinary.contains(&50256));
    assert_eq!(tok.decode(&ordinary).unwrap(), text);
    let only_other = tok
        .encode_with_special(text, AllowedSpecial::Only(&["<|other|>"]))
        .unwrap();
    assert_eq!(only_other, ordinary);
}

#[test]
fn decoding_an_out_of_range_id_is_an_error() {
    let err = gpt2().decode(&[1, 50257]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "token id 50257 at position 1 is out of range (vocab size 50257)"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_string_round_trips(text in any::<String>()) {
        for tokenizer in [gpt2(), trained_gpt4()] {
            let ids = tokenizer.encode(&text).unwrap();
            prop_assert_eq!(tokenizer.decode(&ids).unwrap(), text.clone());
        }
    }

    #[test]
    fn encoding_splits_at_safe_cuts(text in "[a-z .!\n\u{e9}\u{4e2d}]{0,80}") {
        // Encoding pieces cut where the stream reader cuts must equal encoding the whole.
        use claude_tokenizer::text_stream::split_for_parallel;
        for tokenizer in [gpt2(), trained_gpt4()] {
            let whole = tokenizer.encode(&text).unwrap();
            let pieces = split_for_parallel(&text, 4, tokenizer.cut_rule());
            let mut joined = Vec::new();
            for piece in pieces {
                joined.extend(tokenizer.encode(piece).unwrap());
            }
            prop_assert_eq!(joined, whole);
        }
    }
}
