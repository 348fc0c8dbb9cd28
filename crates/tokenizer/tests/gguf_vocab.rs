//! Tokenizers loaded from GGUF files against llama.cpp's own suites: each input of a `.gguf.inp`
//! (inputs separated by `\n__ggml_vocab_test__\n`), encoded as llama.cpp's `test-tokenizer-0`
//! does (no BOS / EOS added, special tokens not parsed), must give the ids of the matching line of
//! the `.gguf.out`; and the ids decode back to the input.

use crate::support::llamacpp_cases;
use claude_files::shared_data_dir as data_dir;
use std::path::{Path, PathBuf};

use claude_gguf::GgufWriter;
use claude_tokenizer::gguf::{
    DecodeOptions, EncodeOptions, GgufError, GgufTokenizer, ModelKind, PreTokenizer,
};

fn vocab(name: &str) -> PathBuf {
    data_dir().join("tokenizer/llamacpp-vocab").join(name)
}

/// Cases a suite is known to fail, with the reason (none at present).
const KNOWN_FAILURES: &[(&str, &str, &str)] = &[];

/// Encodes every case; every id list must equal llama.cpp's. Returns the number of cases.
fn check_suite(tokenizer: &GgufTokenizer, suite: &str, cases: &[(String, Vec<u32>)]) -> usize {
    let mut failures = Vec::new();
    for (text, expected) in cases {
        let ids = tokenizer.encode(text, EncodeOptions::default());
        let known = KNOWN_FAILURES
            .iter()
            .any(|&(s, input, _)| s == suite && input == text);
        if ids != *expected && !known {
            failures.push(format!(
                "{text:?}\n   ours: {ids:?}\n   llama.cpp: {expected:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{suite}: {} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!(
        "{suite}: {} of {} cases equal llama.cpp's ids",
        cases.len(),
        cases.len()
    );
    cases.len()
}

/// The bytes of the pieces, concatenated: exactly the input for every case.
fn pieces(tokenizer: &GgufTokenizer, ids: &[u32]) -> Vec<u8> {
    ids.iter()
        .flat_map(|&id| tokenizer.token_piece(id, false).unwrap().into_owned())
        .collect()
}

/// Decoding gives the input back, except where the vocabulary's clean-up of spaces before
/// punctuation (llama.cpp's `clean_spaces`) changes it.
fn check_decode(tokenizer: &GgufTokenizer, cases: &[(String, Vec<u32>)], cleans_spaces: bool) {
    for (text, ids) in cases {
        let decoded = tokenizer.decode(ids, DecodeOptions::default()).unwrap();
        let cleanable = [" ?", " !", " .", " ,", " '"]
            .iter()
            .any(|p| text.contains(p));
        if !(cleans_spaces && cleanable) {
            assert_eq!(&decoded, text, "decoding {ids:?}");
        }
    }
}

#[test]
fn llama_spm_suite() {
    let path = vocab("ggml-vocab-llama-spm.gguf");
    let tokenizer = GgufTokenizer::open(&path).unwrap();
    assert_eq!(tokenizer.kind(), ModelKind::Spm);
    assert_eq!(tokenizer.vocab_size(), 32000);
    let cases = llamacpp_cases(&path);
    assert_eq!(check_suite(&tokenizer, "llama-spm", &cases), 46);
    check_decode(&tokenizer, &cases, false);
    // BOS is added on request. Decoding drops the space put before the text, except (as in
    // llama.cpp) when it drops a leading BOS.
    let ids = tokenizer.encode(
        " Hello world",
        EncodeOptions {
            add_special: true,
            ..Default::default()
        },
    );
    assert_eq!(ids, [1, 29871, 15043, 3186]);
    assert_eq!(
        tokenizer
            .decode(&ids[1..], DecodeOptions::default())
            .unwrap(),
        " Hello world"
    );
    let remove = DecodeOptions {
        remove_special: true,
        ..Default::default()
    };
    assert_eq!(tokenizer.decode(&ids, remove).unwrap(), "  Hello world");
    let special = DecodeOptions {
        unparse_special: true,
        ..Default::default()
    };
    assert_eq!(tokenizer.decode(&ids, special).unwrap(), "<s>  Hello world");
}

#[test]
fn phi3_suite() {
    let path = vocab("ggml-vocab-phi-3.gguf");
    let tokenizer = GgufTokenizer::open(&path).unwrap();
    assert_eq!(tokenizer.kind(), ModelKind::Spm);
    let cases = llamacpp_cases(&path);
    assert_eq!(check_suite(&tokenizer, "phi-3", &cases), 46);
    check_decode(&tokenizer, &cases, false);
    // Control tokens are text unless special tokens are parsed; Phi-3's strip the spaces after.
    let user = tokenizer.token_id("<|user|>").unwrap();
    let end = tokenizer.token_id("<|end|>").unwrap();
    let parse = EncodeOptions {
        parse_special: true,
        ..Default::default()
    };
    let ids = tokenizer.encode("<|user|> \nHi<|end|>", parse);
    assert_eq!(ids.first(), Some(&user));
    assert_eq!(ids.last(), Some(&end));
    assert_eq!(
        ids[1..ids.len() - 1],
        tokenizer.encode("Hi", EncodeOptions::default())
    );
    assert!(
        !tokenizer
            .encode("<|user|>", EncodeOptions::default())
            .contains(&user)
    );
    assert!(tokenizer.is_end_of_generation(end));
    assert!(tokenizer.is_end_of_generation(32000));
}

#[test]
fn llama3_bpe_suite() {
    let path = vocab("ggml-vocab-llama-bpe.gguf");
    let tokenizer = GgufTokenizer::open(&path).unwrap();
    assert_eq!(tokenizer.kind(), ModelKind::Bpe);
    assert_eq!(tokenizer.pre_tokenizer(), Some(PreTokenizer::Llama3));
    let cases = llamacpp_cases(&path);
    assert_eq!(check_suite(&tokenizer, "llama-bpe", &cases), 46);
    for (text, ids) in &cases {
        assert_eq!(pieces(&tokenizer, ids), text.as_bytes());
    }
    check_decode(&tokenizer, &cases, true);
    // Llama 3 cleans up spaces before punctuation when decoding, as Hugging Face's does.
    let ids = tokenizer.encode("Hello , world !", EncodeOptions::default());
    assert_eq!(
        tokenizer.decode(&ids, DecodeOptions::default()).unwrap(),
        "Hello, world!"
    );
    // BOS by default for llama-bpe; control tokens parsed only on request.
    let both = EncodeOptions {
        add_special: true,
        parse_special: true,
    };
    assert_eq!(
        tokenizer.encode("<|begin_of_text|>Hello", both),
        [128000, 128000, 9906]
    );
    let plain = tokenizer.encode("<|begin_of_text|>", EncodeOptions::default());
    assert!(plain.len() > 1 && !plain.contains(&128000));
}

#[test]
fn qwen2_suite() {
    let path = vocab("ggml-vocab-qwen2.gguf");
    let tokenizer = GgufTokenizer::open(&path).unwrap();
    assert_eq!(tokenizer.pre_tokenizer(), Some(PreTokenizer::Qwen2));
    let cases = llamacpp_cases(&path);
    assert_eq!(check_suite(&tokenizer, "qwen2", &cases), 46);
    check_decode(&tokenizer, &cases, false);
    // No BOS for Qwen2; user-defined tokens are matched even when special tokens are not parsed.
    assert!(!tokenizer.adds_bos());
    let pad = tokenizer.token_id("[PAD151646]").unwrap();
    assert_eq!(
        tokenizer
            .encode("a[PAD151646]", EncodeOptions::default())
            .last(),
        Some(&pad)
    );
    let im_start = tokenizer.token_id("<|im_start|>").unwrap();
    let parse = EncodeOptions {
        parse_special: true,
        ..Default::default()
    };
    assert_eq!(tokenizer.encode("<|im_start|>", parse), [im_start]);
    assert_ne!(
        tokenizer.encode("<|im_start|>", EncodeOptions::default()),
        [im_start]
    );
}

/// GPT-2's own files (`encoder.json` + `vocab.bpe`) written as a GGUF vocabulary the way
/// llama.cpp's converter does: every token normal except `<|endoftext|>`, a control token.
fn gpt2_gguf_from_original_files(target: &Path) {
    let dir = data_dir().join("tokenizer/gpt2");
    let encoder: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("encoder.json")).unwrap()).unwrap();
    let mut tokens = vec![String::new(); encoder.len()];
    for (token, id) in encoder {
        tokens[id.as_u64().unwrap() as usize] = token;
    }
    let types: Vec<i32> = tokens
        .iter()
        .map(|t| if t == "<|endoftext|>" { 3 } else { 1 })
        .collect();
    let merges: Vec<String> = std::fs::read_to_string(dir.join("vocab.bpe"))
        .unwrap()
        .lines()
        .skip(1)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    let mut writer = GgufWriter::new();
    writer
        .set("general.architecture", "gpt2")
        .set("general.name", "gpt-2")
        .set("tokenizer.ggml.model", "gpt2")
        .set("tokenizer.ggml.pre", "gpt-2")
        .set("tokenizer.ggml.tokens", tokens)
        .set("tokenizer.ggml.token_type", types)
        .set("tokenizer.ggml.merges", merges)
        .set("tokenizer.ggml.bos_token_id", 50256u32)
        .set("tokenizer.ggml.eos_token_id", 50256u32);
    writer.write(target).unwrap();
}

#[test]
fn gpt2_suite() {
    let shared = data_dir().join("tokenizer/llamacpp-gpt2/ggml-vocab-gpt-2.gguf");
    let dir = tempfile::tempdir().unwrap();
    // The shared copy of llama.cpp's GPT-2 vocabulary is damaged (its bytes went through a text
    // conversion: every invalid UTF-8 sequence became U+FFFD, so a float and several lengths are
    // wrong). Reading it must fail cleanly, naming the file; the suite then runs on GPT-2's own
    // files written as GGUF. Should the shared file be repaired, the suite runs on it.
    let path = match GgufTokenizer::open(&shared) {
        Ok(_) => shared.clone(),
        Err(err) => {
            let message = err.to_string();
            assert!(matches!(err, GgufError::File(_)), "{message}");
            assert!(message.contains("ggml-vocab-gpt-2.gguf"), "{message}");
            eprintln!("gpt-2: the shared GGUF does not load ({message}); using GPT-2's own files");
            let path = dir.path().join("gpt2.gguf");
            gpt2_gguf_from_original_files(&path);
            path
        }
    };
    let tokenizer = GgufTokenizer::open(&path).unwrap();
    assert_eq!(tokenizer.vocab_size(), 50257);
    assert_eq!(tokenizer.pre_tokenizer(), Some(PreTokenizer::Gpt2));
    let cases = llamacpp_cases(&shared);
    assert_eq!(check_suite(&tokenizer, "gpt-2", &cases), 46);
    for (text, ids) in &cases {
        assert_eq!(pieces(&tokenizer, ids), text.as_bytes());
    }
    check_decode(&tokenizer, &cases, true);
}

#[test]
fn smollm2_vocabulary() {
    let path = data_dir().join("models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf");
    let tokenizer = GgufTokenizer::open(&path).unwrap();
    assert_eq!(tokenizer.pre_tokenizer(), Some(PreTokenizer::SmolLm));
    assert_eq!(tokenizer.vocab_size(), 49152);
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(path.with_file_name("gguf-metadata.json")).unwrap(),
    )
    .unwrap();
    for (id, text) in json["first_20_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        assert_eq!(tokenizer.token_text(id as u32), text.as_str());
    }
    let ids = tokenizer.special_ids();
    assert_eq!(
        (ids.bos, ids.eos, ids.unk, ids.pad),
        (Some(1), Some(2), Some(0), Some(2))
    );
    assert!(!tokenizer.adds_bos());
    assert!(tokenizer.is_end_of_generation(2) && tokenizer.is_end_of_generation(0));
    // Every digit is a token of its own.
    let digits = tokenizer.encode("2024", EncodeOptions::default());
    let each: Vec<u32> = "2024"
        .chars()
        .map(|c| tokenizer.token_id(&c.to_string()).unwrap())
        .collect();
    assert_eq!(digits, each);
    // SmolLM2 has no token for a few control bytes: like llama.cpp, encoding drops them.
    assert!(
        tokenizer
            .encode("\u{4}", EncodeOptions::default())
            .is_empty()
    );
    // A chat turn: control tokens only when parsed.
    let parse = EncodeOptions {
        parse_special: true,
        ..Default::default()
    };
    let ids = tokenizer.encode("<|im_start|>user\nHi 123!<|im_end|>\n", parse);
    assert_eq!((ids[0], ids[ids.len() - 2]), (1, 2));
    let special = DecodeOptions {
        unparse_special: true,
        ..Default::default()
    };
    assert_eq!(
        tokenizer.decode(&ids, special).unwrap(),
        "<|im_start|>user\nHi 123!<|im_end|>\n"
    );
    assert_eq!(
        tokenizer.decode(&ids, DecodeOptions::default()).unwrap(),
        "user\nHi 123!\n"
    );
    // Round trips on every language of the UDHR (SmolLM does not clean up spaces).
    let udhr = std::fs::read_to_string(data_dir().join("text/udhr-multilingual.txt")).unwrap();
    let sample = &udhr[..udhr.floor_char_boundary(200_000)];
    let ids = tokenizer.encode(sample, EncodeOptions::default());
    assert_eq!(
        tokenizer.decode(&ids, DecodeOptions::default()).unwrap(),
        sample
    );
}

