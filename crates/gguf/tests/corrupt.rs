//! Bad input: truncated, corrupted and absurd files must give an error naming the file and the
//! problem, never a panic or a huge allocation.

use claude_files::shared_data_dir as data_dir;
use std::path::Path;

use claude_gguf::{Array, Error, GgufFile, GgufWriter, Header, Value};

const NAME: &str = "corrupt-test.gguf";

fn parse(bytes: &[u8]) -> Result<Header, Error> {
    Header::parse(bytes, Path::new(NAME))
}

fn parse_err(bytes: &[u8]) -> String {
    let err = parse(bytes)
        .expect_err("corrupt bytes must not parse")
        .to_string();
    assert!(err.starts_with(NAME), "{err}");
    err
}

fn spm_bytes() -> Vec<u8> {
    std::fs::read(data_dir().join("tokenizer/llamacpp-vocab/ggml-vocab-llama-spm.gguf")).unwrap()
}

/// Byte offset just after the (first) key `key`, where its value type starts.
fn after_key(bytes: &[u8], key: &str) -> usize {
    let at = bytes
        .windows(key.len())
        .position(|w| w == key.as_bytes())
        .unwrap_or_else(|| panic!("{key} not found"));
    at + key.len()
}

fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// A small file with every kind of value and two tensors.
fn small_file() -> Vec<u8> {
    let f32s: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let mut w = GgufWriter::new();
    w.set("general.name", "tiny")
        .set("a.u8", 1u8)
        .set("a.i16", -2i16)
        .set("a.bool", true)
        .set("a.f64", 0.5f64)
        .set("a.strings", vec!["x", "yz"])
        .set(
            "a.nested",
            Value::Array(Array::Array(vec![
                Array::U32(vec![1, 2]),
                Array::Bool(vec![true]),
            ])),
        )
        .add_tensor("w", &[3, 2], 0, f32s)
        .add_tensor("b", &[5], 24, vec![9u8; 5]);
    w.to_bytes(NAME).unwrap()
}

#[test]
fn real_vocabulary_truncated_anywhere_is_an_error() {
    let bytes = spm_bytes();
    parse(&bytes).unwrap();
    let len = bytes.len();
    for cut in [
        0,
        1,
        3,
        4,
        7,
        8,
        15,
        16,
        23,
        24,
        31,
        40,
        100,
        1000,
        len / 3,
        len / 2,
        len - 1,
    ] {
        let err = parse_err(&bytes[..cut]);
        assert!(
            err.contains("truncated")
                || err.contains("runs past the end")
                || err.contains("cannot fit"),
            "cut at {cut}: {err}"
        );
    }
    assert!(parse_err(&bytes[..2]).contains("magic"));
    assert!(parse_err(&bytes[..6]).contains("version"));
    assert!(parse_err(&bytes[..12]).contains("tensor count"));
}

#[test]
fn every_prefix_of_a_small_file_is_an_error() {
    let bytes = small_file();
    let header = parse(&bytes).unwrap();
    // The padding after the last tensor's data is not needed.
    let end = header
        .tensors
        .iter()
        .map(|t| header.data_offset + t.offset + t.byte_len.unwrap())
        .max()
        .unwrap();
    for cut in 0..end as usize {
        parse_err(&bytes[..cut]);
    }
    parse(&bytes[..end as usize]).unwrap();
}

#[test]
fn any_corrupted_byte_is_an_error_or_a_valid_reading() {
    let bytes = small_file();
    let mut corrupted = bytes.clone();
    for i in 0..bytes.len() {
        for value in [0x00, 0x7f, 0xff] {
            corrupted[i] = value;
            // Either outcome is fine; what matters is no panic and no huge allocation.
            if let Err(err) = parse(&corrupted) {
                assert!(err.to_string().starts_with(NAME));
            }
        }
        corrupted[i] = bytes[i];
    }
}

#[test]
fn bad_magic_and_versions() {
    let mut bytes = spm_bytes();
    bytes[3] = b'X';
    let err = parse_err(&bytes);
    assert!(err.contains("not a GGUF file"), "{err}");

    let mut bytes = spm_bytes();
    put_u32(&mut bytes, 4, 1);
    let err = parse_err(&bytes);
    assert!(err.contains("GGUF version 1 is not supported"), "{err}");
    put_u32(&mut bytes, 4, 4);
    assert!(parse_err(&bytes).contains("version 4"));
    put_u32(&mut bytes, 4, 3u32.swap_bytes());
    assert!(parse_err(&bytes).contains("big-endian"));
    put_u32(&mut bytes, 4, 2);
    parse(&bytes).unwrap();
}

