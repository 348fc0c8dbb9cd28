//! Reading corpora as a stream of text chunks, so memory does not grow with the corpus.
//!
//! A file is read in blocks and each block is cut at a newline where no pre-token can span the
//! cut (see [`Pattern::is_safe_cut_before_newline`]), so tokenizing the chunks one by one gives the
//! same pieces as tokenizing the whole file. Invalid UTF-8 is reported with the file and the byte
//! offset, or replaced, or skipped, as the [`Utf8Policy`] says.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::pretokenize::Pattern;

/// What to do with bytes that are not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Utf8Policy {
    /// Stop with an error naming the file and byte offset.
    #[default]
    Error,
    /// Replace each invalid sequence with U+FFFD.
    Replace,
    /// Drop invalid bytes.
    Skip,
}

impl std::str::FromStr for Utf8Policy {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "error" => Ok(Utf8Policy::Error),
            "replace" => Ok(Utf8Policy::Replace),
            "skip" => Ok(Utf8Policy::Skip),
            other => Err(format!(
                "unknown policy {other:?} (expected error, replace or skip)"
            )),
        }
    }
}

/// Where chunks may be cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutRule {
    /// Before a newline that follows a character the BPE pattern never joins across it.
    Pattern(Pattern),
    /// Before any newline (character-level tokenizers split every character anyway).
    AnyNewline,
}

impl CutRule {
    fn allows_cut_after(self, before: char) -> bool {
        match self {
            CutRule::Pattern(pattern) => pattern.is_safe_cut_before_newline(before),
            CutRule::AnyNewline => true,
        }
    }

    /// The largest index `i <= limit` in `text` where `text[i] == '\n'` and a cut is allowed.
    pub fn last_cut_in(self, text: &[u8], limit: usize) -> Option<usize> {
        let limit = limit.min(text.len().saturating_sub(1));
        (1..=limit).rev().find(|&i| {
            text[i] == b'\n' && last_char(&text[..i]).is_some_and(|c| self.allows_cut_after(c))
        })
    }
}

/// The last character of `bytes`, if its tail is valid UTF-8.
fn last_char(bytes: &[u8]) -> Option<char> {
    let start = bytes.len().saturating_sub(4);
    (start..bytes.len())
        .find_map(|i| std::str::from_utf8(&bytes[i..]).ok())
        .and_then(|s| s.chars().next_back())
}

/// Default block size for reading corpora.
pub const DEFAULT_BLOCK: usize = 8 << 20;

/// Iterator over the text chunks of a byte range of one file.
pub struct TextChunks {
    path: PathBuf,
    file: File,
    /// File offset of `buffer[0]`.
    offset: u64,
    /// Bytes of the range not read yet.
    remaining: u64,
    buffer: Vec<u8>,
    block: usize,
    rule: CutRule,
    policy: Utf8Policy,
}

impl TextChunks {
    /// Opens `path` and reads the whole file.
    pub fn open(path: &Path, rule: CutRule, policy: Utf8Policy) -> Result<Self> {
        let len = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        Self::open_range(path, 0..len, rule, policy, DEFAULT_BLOCK)
    }

    /// Opens `path` and reads the bytes in `range` (which must start on a character boundary).
    pub fn open_range(
        path: &Path,
        range: Range<u64>,
        rule: CutRule,
        policy: Utf8Policy,
        block: usize,
    ) -> Result<Self> {
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        file.seek(SeekFrom::Start(range.start))
            .map_err(|e| Error::io(path, e))?;
        Ok(TextChunks {
            path: path.to_path_buf(),
            file,
            offset: range.start,
            remaining: range.end.saturating_sub(range.start),
            buffer: Vec::new(),
            block: block.max(1),
            rule,
            policy,
        })
    }

    fn fill(&mut self) -> Result<usize> {
        let want = (self.block as u64).min(self.remaining) as usize;
        let start = self.buffer.len();
        self.buffer.resize(start + want, 0);
        let mut read = 0;
        while read < want {
            match self.file.read(&mut self.buffer[start + read..]) {
                Ok(0) => break,
                Ok(n) => read += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(&self.path, e)),
            }
        }
        self.buffer.truncate(start + read);
        self.remaining = if read < want {
            0
        } else {
            self.remaining - read as u64
        };
        Ok(read)
    }

    fn next_chunk(&mut self) -> Result<Option<String>> {
        let cut = loop {
            let read = self.fill()?;
            if read == 0 || self.remaining == 0 {
                if self.buffer.is_empty() {
                    return Ok(None);
                }
                break self.buffer.len();
            }
            if let Some(cut) = self.rule.last_cut_in(&self.buffer, self.buffer.len() - 1) {
                break cut;
            }
        };
        let rest = self.buffer.split_off(cut);
        let chunk = std::mem::replace(&mut self.buffer, rest);
        let chunk_offset = self.offset;
        self.offset += cut as u64;
        decode_utf8(chunk, &self.path, chunk_offset, self.policy).map(Some)
    }
}

