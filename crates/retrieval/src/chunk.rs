//! Cutting documents into overlapping windows of tokens for indexing, each chunk keeping its
//! source and byte offsets so that an answer can cite where it came from.
//!
//! Windows are made of whole words (runs of non-whitespace): a word's tokens are counted by the
//! embedder's tokenizer, and WordPiece (like byte-level BPE, whose words carry their leading
//! space) splits words independently of each other, so the counts add up to what the whole
//! window encodes to. A window holds at most `tokens` tokens (a word
//! longer than that is a chunk of its own, which the embedder then cuts); the next window
//! starts so that it repeats at least `overlap` tokens of the previous one, or all of it but its
//! first word when that is fewer (every window moves on by at least a word).

use std::path::{Path, PathBuf};

/// How documents are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChunkConfig {
    /// Most tokens per chunk (special tokens not counted).
    pub tokens: usize,
    /// Tokens each chunk repeats from the one before.
    pub overlap: usize,
}

impl Default for ChunkConfig {
    /// 200 tokens with 40 of overlap: under all-MiniLM-L6-v2's 256 with room for `[CLS]` and
    /// `[SEP]`.
    fn default() -> Self {
        ChunkConfig {
            tokens: 200,
            overlap: 40,
        }
    }
}

impl ChunkConfig {
    /// Checks that chunks hold something and advance.
    pub fn validate(&self) -> Result<(), ChunkConfigError> {
        if self.tokens == 0 {
            return Err(ChunkConfigError::Empty);
        }
        if self.overlap >= self.tokens {
            return Err(ChunkConfigError::OverlapTooLarge {
                overlap: self.overlap,
                tokens: self.tokens,
            });
        }
        Ok(())
    }
}

/// A [`ChunkConfig`] whose chunks would hold nothing or never advance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkConfigError {
    /// Chunks of 0 tokens.
    #[error("chunk size must be at least 1 token")]
    Empty,
    /// An overlap as large as the chunk: the next chunk would not move on.
    #[error("chunk overlap {overlap} must be smaller than the chunk size {tokens}")]
    OverlapTooLarge {
        /// The overlap asked for.
        overlap: usize,
        /// The chunk size.
        tokens: usize,
    },
}

/// A piece of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The document it comes from.
    pub source: PathBuf,
    /// Byte offset of its first character in the document.
    pub start: usize,
    /// Byte offset just past its last character.
    pub end: usize,
    /// `document[start..end]`.
    pub text: String,
    /// Its tokens (special tokens not counted).
    pub tokens: usize,
}

/// A word of the text: its byte span and token count.
struct Word {
    start: usize,
    end: usize,
    tokens: usize,
}

/// Cuts `text` (the contents of `source`) into chunks as `config` says, counting a word's
/// tokens with `count_tokens` (the embedder's tokenizer, without special tokens). A text of only
/// whitespace has no chunks.
///
/// # Panics
/// If `config` does not [validate](ChunkConfig::validate).
pub fn chunk_text(
    source: &Path,
    text: &str,
    count_tokens: &dyn Fn(&str) -> usize,
    config: ChunkConfig,
) -> Vec<Chunk> {
    config.validate().expect("a valid chunk config");
    let words = words(text, count_tokens);
    let mut chunks = Vec::new();
    let mut first = 0;
    while first < words.len() {
        // Take words while they fit (always at least one).
        let mut last = first;
        let mut tokens = words[first].tokens;
        while last + 1 < words.len() && tokens + words[last + 1].tokens <= config.tokens {
            last += 1;
            tokens += words[last].tokens;
        }
        let (start, end) = (words[first].start, words[last].end);
        chunks.push(Chunk {
            source: source.to_path_buf(),
            start,
            end,
            text: text[start..end].to_string(),
            tokens,
        });
        if last + 1 == words.len() {
            break;
        }
        // Step back from the end until the repeated words hold `overlap` tokens, but always
        // move forward by at least one word.
        let mut next = last + 1;
        let mut repeated = 0;
        while next > first + 1 && repeated < config.overlap {
            next -= 1;
            repeated += words[next].tokens;
        }
        first = next;
    }
    chunks
}

/// The words of `text` with their token counts (words that encode to nothing, such as control
/// characters, are left out).
fn words(text: &str, count_tokens: &dyn Fn(&str) -> usize) -> Vec<Word> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                let tokens = count_tokens(&text[s..i]);
                if tokens > 0 {
                    words.push(Word {
                        start: s,
                        end: i,
                        tokens,
                    });
                }
                start = None;
            }
            _ => {}
        }
    }
    words
}

/// The text and Markdown files (`.txt`, `.md`, `.markdown`) among `paths`, folders searched
/// recursively, sorted; a file named directly is taken whatever its extension.
pub fn collect_documents(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut found)?;
        } else {
            std::fs::metadata(path)?;
            found.push(path.clone());
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, found)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ["txt", "md", "markdown"].contains(&e.to_ascii_lowercase().as_str()))
        {
            found.push(path);
        }
    }
    Ok(())
}