#[test]
fn unsupported_and_broken_vocabularies_are_named_errors() {
    let path = vocab("ggml-vocab-bert-bge.gguf");
    let err = GgufTokenizer::open(&path).unwrap_err().to_string();
    assert!(
        err.contains("ggml-vocab-bert-bge.gguf") && err.contains("\"bert\""),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("broken.gguf");
    let mut writer = GgufWriter::new();
    writer
        .set("tokenizer.ggml.model", "gpt2")
        .set("tokenizer.ggml.pre", "gpt-2")
        .set("tokenizer.ggml.tokens", vec!["a", "b"]);
    writer.write(&target).unwrap();
    let err = GgufTokenizer::open(&target).unwrap_err().to_string();
    assert!(
        err.contains("broken.gguf") && err.contains("tokenizer.ggml.merges"),
        "{err}"
    );

    writer.set("tokenizer.ggml.merges", vec!["a b"]);
    writer.set("tokenizer.ggml.token_type", vec![1i32]);
    writer.write(&target).unwrap();
    let err = GgufTokenizer::open(&target).unwrap_err().to_string();
    assert!(
        err.contains("tokenizer.ggml.token_type") && err.contains("1 types for 2 tokens"),
        "{err}"
    );

    writer.set("tokenizer.ggml.token_type", vec![1i32, 1]);
    writer.set("tokenizer.ggml.tokens", vec!["a", "a"]);
    writer.write(&target).unwrap();
    let err = GgufTokenizer::open(&target).unwrap_err().to_string();
    assert!(err.contains("tokens 0 and 1 are both \"a\""), "{err}");
}
