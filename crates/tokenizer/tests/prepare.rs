//! Data preparation and the memory-mapped reader, on real corpora.

use std::path::{Path, PathBuf};

use claude_files::shared_data_dir;
use claude_tokenizer::data::{PrepareOptions, TokenFile, prepare, sidecar_path};
use claude_tokenizer::{CharTokenizer, Error, Tokenizer, Utf8Policy};
use rand::SeedableRng;

fn shakespeare() -> PathBuf {
    shared_data_dir().join("text/tinyshakespeare.txt")
}

fn gpt2() -> Tokenizer {
    Tokenizer::load(shared_data_dir().join("tokenizer/gpt2")).unwrap()
}

#[test]
fn char_level_shakespeare_matches_nanogpt_split() {
    let chars = CharTokenizer::from_files(&[shakespeare()], Utf8Policy::Error).unwrap();
    // nanoGPT's shakespeare_char: 65 characters, 1,003,854 train and 111,540 val tokens.
    assert_eq!(chars.vocab_size(), 65);
    let tokenizer = Tokenizer::Char(chars);
    let out = tempfile::tempdir().unwrap();
    let report = prepare(
        &tokenizer,
        &[shakespeare()],
        out.path(),
        &PrepareOptions::default(),
    )
    .unwrap();
    assert_eq!(
        (report.train_tokens, report.val_tokens),
        (1_003_854, 111_540)
    );

    let train = TokenFile::open(out.path().join("train.bin")).unwrap();
    train.expect_tokenizer(&tokenizer).unwrap();
    let text = std::fs::read_to_string(shakespeare()).unwrap();
    assert_eq!(tokenizer.decode(train.tokens()).unwrap(), text[..1_003_854]);
    let val = TokenFile::open(out.path().join("val.bin")).unwrap();
    assert_eq!(tokenizer.decode(val.tokens()).unwrap(), text[1_003_854..]);
}

#[test]
fn bpe_prepare_equals_encoding_each_split_with_end_of_text_between_files() {
    let tokenizer = gpt2();
    let dir = shared_data_dir().join("tokenizer/bpe-train-reference");
    let inputs = [dir.join("tinystories_sample.txt"), dir.join("german.txt")];
    let out = tempfile::tempdir().unwrap();
    let options = PrepareOptions {
        val_fraction: 0.05,
        ..PrepareOptions::default()
    };
    let report = prepare(&tokenizer, &inputs, out.path(), &options).unwrap();

    let first = std::fs::read_to_string(&inputs[0]).unwrap();
    let second = std::fs::read_to_string(&inputs[1]).unwrap();
    let total = first.len() + second.len();
    let mut cut = ((total as f64) * 0.95).floor() as usize - first.len();
    while !second.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut expected_train = tokenizer.encode(&first).unwrap();
    expected_train.push(50256);
    expected_train.extend(tokenizer.encode(&second[..cut]).unwrap());
    let mut expected_val = tokenizer.encode(&second[cut..]).unwrap();
    expected_val.push(50256);

    let train = TokenFile::open(&report.train_path).unwrap();
    let val = TokenFile::open(&report.val_path).unwrap();
    assert_eq!(train.tokens(), expected_train);
    assert_eq!(val.tokens(), expected_val);
    assert_eq!(train.sidecar().source_files.len(), 2);
}

fn prepared_shakespeare_bpe(out: &Path) -> Tokenizer {
    let tokenizer = gpt2();
    prepare(
        &tokenizer,
        &[shakespeare()],
        out,
        &PrepareOptions::default(),
    )
    .unwrap();
    tokenizer
}

#[test]
fn random_windows_are_contiguous_slices_of_the_file() {
    let out = tempfile::tempdir().unwrap();
    prepared_shakespeare_bpe(out.path());
    let file = TokenFile::open(out.path().join("val.bin")).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let windows = file.random_windows(12, 64, &mut rng).unwrap();
    assert_eq!(windows.len(), 12);
    let base = file.tokens().as_ptr() as usize;
    for w in &windows {
        assert_eq!(w.len(), 65);
        let start = (w.as_ptr() as usize - base) / 4;
        assert_eq!(*w, &file.tokens()[start..start + 65]);
    }
    let err = file.random_windows(1, file.len(), &mut rng).unwrap_err();
    assert!(err.to_string().contains("fewer than one window"), "{err}");
}