impl Iterator for TextChunks {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_chunk().transpose()
    }
}

/// Turns raw bytes into text under `policy`; `offset` is the file offset of `bytes[0]`.
pub fn decode_utf8(bytes: Vec<u8>, path: &Path, offset: u64, policy: Utf8Policy) -> Result<String> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(err) => {
            let bad_at = err.utf8_error().valid_up_to();
            let bytes = err.into_bytes();
            match policy {
                Utf8Policy::Error => Err(Error::InvalidUtf8 {
                    path: path.to_path_buf(),
                    offset: offset + bad_at as u64,
                }),
                Utf8Policy::Replace => Ok(String::from_utf8_lossy(&bytes).into_owned()),
                Utf8Policy::Skip => Ok(bytes.utf8_chunks().map(|chunk| chunk.valid()).collect()),
            }
        }
    }
}

/// Splits `text` into pieces of roughly `target` bytes at cuts allowed by `rule`, for parallel
/// work on one chunk. Pieces may be larger when no cut is allowed nearby.
pub fn split_for_parallel(text: &str, target: usize, rule: CutRule) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut pieces = Vec::new();
    let mut start = 0;
    while bytes.len() - start > target {
        let window = &bytes[start..];
        let Some(cut) = rule
            .last_cut_in(window, target)
            .filter(|&cut| cut > 0)
            .or_else(|| {
                (target..window.len()).find(|&i| {
                    window[i] == b'\n'
                        && last_char(&window[..i]).is_some_and(|c| rule.allows_cut_after(c))
                })
            })
        else {
            break;
        };
        pieces.push(&text[start..start + cut]);
        start += cut;
    }
    pieces.push(&text[start..]);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn chunks_of(content: &[u8], block: usize, policy: Utf8Policy) -> Result<Vec<String>> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(content).unwrap();
        let len = content.len() as u64;
        TextChunks::open_range(
            file.path(),
            0..len,
            CutRule::Pattern(Pattern::Gpt2),
            policy,
            block,
        )?
        .collect()
    }

    #[test]
    fn chunks_concatenate_to_the_file_and_cut_at_safe_newlines() {
        let text = "first line\n\n  second line.\nthird\nfourth 🚀\nfifth\n".repeat(20);
        let chunks = chunks_of(text.as_bytes(), 16, Utf8Policy::Error).unwrap();
        assert!(chunks.len() > 10);
        assert_eq!(chunks.concat(), text);
        for chunk in &chunks[1..] {
            assert!(chunk.starts_with('\n'), "{chunk:?}");
        }
    }

    #[test]
    fn invalid_utf8_reports_the_offset_or_is_replaced_or_skipped() {
        let bytes = b"valid text\nmore \xFF\xFE here\n";
        let err = chunks_of(bytes, 1024, Utf8Policy::Error).unwrap_err();
        assert!(
            matches!(err, Error::InvalidUtf8 { offset: 16, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("byte offset 16"));
        let replaced = chunks_of(bytes, 1024, Utf8Policy::Replace)
            .unwrap()
            .concat();
        assert_eq!(replaced, "valid text\nmore \u{FFFD}\u{FFFD} here\n");
        let skipped = chunks_of(bytes, 1024, Utf8Policy::Skip).unwrap().concat();
        assert_eq!(skipped, "valid text\nmore  here\n");
    }

    #[test]
    fn invalid_utf8_offset_is_counted_across_chunks() {
        let mut bytes = b"line one\nline two\nline three\n".to_vec();
        bytes.push(0xC3);
        bytes.extend_from_slice(b"x\n");
        let err = chunks_of(&bytes, 8, Utf8Policy::Error).unwrap_err();
        assert!(
            matches!(err, Error::InvalidUtf8 { offset: 29, .. }),
            "{err}"
        );
    }

    #[test]
    fn parallel_pieces_cover_the_text() {
        let text = "alpha beta\ngamma\n\ndelta\n".repeat(50);
        let pieces = split_for_parallel(&text, 40, CutRule::Pattern(Pattern::Gpt4));
        assert!(pieces.len() > 5);
        assert_eq!(pieces.concat(), text);
    }
}
