//! The default corpus, tinyshakespeare (1,115,394 bytes): from the shared data when it is there,
//! else from the user's cache, else downloaded from its canonical address into that cache, as
//! nanoGPT's `data/shakespeare_char/prepare.py` does. The download streams into a temporary file
//! beside its destination, is checked against the file's SHA-256 and only then renamed into
//! place, so an interrupted or corrupted download never leaves a file that looks complete.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use claude_files::{AtomicFile, shared_data_dir};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Where tinyshakespeare is published (Karpathy's char-rnn repository).
pub const TINYSHAKESPEARE_URL: &str =
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt";
/// Overrides [`TINYSHAKESPEARE_URL`] (a mirror, or a local server in tests).
pub const TINYSHAKESPEARE_URL_ENV: &str = "CLAUDE_RUST_TINYSHAKESPEARE_URL";
/// Names the cache directory (default `$XDG_CACHE_HOME/claude-rust`, else
/// `~/.cache/claude-rust`).
pub const CACHE_ENV: &str = "CLAUDE_RUST_CACHE";
/// SHA-256 of the canonical file.
const TINYSHAKESPEARE_SHA256: &str =
    "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed";
const FILE_NAME: &str = "tinyshakespeare.txt";

/// The path of tinyshakespeare, downloading it into the cache first if neither the shared data
/// nor the cache holds it.
pub fn default_corpus() -> Result<PathBuf> {
    let url = std::env::var(TINYSHAKESPEARE_URL_ENV).unwrap_or_else(|_| TINYSHAKESPEARE_URL.into());
    find_or_download(
        &shared_data_dir(),
        &cache_dir(),
        &url,
        TINYSHAKESPEARE_SHA256,
    )
}

/// `<shared>/text/tinyshakespeare.txt`, else `<cache>/data/tinyshakespeare.txt`, downloaded
/// from `url` first when missing.
fn find_or_download(shared: &Path, cache: &Path, url: &str, sha256: &str) -> Result<PathBuf> {
    let in_shared = shared.join("text").join(FILE_NAME);
    if in_shared.is_file() {
        return Ok(in_shared);
    }
    let cached = cache.join("data").join(FILE_NAME);
    if cached.is_file() {
        return Ok(cached);
    }
    download(url, &cached, sha256).map_err(|reason| Error::Download {
        url: url.to_string(),
        reason,
        destination: cached.clone(),
    })?;
    Ok(cached)
}

/// The user's cache directory for claude-rust.
fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_ENV) {
        return dir.into();
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("claude-rust");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache").join("claude-rust")
}

/// Downloads `url` to `destination` with a progress bar on the terminal, checking its SHA-256;
/// the error is a sentence for the user.
fn download(url: &str, destination: &Path, sha256: &str) -> std::result::Result<(), String> {
    let dir = destination.parent().expect("the cache path has a parent");
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let response = ureq::get(url).call().map_err(|e| e.to_string())?;
    let length = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let progress = length.map_or_else(ProgressBar::new_spinner, ProgressBar::new);
    progress.set_style(
        ProgressStyle::with_template("{msg} {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec})")
            .expect("a valid template"),
    );
    progress.set_message(format!("downloading {url}"));
    let mut body = response.into_body().into_reader();
    let mut file = AtomicFile::create(destination)
        .map_err(|e| format!("creating a file in {}: {e}", dir.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = body.read(&mut buffer).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n])
            .map_err(|e| format!("writing {}: {e}", destination.display()))?;
        progress.inc(n as u64);
    }
    progress.finish_and_clear();
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if digest != sha256 {
        return Err(format!(
            "the downloaded file's SHA-256 is {digest}, not tinyshakespeare's {sha256}"
        ));
    }
    file.commit()
        .map_err(|e| format!("renaming into {}: {e}", destination.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    use super::*;

    /// Serves `body` over HTTP on loopback to `requests` clients, one after another.
    fn serve(body: &'static [u8], requests: usize) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/input.txt", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming().take(requests) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 2 {
                    line.clear();
                }
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                stream.write_all(head.as_bytes()).unwrap();
                stream.write_all(body).unwrap();
            }
        });
        url
    }

    fn sha256_hex(bytes: &[u8]) -> String {
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn a_missing_corpus_is_downloaded_once_into_the_cache() {
        const BODY: &[u8] = b"First Citizen:\nBefore we proceed any further, hear me speak.\n";
        let (shared, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let url = serve(BODY, 1);
        let sha = sha256_hex(BODY);
        let path = find_or_download(shared.path(), cache.path(), &url, &sha).unwrap();
        assert_eq!(path, cache.path().join("data/tinyshakespeare.txt"));
        assert_eq!(std::fs::read(&path).unwrap(), BODY);
        // The second time it comes from the cache: the server has stopped answering.
        assert_eq!(
            find_or_download(shared.path(), cache.path(), &url, &sha).unwrap(),
            path
        );
        // A copy in the shared data wins.
        std::fs::create_dir_all(shared.path().join("text")).unwrap();
        std::fs::write(shared.path().join("text/tinyshakespeare.txt"), BODY).unwrap();
        assert_eq!(
            find_or_download(shared.path(), cache.path(), &url, &sha).unwrap(),
            shared.path().join("text/tinyshakespeare.txt")
        );
    }

    #[test]
    fn a_corrupted_download_leaves_nothing_behind() {
        let (shared, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let url = serve(b"not shakespeare", 1);
        let err = find_or_download(shared.path(), cache.path(), &url, TINYSHAKESPEARE_SHA256)
            .unwrap_err()
            .to_string();
        assert!(err.contains("SHA-256") && err.contains(&url), "{err}");
        let left: Vec<_> = std::fs::read_dir(cache.path().join("data"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn offline_the_error_names_the_address_and_where_the_file_goes() {
        let (shared, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        // A port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/input.txt");
        let err = find_or_download(shared.path(), cache.path(), &url, TINYSHAKESPEARE_SHA256)
            .unwrap_err()
            .to_string();
        let destination = cache.path().join("data/tinyshakespeare.txt");
        assert!(err.contains(&url), "{err}");
        assert!(err.contains(&destination.display().to_string()), "{err}");
    }
}