#[test]
fn absurd_counts_and_lengths() {
    let bytes = spm_bytes();
    let mut b = bytes.clone();
    put_u64(&mut b, 8, u64::MAX);
    let err = parse_err(&b);
    assert!(
        err.contains("tensor count") && err.contains("cannot fit"),
        "{err}"
    );

    let mut b = bytes.clone();
    put_u64(&mut b, 16, 1 << 40);
    let err = parse_err(&b);
    assert!(
        err.contains("metadata entry count") && err.contains("cannot fit"),
        "{err}"
    );

    // The first key's length.
    let mut b = bytes.clone();
    put_u64(&mut b, 24, u64::MAX);
    let err = parse_err(&b);
    assert!(
        err.contains("key of metadata entry 0") && err.contains("runs past the end"),
        "{err}"
    );

    // The token array's length: after the key come the value type (9) and element type (8).
    let mut b = bytes.clone();
    let at = after_key(&b, "tokenizer.ggml.tokens") + 8;
    put_u64(&mut b, at, u64::MAX / 2);
    let err = parse_err(&b);
    assert!(
        err.contains("\"tokenizer.ggml.tokens\"") && err.contains("cannot fit"),
        "{err}"
    );

    // The first token's length.
    let mut b = bytes.clone();
    let len = b.len() as u64;
    put_u64(&mut b, at + 8, len);
    let err = parse_err(&b);
    assert!(
        err.contains("\"tokenizer.ggml.tokens\", array element 0") && err.contains("runs past"),
        "{err}"
    );
}

#[test]
fn bad_values() {
    let bytes = spm_bytes();
    let mut b = bytes.clone();
    let at = after_key(&b, "general.name");
    put_u32(&mut b, at, 99);
    let err = parse_err(&b);
    assert!(
        err.contains("\"general.name\"") && err.contains("unknown value type id 99"),
        "{err}"
    );

    let mut b = bytes.clone();
    let at = after_key(&b, "tokenizer.ggml.add_bos_token");
    assert_eq!(b[at..at + 4], 7u32.to_le_bytes());
    b[at + 4] = 2;
    let err = parse_err(&b);
    assert!(err.contains("neither 0 nor 1"), "{err}");

    let mut b = bytes.clone();
    let at = after_key(&b, "general.architecture");
    b[at - 1] = 0xff;
    let err = parse_err(&b);
    assert!(err.contains("not valid UTF-8"), "{err}");

    let mut b = bytes.clone();
    let at = after_key(&b, "tokenizer.ggml.eos_token_id");
    b[at - "eos_token_id".len()] = b'b';
    let err = parse_err(&b);
    assert!(
        err.contains("\"tokenizer.ggml.bos_token_id\"") && err.contains("appears twice"),
        "{err}"
    );
}

/// Bytes of a file holding one key whose value is `depth` nested arrays around one u32.
fn nested(depth: usize) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend(1u64.to_le_bytes());
    b.extend(1u64.to_le_bytes());
    b.push(b'k');
    b.extend(9u32.to_le_bytes());
    for _ in 1..depth {
        b.extend(9u32.to_le_bytes());
        b.extend(1u64.to_le_bytes());
    }
    b.extend(4u32.to_le_bytes());
    b.extend(1u64.to_le_bytes());
    b.extend(7u32.to_le_bytes());
    b
}

#[test]
fn nesting_is_bounded() {
    let header = parse(&nested(16)).unwrap();
    let mut value = header.metadata.get_array("k").unwrap();
    for _ in 1..16 {
        let Array::Array(inner) = value else {
            panic!("expected nesting")
        };
        value = &inner[0];
    }
    assert_eq!(value, &Array::U32(vec![7]));
    let err = parse_err(&nested(17));
    assert!(err.contains("nest more than 16 deep"), "{err}");
    // A deep enough file to overflow a stack, refused the same way.
    let err = parse_err(&nested(100_000));
    assert!(err.contains("nest more than 16 deep"), "{err}");
}

/// Offset of the tensor-index entry of `name` in a file from [`small_file`] (after its name).
fn tensor_entry(bytes: &[u8], name: &str) -> usize {
    // Tensor names are written length-prefixed; search for the prefix and the name together.
    let mut needle = (name.len() as u64).to_le_bytes().to_vec();
    needle.extend(name.as_bytes());
    bytes
        .windows(needle.len())
        .rposition(|w| w == needle)
        .unwrap()
        + needle.len()
}

