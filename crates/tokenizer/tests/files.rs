//! Tokenizer files: saving, loading, and clear errors for broken files.

use std::path::Path;

use claude_tokenizer::{BpeTrainer, CharTokenizer, Error, Pattern, Tokenizer};

fn trained(dir: &Path) -> Tokenizer {
    let text = "low lower lowest newer newest wider widest 123 1234 ümlaut";
    let bpe = BpeTrainer::new(280)
        .with_special_tokens(["<|endoftext|>", "<pad>"])
        .with_pattern(Pattern::Gpt4)
        .train_from_texts(&[text])
        .unwrap();
    let tokenizer = Tokenizer::Bpe(bpe);
    tokenizer.save(dir).unwrap();
    tokenizer
}

#[test]
fn saved_bpe_reloads_with_pattern_and_specials() {
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = trained(dir.path());
    let merges = std::fs::read_to_string(dir.path().join("merges.txt")).unwrap();
    assert!(merges.starts_with("#version: 0.2\n"));
    let again = Tokenizer::load(dir.path()).unwrap();
    assert_eq!(again.fingerprint(), tokenizer.fingerprint());
    let Tokenizer::Bpe(bpe) = &again else {
        panic!("expected BPE")
    };
    assert_eq!(bpe.pattern(), Pattern::Gpt4);
    assert_eq!(bpe.special_id("<pad>"), Some(1));
}

#[test]
fn saved_char_tokenizer_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = Tokenizer::Char(CharTokenizer::from_texts(&["hello, \"world\"\n"]));
    tokenizer.save(dir.path()).unwrap();
    let again = Tokenizer::load(dir.path()).unwrap();
    assert_eq!(again.fingerprint(), tokenizer.fingerprint());
    assert_eq!(
        again.encode("low").unwrap(),
        tokenizer.encode("low").unwrap()
    );
}

#[test]
fn a_malformed_merges_line_is_reported_with_its_number() {
    let dir = tempfile::tempdir().unwrap();
    trained(dir.path());
    let path = dir.path().join("merges.txt");
    let mut lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines[3] = "onlyonetoken".into();
    std::fs::write(&path, lines.join("\n")).unwrap();
    let err = Tokenizer::load(dir.path()).unwrap_err();
    assert!(matches!(err, Error::BadFile { line: 4, .. }), "{err}");
    assert!(
        err.to_string()
            .contains("merges.txt:4: expected two tokens"),
        "{err}"
    );

    lines[3] = "zz\u{0100}q x".into();
    std::fs::write(&path, lines.join("\n")).unwrap();
    let err = Tokenizer::load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("merges.txt:4: token"), "{err}");
}

#[test]
fn broken_vocab_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    trained(dir.path());
    let vocab = dir.path().join("vocab.json");
    std::fs::write(&vocab, "{\"a\": 0, \"b\": 5}").unwrap();
    let err = Tokenizer::load(dir.path()).unwrap_err();
    assert!(
        err.to_string()
            .contains("id 5 of \"b\" is not below the vocab size"),
        "{err}"
    );
    std::fs::write(&vocab, "{\"a\": 0,").unwrap();
    assert!(matches!(
        Tokenizer::load(dir.path()),
        Err(Error::Json { .. })
    ));

    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        Tokenizer::load(empty.path()),
        Err(Error::NoTokenizer(_))
    ));
    std::fs::write(
        empty.path().join("claude-tokenizer.json"),
        "{\"kind\": \"bpe\", \"colour\": 1}",
    )
    .unwrap();
    let err = Tokenizer::load(empty.path()).unwrap_err();
    assert!(err.to_string().contains("unknown field `colour`"), "{err}");
}