#[test]
fn sequential_windows_predict_every_token_after_the_first_once() {
    let out = tempfile::tempdir().unwrap();
    prepared_shakespeare_bpe(out.path());
    let file = TokenFile::open(out.path().join("val.bin")).unwrap();
    let tokens = file.tokens();
    let context = 64;
    let windows: Vec<&[u32]> = file.sequential_windows(context).collect();
    assert_eq!(windows.len(), (tokens.len() - 1) / context);
    // The targets of consecutive windows tile the file from its second id on.
    let targets: Vec<u32> = windows.iter().flat_map(|w| w[1..].to_vec()).collect();
    assert_eq!(targets, tokens[1..=windows.len() * context]);
    assert!(windows.iter().all(|w| w.len() == context + 1));
    assert_eq!(file.sequential_windows(tokens.len()).count(), 0);
    assert_eq!(file.sequential_windows(0).count(), 0);
}

#[test]
fn truncated_or_mismatched_token_files_are_rejected() {
    let out = tempfile::tempdir().unwrap();
    let tokenizer = prepared_shakespeare_bpe(out.path());
    let bin = out.path().join("val.bin");

    let other = Tokenizer::Char(CharTokenizer::from_texts(&["abc"]));
    let err = TokenFile::open(&bin)
        .unwrap()
        .expect_tokenizer(&other)
        .unwrap_err();
    assert!(
        err.to_string().contains("made with another tokenizer"),
        "{err}"
    );
    TokenFile::open(&bin)
        .unwrap()
        .expect_tokenizer(&tokenizer)
        .unwrap();

    let bytes = std::fs::read(&bin).unwrap();
    std::fs::write(&bin, &bytes[..bytes.len() - 2]).unwrap();
    let err = TokenFile::open(&bin).unwrap_err();
    assert!(err.to_string().contains("not a multiple of 4"), "{err}");

    std::fs::write(&bin, &bytes[..bytes.len() - 4]).unwrap();
    let err = TokenFile::open(&bin).unwrap_err();
    assert!(err.to_string().contains("but its sidecar"), "{err}");

    std::fs::write(sidecar_path(&bin), "{\"format\": \"u32le\"").unwrap();
    assert!(matches!(TokenFile::open(&bin), Err(Error::Json { .. })));
}

#[test]
fn failed_prepare_leaves_no_output_files() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("bad.txt");
    std::fs::write(&corpus, b"good text\nthen \xC3\x28 bad\n").unwrap();
    let out = dir.path().join("out");
    let err = prepare(
        &gpt2(),
        std::slice::from_ref(&corpus),
        &out,
        &PrepareOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: invalid UTF-8 at byte offset 15 (choose the replace or skip UTF-8 policy to continue)",
            corpus.display()
        )
    );
    let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");

    let options = PrepareOptions {
        utf8_policy: Utf8Policy::Replace,
        ..PrepareOptions::default()
    };
    prepare(&gpt2(), &[corpus], &out, &options).unwrap();
}

#[test]
fn char_tokenizer_names_the_file_with_an_unknown_character() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("c.txt");
    std::fs::write(&corpus, "abcz").unwrap();
    let tokenizer = Tokenizer::Char(CharTokenizer::from_texts(&["abc"]));
    let err = prepare(
        &tokenizer,
        std::slice::from_ref(&corpus),
        &dir.path().join("o"),
        &PrepareOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("'z' is not in the tokenizer's alphabet"),
        "{err}"
    );
}

#[test]
fn bad_arguments_are_clear_errors() {
    let out = tempfile::tempdir().unwrap();
    let missing = out.path().join("missing.txt");
    let err = prepare(
        &gpt2(),
        std::slice::from_ref(&missing),
        out.path(),
        &PrepareOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with(&missing.display().to_string()),
        "{err}"
    );
    let options = PrepareOptions {
        val_fraction: 1.5,
        ..PrepareOptions::default()
    };
    let err = prepare(&gpt2(), &[shakespeare()], out.path(), &options).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid val-fraction: 1.5 is not in [0, 1)"
    );
}