#[test]
fn bad_tensor_index() {
    let bytes = small_file();
    // Entry of "w": n_dims (u32), 2 dims (u64), type (u32), offset (u64).
    let at = tensor_entry(&bytes, "w");

    let mut b = bytes.clone();
    put_u32(&mut b, at, 5);
    let err = parse_err(&b);
    assert!(
        err.contains("tensor 0 (\"w\")") && err.contains("at most 4"),
        "{err}"
    );

    let mut b = bytes.clone();
    put_u64(&mut b, at + 4, u64::MAX - 1);
    let err = parse_err(&b);
    assert!(err.contains("\"w\"") && err.contains("absurd"), "{err}");

    let mut b = bytes.clone();
    put_u64(&mut b, at + 4, 1 << 40);
    put_u64(&mut b, at + 12, 1 << 40);
    let err = parse_err(&b);
    assert!(err.contains("\"w\"") && err.contains("64 bits"), "{err}");

    let mut b = bytes.clone();
    put_u64(&mut b, at + 4, 1 << 20);
    let err = parse_err(&b);
    assert!(
        err.contains("tensor \"w\"") && err.contains("runs past the end of the file"),
        "{err}"
    );

    let mut b = bytes.clone();
    put_u32(&mut b, at + 20, 8);
    let err = parse_err(&b);
    assert!(
        err.contains("\"w\"") && err.contains("not a multiple of the Q8_0 block size"),
        "{err}"
    );

    let mut b = bytes.clone();
    put_u64(&mut b, at + 24, 3);
    let err = parse_err(&b);
    assert!(err.contains("not a multiple of the alignment 32"), "{err}");

    let mut b = bytes.clone();
    put_u64(&mut b, at + 24, u64::MAX - 31);
    let err = parse_err(&b);
    assert!(err.contains("\"w\""), "{err}");

    // A second tensor named like the first.
    let mut b = bytes.clone();
    let at_b = tensor_entry(&b, "b");
    b[at_b - 1] = b'w';
    let err = parse_err(&b);
    assert!(err.contains("appears twice"), "{err}");

    // An unknown ggml type: the index reads, its data cannot be delimited.
    let mut b = bytes.clone();
    put_u32(&mut b, at + 20, 1000);
    let header = parse(&b).unwrap();
    assert_eq!(header.tensors[0].ggml_type, 1000);
    assert_eq!(header.tensors[0].byte_len, None);
    assert_eq!(header.tensors[0].type_name(), "type 1000");
}

#[test]
fn bad_alignment() {
    let mut w = GgufWriter::new();
    w.set("general.alignment", 64u32);
    let mut bytes = w.to_bytes(NAME).unwrap();
    let at = after_key(&bytes, "general.alignment") + 4;
    put_u32(&mut bytes, at, 3);
    let err = parse_err(&bytes);
    assert!(
        err.contains("\"general.alignment\"") && err.contains("not a power of two"),
        "{err}"
    );
    put_u32(&mut bytes, at, 0);
    assert!(parse_err(&bytes).contains("not a power of two"));
}

#[test]
fn files_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.gguf");
    let err = GgufFile::open(&missing).unwrap_err().to_string();
    assert!(err.contains("missing.gguf"), "{err}");

    let empty = dir.path().join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    let err = GgufFile::open(&empty).unwrap_err().to_string();
    assert!(
        err.contains("empty.gguf") && err.contains("truncated"),
        "{err}"
    );

    // A real model whose tensor data is cut off: the error names the first tensor it cuts.
    let model =
        data_dir().join("models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf");
    let full = GgufFile::open(&model).unwrap();
    let head = &full.bytes()[..full.data_offset() as usize + 1000];
    let cut = dir.path().join("cut.gguf");
    std::fs::write(&cut, head).unwrap();
    let err = GgufFile::open(&cut).unwrap_err().to_string();
    assert!(
        err.contains("cut.gguf")
            && err.contains("tensor \"token_embd.weight\"")
            && err.contains("runs past the end of the file"),
        "{err}"
    );
    // Cut inside the tensor index.
    std::fs::write(&cut, &full.bytes()[..full.data_offset() as usize - 40]).unwrap();
    let err = GgufFile::open(&cut).unwrap_err().to_string();
    assert!(
        err.contains("cut.gguf") && err.contains("tensor 271"),
        "{err}"
    );
}
