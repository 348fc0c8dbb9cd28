//! `--model hf:OWNER/REPO` for a repository without GGUF files: a local HTTP server stands in for
//! the hub (`HF_ENDPOINT`) and serves a Hugging Face model folder (core's tiny random Llama, a
//! 128-token tokenizer.json, generation_config.json); the folder's files land in the hub cache
//! under `HF_HOME`, generation runs from them, and the next run asks the hub for nothing.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::support::{bin, succeeded};

const REPO: &str = "someone/tiny-llama";
const COMMIT: &str = "89abcdef0123456789abcdef0123456789abcdef";

/// A SentencePiece-style tokenizer.json of 128 tokens, as many as the tiny model has.
fn tokenizer_json() -> String {
    let mut tokens: Vec<String> = ["<pad>", "<eos>", "<bos>", "<unk>", "▁"]
        .map(String::from)
        .to_vec();
    tokens.extend((b'!'..=b'~').map(|b| char::from(b).to_string()));
    tokens.extend((0..128 - tokens.len()).map(|i| format!("▁{i}")));
    let vocab: serde_json::Map<String, serde_json::Value> = (tokens.iter().enumerate())
        .map(|(id, t)| (t.clone(), id.into()))
        .collect();
    let special =
        |id: u32, content: &str| serde_json::json!({"id": id, "content": content, "special": true});
    serde_json::json!({
        "added_tokens": [special(0, "<pad>"), special(1, "<eos>"), special(2, "<bos>"),
                         special(3, "<unk>")],
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]}}},
        "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": true, "vocab": vocab,
                  "merges": []}
    })
    .to_string()
}

/// The repository's files.
fn files() -> BTreeMap<String, Vec<u8>> {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/data/hf/llama");
    let mut files = BTreeMap::new();
    for name in ["config.json", "model.safetensors"] {
        files.insert(name.to_string(), std::fs::read(model.join(name)).unwrap());
    }
    files.insert("tokenizer.json".into(), tokenizer_json().into_bytes());
    files.insert(
        "generation_config.json".into(),
        br#"{"eos_token_id": [1, 3]}"#.to_vec(),
    );
    files.insert("README.md".into(), b"tiny".to_vec());
    files
}

/// Answers one request from `files`; returns its path.
fn answer(mut stream: TcpStream, files: &BTreeMap<String, Vec<u8>>) -> String {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    reader.read_line(&mut request).unwrap();
    let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line.trim().is_empty() {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
            range = Some(value.trim().to_string());
        }
    }
    let prefix = format!("/{REPO}/resolve/main/");
    let (status, headers, body) = if path.starts_with("/api/models/") {
        let siblings: Vec<String> = (files.keys())
            .map(|f| format!(r#"{{"rfilename": "{f}"}}"#))
            .collect();
        let listing = format!(
            r#"{{"sha": "{COMMIT}", "siblings": [{}]}}"#,
            siblings.join(",")
        );
        ("200 OK", String::new(), listing.into_bytes())
    } else if let Some(bytes) = path.strip_prefix(&prefix).and_then(|f| files.get(f)) {
        let start: usize = (range.as_deref())
            .and_then(|r| r.split('-').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let end = match range.as_deref().and_then(|r| r.split('-').nth(1)) {
            Some(end) if !end.is_empty() => (end.parse::<usize>().unwrap() + 1).min(bytes.len()),
            _ => bytes.len(),
        };
        let headers = format!(
            "ETag: \"{:x}\"\r\nX-Repo-Commit: {COMMIT}\r\nContent-Range: bytes {start}-{}/{}\r\n",
            bytes.len(),
            end - 1,
            bytes.len()
        );
        ("206 Partial Content", headers, bytes[start..end].to_vec())
    } else {
        ("404 Not Found", String::new(), b"not found".to_vec())
    };
    let head = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
    path
}

#[test]
fn a_model_folder_by_name_is_fetched_into_the_cache_and_runs() {
    let files = Arc::new(files());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let requests = Arc::new(Mutex::new(Vec::<String>::new()));
    let (log, served) = (requests.clone(), files.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let path = answer(stream, &served);
            log.lock().unwrap().push(path);
        }
    });
    let home = tempfile::tempdir().unwrap();
    let generate = || {
        bin()
            .args(["generate", "--model", &format!("hf:{REPO}")])
            .args([
                "--prompt",
                "hi",
                "--max-new-tokens",
                "4",
                "--temperature",
                "0",
            ])
            .env("HF_ENDPOINT", format!("http://{address}"))
            .env("HF_HOME", home.path())
            .output()
            .unwrap()
    };
    let first = succeeded(generate());
    let snapshot = home
        .path()
        .join("hub/models--someone--tiny-llama/snapshots")
        .join(COMMIT);
    for name in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "generation_config.json",
    ] {
        assert_eq!(
            std::fs::read(snapshot.join(name)).unwrap(),
            files[name],
            "{name}"
        );
    }
    assert!(!snapshot.join("README.md").exists());

    let before = requests.lock().unwrap().len();
    let second = succeeded(generate());
    assert_eq!(second, first);
    let again = requests.lock().unwrap()[before..].to_vec();
    assert!(
        again.is_empty(),
        "the cached folder asked the hub: {again:?}"
    );
}
