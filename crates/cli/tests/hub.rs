//! `--model hf:OWNER/REPO:QUANT` against a local HTTP server standing in for the Hugging Face
//! hub (`HF_ENDPOINT`): the GGUF file of that quantization is chosen from the repository's
//! listing, downloaded into the hub cache under `HF_HOME` (a download broken halfway is resumed
//! with a range request) and generates; the next run uses the cache without asking the hub.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::support::{bin, succeeded};

const REPO: &str = "someone/SmolLM2-135M-Instruct-GGUF";
const FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// A hub serving one repository: its listing, and `FILE` from `bytes` (the first full download
/// is cut off halfway, as a dropped connection would). Records each request line and range.
struct FakeHub {
    address: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl FakeHub {
    fn start(bytes: Vec<u8>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let bytes = Arc::new(bytes);
        std::thread::spawn(move || {
            let mut cut_once = true;
            for stream in listener.incoming().flatten() {
                let seen = answer(stream, &bytes, &mut cut_once);
                log.lock().unwrap().push(seen);
            }
        });
        FakeHub { address, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Answers one request; returns "PATH RANGE".
fn answer(mut stream: TcpStream, bytes: &[u8], cut_once: &mut bool) -> String {
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
    let seen = format!("{path} {}", range.as_deref().unwrap_or("-"));
    let (status, headers, body): (&str, String, Vec<u8>) = if path.starts_with("/api/models/") {
        let listing = format!(
            r#"{{"sha": "{COMMIT}", "siblings": [{{"rfilename": "README.md"}},
                {{"rfilename": "{FILE}"}}, {{"rfilename": "SmolLM2-135M-Instruct.Q8_0.gguf"}}]}}"#
        );
        (
            "200 OK",
            "Content-Type: application/json\r\n".into(),
            listing.into_bytes(),
        )
    } else if path == format!("/{REPO}/resolve/main/{FILE}") {
        let start: usize = range
            .as_deref()
            .and_then(|r| r.split('-').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let end = match range.as_deref().and_then(|r| r.split('-').nth(1)) {
            Some(end) if !end.is_empty() => end.parse::<usize>().unwrap() + 1,
            _ => bytes.len(),
        };
        let headers = format!(
            "ETag: \"deadbeef\"\r\nX-Repo-Commit: {COMMIT}\r\nContent-Range: bytes {start}-{}/{}\r\n",
            end - 1,
            bytes.len()
        );
        let mut body = bytes[start..end].to_vec();
        let full_length = body.len();
        if start == 0 && end == bytes.len() && std::mem::take(cut_once) {
            // Announce the whole file, send half, hang up.
            body.truncate(full_length / 2);
            let head = format!(
                "HTTP/1.1 206 Partial Content\r\n{headers}Content-Length: {full_length}\r\n\r\n"
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
            return seen;
        }
        ("206 Partial Content", headers, body)
    } else {
        ("404 Not Found", String::new(), b"not found".to_vec())
    };
    let head = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
    seen
}

#[test]
fn a_model_by_name_downloads_from_the_hub_resumes_and_is_cached() {
    let local = claude_files::shared_data_dir()
        .join("models/smollm2-135m-instruct-q4_1")
        .join(FILE);
    let original = std::fs::read(&local).unwrap();
    let hub = FakeHub::start(original.clone());
    let home = tempfile::tempdir().unwrap();
    let generate = || {
        bin()
            .args(["generate", "--model", &format!("hf:{REPO}:q4_1")])
            .args([
                "--prompt",
                "The capital of France is",
                "--max-new-tokens",
                "8",
            ])
            .args(["--temperature", "0"])
            .env("HF_ENDPOINT", format!("http://{}", hub.address))
            .env("HF_HOME", home.path())
            .output()
            .unwrap()
    };
    let first = succeeded(generate());
    assert!(first.contains("Paris"), "{first}");
    let cached: PathBuf = home
        .path()
        .join("hub/models--someone--SmolLM2-135M-Instruct-GGUF/snapshots")
        .join(COMMIT)
        .join(FILE);
    assert_eq!(std::fs::read(&cached).unwrap(), original);
    let requests = hub.requests();
    let file_path = format!("/{REPO}/resolve/main/{FILE}");
    let resumed = format!("{file_path} {}-", original.len() / 2);
    assert!(
        requests.iter().any(|r| r.starts_with("/api/models/")),
        "{requests:?}"
    );
    assert!(
        requests.contains(&resumed),
        "no resumed range request: {requests:?}"
    );

    // Cached: the hub is not asked for the file again.
    let before = hub.requests().len();
    let second = succeeded(generate());
    assert_eq!(second, first);
    let again: Vec<String> = hub.requests()[before..].to_vec();
    assert!(
        again.iter().all(|r| !r.starts_with(&file_path)),
        "{again:?}"
    );

    // A quantization the repository does not have is named with what it has.
    let output = bin()
        .args([
            "generate",
            "--model",
            &format!("hf:{REPO}:Q5_K_M"),
            "--prompt",
            "x",
        ])
        .env("HF_ENDPOINT", format!("http://{}", hub.address))
        .env("HF_HOME", home.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("0 GGUF files match \"Q5_K_M\"") && err.contains(FILE),
        "{err}"
    );
}
