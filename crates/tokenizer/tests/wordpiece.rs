//! WordPiece against Hugging Face's `tokenizers` on all-MiniLM-L6-v2's own files
//! (`tests/data/minilm_wordpiece.json`, written by `tests/data/wordpiece_reference.py`): the
//! ids of a few dozen texts, and the normalization and word splitting of every code point. Also
//! its length limit, decoding, and the errors of malformed vocabulary files.

use crate::support::llamacpp_cases;
use std::path::{Path, PathBuf};

use claude_files::shared_data_dir;
use claude_tokenizer::wordpiece::{BertNormalizer, WordPieceConfig, read_vocab_txt, split_words};
use claude_tokenizer::{Error, WordPieceTokenizer};

/// One text of the reference file and the ids `tokenizers` gives it.
struct Case {
    name: String,
    text: String,
    /// With `[CLS]`/`[SEP]`, no truncation.
    ids: Vec<u32>,
    /// Truncated to 256, as sentence-transformers feeds the model.
    ids_max256: Vec<u32>,
}

fn model_dir() -> PathBuf {
    shared_data_dir().join("models/all-minilm-l6-v2")
}

fn cases() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/minilm_wordpiece.json");
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let ids = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_u64().unwrap() as u32)
            .collect()
    };
    file["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap().to_string(),
            text: c["text"].as_str().unwrap().to_string(),
            ids: ids(&c["ids"]),
            ids_max256: ids(&c["ids_max256"]),
        })
        .collect()
}

/// Encodes every case without a length limit and lists the cases whose ids differ.
fn mismatches(tokenizer: &WordPieceTokenizer, cases: &[Case]) -> Vec<String> {
    cases
        .iter()
        .filter_map(|case| {
            let ours = tokenizer.encode(&case.text);
            (ours.ids != case.ids || ours.truncated()).then(|| {
                let tokens: Vec<&str> = ours
                    .ids
                    .iter()
                    .map(|&id| tokenizer.id_to_token(id).unwrap_or("?"))
                    .collect();
                format!(
                    "{}: expected {:?}, got {:?} {tokens:?}",
                    case.name, case.ids, ours.ids
                )
            })
        })
        .collect()
}

fn unlimited(mut tokenizer: WordPieceTokenizer) -> WordPieceTokenizer {
    tokenizer.set_max_len(None).unwrap();
    tokenizer
}

