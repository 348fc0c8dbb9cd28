//! A character-level tokenizer: one id per distinct character of the training corpus, in code
//! point order, as nanoGPT's `shakespeare_char` builds it (`sorted(set(text))`).

use std::collections::BTreeSet;
use std::path::PathBuf;

use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::text_stream::{CutRule, TextChunks, Utf8Policy};

/// Maps each character of a fixed alphabet to an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharTokenizer {
    chars: Vec<char>,
    ids: FxHashMap<char, u32>,
}

impl CharTokenizer {
    /// The tokenizer for exactly these characters (sorted and deduplicated).
    pub fn new(chars: impl IntoIterator<Item = char>) -> Self {
        let chars: Vec<char> = chars
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let ids = chars
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, i as u32))
            .collect();
        CharTokenizer { chars, ids }
    }

    /// The alphabet of the given texts.
    pub fn from_texts<S: AsRef<str>>(texts: &[S]) -> Self {
        Self::new(
            texts
                .iter()
                .flat_map(|t| t.as_ref().chars().collect::<Vec<_>>()),
        )
    }

    /// The alphabet of text files, streamed.
    pub fn from_files(paths: &[PathBuf], policy: Utf8Policy) -> Result<Self> {
        let mut chars = BTreeSet::new();
        for path in paths {
            for chunk in TextChunks::open(path, CutRule::AnyNewline, policy)? {
                chars.extend(chunk?.chars());
            }
        }
        Ok(Self::new(chars))
    }

    /// The characters, by id.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// Number of characters.
    pub fn vocab_size(&self) -> usize {
        self.chars.len()
    }

    /// One id per character; a character outside the alphabet is an error.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        text.char_indices()
            .map(|(offset, ch)| {
                self.ids
                    .get(&ch)
                    .copied()
                    .ok_or(Error::UnknownChar { ch, offset })
            })
            .collect()
    }

    /// The text of the ids.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        ids.iter()
            .enumerate()
            .map(|(position, &id)| {
                self.chars
                    .get(id as usize)
                    .copied()
                    .ok_or(Error::IdOutOfRange {
                        id,
                        position,
                        vocab_size: self.chars.len(),
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_code_point_order() {
        let tok = CharTokenizer::from_texts(&["hello world\n"]);
        assert_eq!(tok.chars(), ['\n', ' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w']);
        let ids = tok.encode("hello").unwrap();
        assert_eq!(ids, [4, 3, 5, 5, 6]);
        assert_eq!(tok.decode(&ids).unwrap(), "hello");
    }

    #[test]
    fn unknown_chars_and_ids_are_errors() {
        let tok = CharTokenizer::from_texts(&["ab"]);
        assert!(matches!(
            tok.encode("abc"),
            Err(Error::UnknownChar { ch: 'c', offset: 2 })
        ));
        assert!(matches!(
            tok.decode(&[0, 7]),
            Err(Error::IdOutOfRange {
                id: 7,
                position: 1,
                ..
            })
        ));
    }
}