#[test]
fn minilm_ids_match_hugging_face_tokenizers() {
    let cases = cases();
    assert!(cases.len() >= 30, "only {} reference cases", cases.len());
    let tokenizer = unlimited(WordPieceTokenizer::from_dir(model_dir()).unwrap());
    let failed = mismatches(&tokenizer, &cases);
    assert!(
        failed.is_empty(),
        "{} of {} cases differ:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}

#[test]
fn minilm_vocab_txt_gives_the_same_ids_as_tokenizer_json() {
    let dir = model_dir();
    let config_dir = tempfile::tempdir().unwrap();
    // The directory without tokenizer.json: vocab.txt + tokenizer_config.json.
    for name in ["vocab.txt", "tokenizer_config.json"] {
        std::fs::copy(dir.join(name), config_dir.path().join(name)).unwrap();
    }
    let tokenizer = unlimited(WordPieceTokenizer::from_dir(config_dir.path()).unwrap());
    let cases = cases();
    let failed = mismatches(&tokenizer, &cases);
    assert!(failed.is_empty(), "{}", failed.join("\n"));

    let plain = WordPieceTokenizer::from_vocab_txt(dir.join("vocab.txt"), &Default::default());
    assert!(mismatches(&plain.unwrap(), &cases).is_empty());
}

#[test]
fn minilm_defaults_to_sentence_transformers_max_seq_length() {
    let dir = model_dir();
    let tokenizer = WordPieceTokenizer::from_dir(&dir).unwrap();
    assert_eq!(tokenizer.max_len(), Some(256));
    // tokenizer.json alone says 128 (its truncation setting).
    let json_only = WordPieceTokenizer::from_tokenizer_json(dir.join("tokenizer.json")).unwrap();
    assert_eq!(json_only.max_len(), Some(128));

    let cases = cases();
    let mut long_cases = 0;
    for case in &cases {
        let ours = tokenizer.encode(&case.text);
        assert_eq!(ours.ids, case.ids_max256, "{}", case.name);
        assert_eq!(
            ours.dropped,
            case.ids.len().saturating_sub(256),
            "{}",
            case.name
        );
        assert_eq!(ours.truncated(), case.ids.len() > 256, "{}", case.name);
        if ours.truncated() {
            long_cases += 1;
            assert_eq!(ours.ids.len(), 256);
            assert_eq!(ours.ids.last(), Some(&tokenizer.special_ids().sep));
        }
    }
    assert!(
        long_cases > 0,
        "no reference case is longer than 256 tokens"
    );
}

#[test]
fn truncation_without_special_tokens_and_other_limits() {
    let mut tokenizer = WordPieceTokenizer::from_dir(model_dir()).unwrap();
    let long = cases().into_iter().find(|c| c.ids.len() > 256).unwrap();
    let all = tokenizer.tokenize(&long.text);
    assert_eq!(all, long.ids[1..long.ids.len() - 1]);

    let plain = tokenizer.encode_without_special(&long.text);
    assert_eq!(plain.ids, all[..256]);
    assert_eq!(plain.dropped, all.len() - 256);

    tokenizer.set_max_len(Some(2)).unwrap();
    let tiny = tokenizer.encode("hello world");
    assert_eq!(tiny.ids, [101, 102]);
    assert_eq!(tiny.dropped, 2);
    tokenizer.set_max_len(Some(4)).unwrap();
    let exact = tokenizer.encode("hello world");
    assert_eq!((exact.ids.len(), exact.dropped), (4, 0));

    let err = tokenizer.set_max_len(Some(1)).unwrap_err();
    assert!(err.to_string().contains("max_len"), "{err}");
    assert_eq!(tokenizer.max_len(), Some(4));
}

#[test]
fn batches_encode_like_single_texts() {
    let tokenizer = WordPieceTokenizer::from_dir(model_dir()).unwrap();
    let texts: Vec<String> = cases().into_iter().map(|c| c.text).collect();
    let batch = tokenizer.encode_batch(&texts);
    assert_eq!(batch.len(), texts.len());
    for (text, encoding) in texts.iter().zip(&batch) {
        assert_eq!(encoding, &tokenizer.encode(text));
    }
}

#[test]
fn special_ids_come_from_the_vocabulary() {
    let tokenizer = WordPieceTokenizer::from_dir(model_dir()).unwrap();
    let ids = tokenizer.special_ids();
    assert_eq!(
        (ids.pad, ids.unk, ids.cls, ids.sep, ids.mask),
        (0, 100, 101, 102, 103)
    );
    assert_eq!(tokenizer.vocab_size(), 30522);
    assert_eq!(tokenizer.token_to_id("##ing"), Some(2075));
    assert_eq!(tokenizer.id_to_token(2075), Some("##ing"));
    assert_eq!(tokenizer.id_to_token(30522), None);
}

#[test]
fn decode_joins_continuation_pieces() {
    let tokenizer = WordPieceTokenizer::from_dir(model_dir()).unwrap();
    let ids = tokenizer.encode("Unbelievably, the Café's embeddings!").ids;
    assert_eq!(
        tokenizer.decode(&ids, true).unwrap(),
        "unbelievably , the cafe ' s embeddings !"
    );
    assert!(
        tokenizer
            .decode(&ids, false)
            .unwrap()
            .starts_with("[CLS] unbelievably")
    );
    let unknown = tokenizer.encode("🤗 [MASK]").ids;
    assert_eq!(tokenizer.decode(&unknown, true).unwrap(), "[UNK] [MASK]");
    match tokenizer.decode(&[101, 40000], true) {
        Err(Error::IdOutOfRange { id, position, .. }) => assert_eq!((id, position), (40000, 1)),
        other => panic!("expected IdOutOfRange, got {other:?}"),
    }
}

/// Writes `contents` as `vocab.txt` in a new directory and loads it.
fn load_vocab(contents: &[u8]) -> (tempfile::TempDir, Result<WordPieceTokenizer, Error>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vocab.txt");
    std::fs::write(&path, contents).unwrap();
    let loaded = WordPieceTokenizer::from_vocab_txt(&path, &WordPieceConfig::default());
    (dir, loaded)
}

const SPECIALS: &str = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";

#[test]
fn a_small_vocab_txt_loads_with_crlf_lines() {
    let (_dir, loaded) = load_vocab(format!("{SPECIALS}un\r\n##aff\n##able\n").as_bytes());
    let tokenizer = loaded.unwrap();
    assert_eq!(tokenizer.encode("Unaffable").ids, [2, 5, 6, 7, 3]);
    assert_eq!(tokenizer.encode("unknown").ids, [2, 1, 3]);
}

#[test]
fn malformed_vocab_files_name_the_file_and_line() {
    let expect = |contents: &[u8], line: usize, needle: &str| {
        let (dir, loaded) = load_vocab(contents);
        let message = loaded.unwrap_err().to_string();
        let path = dir.path().join("vocab.txt");
        let at = format!("{}:{line}:", path.display());
        assert!(
            message.starts_with(&at),
            "{message:?} does not start with {at:?}"
        );
        assert!(
            message.contains(needle),
            "{message:?} does not say {needle:?}"
        );
    };
    expect(format!("{SPECIALS}a\n\nb\n").as_bytes(), 7, "empty token");
    expect(
        format!("{SPECIALS}a\nb\na\n").as_bytes(),
        8,
        "already on line 6",
    );
    expect(b"[PAD]\n[UNK]\n\xff\xfe\n", 3, "UTF-8");
    expect(b"", 0, "empty");
    expect(b"[PAD]\n[UNK]\n[SEP]\n[MASK]\n", 0, "\"[CLS]\"");

    let missing = model_dir().join("no-such-vocab.txt");
    let err = read_vocab_txt(&missing).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-vocab.txt"), "{err}");
}

#[test]
fn malformed_tokenizer_json_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    let expect = |contents: &str, needle: &str| {
        std::fs::write(&path, contents).unwrap();
        let message = WordPieceTokenizer::from_tokenizer_json(&path)
            .unwrap_err()
            .to_string();
        assert!(message.contains("tokenizer.json"), "{message}");
        assert!(
            message.contains(needle),
            "{message:?} does not say {needle:?}"
        );
    };
    expect("{\"model\": ", "EOF");
    expect(
        r#"{"model": {"type": "BPE", "vocab": {}}}"#,
        "WordPiece only",
    );
    let model =
        r#""model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "a": 5}}"#;
    expect(&format!("{{{model}}}"), "id 5");
    let vocab = r#"{"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4}"#;
    let model =
        format!(r#""model": {{"type": "WordPiece", "unk_token": "[UNK]", "vocab": {vocab}}}"#);
    expect(&format!("{{{model}}}"), "BertPreTokenizer only");
    let pre = r#""pre_tokenizer": {"type": "BertPreTokenizer"}"#;
    let good = format!("{{{model}, {pre}}}");
    std::fs::write(&path, &good).unwrap();
    let tokenizer = WordPieceTokenizer::from_tokenizer_json(&path).unwrap();
    assert_eq!(tokenizer.encode("").ids, [2, 3]);
    assert!(!tokenizer.normalizer().lowercase); // no normalizer: none of its steps
}

/// The record `wordpiece_reference.py` writes for a code point: its normalized form and what
/// word splitting makes of `a<char>b` (`-` one word, `w` two, `p` three).
fn char_record(normalizer: &BertNormalizer, c: char, buf: &mut String, record: &mut String) {
    use std::fmt::Write;
    normalizer.normalize_into(c.encode_utf8(&mut [0; 4]), buf);
    let normalized: Vec<String> = buf.chars().map(|n| format!("{:x}", n as u32)).collect();
    let mut words = 0;
    split_words(&format!("a{c}b"), |_| words += 1);
    let class = match words {
        1 => "-",
        2 => "w",
        3 => "p",
        _ => "?",
    };
    let _ = writeln!(record, "{:x}\t{}\t{class}", c as u32, normalized.join(" "));
}

#[test]
fn minilm_every_code_point_matches_hugging_face() {
    use sha2::{Digest, Sha256};
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/minilm_wordpiece.json");
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let block = file["char_blocks"]["block"].as_u64().unwrap() as u32;
    let expected: Vec<&str> = file["char_blocks"]["sha256_16"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(expected.len() as u32 * block, 0x110000);

    let normalizer = WordPieceTokenizer::from_dir(model_dir())
        .unwrap()
        .normalizer();
    let (mut buf, mut record) = (String::new(), String::new());
    let mut differing = Vec::new();
    let mut ours = String::new();
    for (index, want) in (0u32..).zip(&expected) {
        record.clear();
        for c in (index * block..(index + 1) * block).filter_map(char::from_u32) {
            char_record(&normalizer, c, &mut buf, &mut record);
        }
        let hash = Sha256::digest(record.as_bytes());
        let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
        if hex != *want {
            differing.push(format!("U+{:04X}..", index * block));
            ours.push_str(&record);
        }
    }
    if !differing.is_empty() {
        let dump = std::env::temp_dir().join("wordpiece_chars_ours.tsv");
        std::fs::write(&dump, &ours).unwrap();
        panic!(
            "{} blocks of 4096 code points differ from Hugging Face's tokenizers: {}; our \
             records are in {} (compare with `wordpiece_reference.py --chars-table`)",
            differing.len(),
            differing.join(" "),
            dump.display()
        );
    }
}

/// A WordPiece token as llama.cpp's GGUF conversion stores it, back in BERT's spelling: the
/// conversion marks a word-initial piece with a leading U+2581 and drops the `##` of a
/// continuation piece; bracketed special tokens stay as they are.
fn from_gguf_token(token: &str) -> String {
    match token.strip_prefix('\u{2581}') {
        Some(initial) => initial.to_string(),
        None if token.starts_with('[') && token.ends_with(']') => token.to_string(),
        None => format!("##{token}"),
    }
}

/// llama.cpp's WordPiece suite: the inputs of `ggml-vocab-bert-bge.gguf.inp` (separated by
/// `\n__ggml_vocab_test__\n`) must give the ids of the matching line of the `.gguf.out`, which
/// llama.cpp's `test-tokenizer-0` compares without `[CLS]`/`[SEP]`. The vocabulary is the
/// `.gguf`'s `tokenizer.ggml.tokens`, with uncased BERT's settings (bge-small-en-v1.5's).
#[test]
fn llama_cpp_bert_bge_suite() {
    let gguf = shared_data_dir().join("tokenizer/llamacpp-vocab/ggml-vocab-bert-bge.gguf");
    let file = claude_gguf::GgufFile::open(&gguf).unwrap();
    let metadata = file.metadata();
    assert_eq!(metadata.get_str("tokenizer.ggml.model").unwrap(), "bert");
    let tokens = metadata.get_str_array("tokenizer.ggml.tokens").unwrap();
    let tokens: Vec<String> = tokens.iter().map(|t| from_gguf_token(t)).collect();
    // The vocabulary is BERT uncased's, as all-MiniLM-L6-v2's is.
    let minilm = read_vocab_txt(model_dir().join("vocab.txt")).unwrap();
    assert_eq!(tokens, minilm);
    let tokenizer = WordPieceTokenizer::new(tokens, &WordPieceConfig::default()).unwrap();

    let (inputs, expected): (Vec<String>, Vec<Vec<u32>>) =
        llamacpp_cases(&gguf).into_iter().unzip();
    let failed: Vec<String> = inputs
        .iter()
        .zip(&expected)
        .filter(|(input, ids)| tokenizer.tokenize(input) != **ids)
        .map(|(input, ids)| {
            format!(
                "{input:?}: expected {ids:?}, got {:?}",
                tokenizer.tokenize(input)
            )
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} inputs differ:\n{}",
        failed.len(),
        inputs.len(),
        failed.join("\n")
    );
}
