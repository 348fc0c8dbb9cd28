//! BERT's special tokens: their names, their ids, and finding them where the input text spells
//! them out (as Hugging Face's `tokenizers` does with its added tokens).

use aho_corasick::{AhoCorasick, MatchKind};

/// The texts of the special tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecialTokenNames {
    /// What a word with no split becomes (`[UNK]`).
    pub unk: String,
    /// Starts every encoded sequence (`[CLS]`).
    pub cls: String,
    /// Ends every encoded sequence (`[SEP]`).
    pub sep: String,
    /// Fills a batch's shorter sequences (`[PAD]`).
    pub pad: String,
    /// Masked-language-model placeholder (`[MASK]`).
    pub mask: String,
}

impl Default for SpecialTokenNames {
    /// BERT's names.
    fn default() -> Self {
        SpecialTokenNames {
            unk: "[UNK]".into(),
            cls: "[CLS]".into(),
            sep: "[SEP]".into(),
            pad: "[PAD]".into(),
            mask: "[MASK]".into(),
        }
    }
}

impl SpecialTokenNames {
    /// The five names, in the order unk, cls, sep, pad, mask.
    pub fn all(&self) -> [&str; 5] {
        [&self.unk, &self.cls, &self.sep, &self.pad, &self.mask]
    }
}

/// The ids of the special tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialTokenIds {
    /// `[UNK]`.
    pub unk: u32,
    /// `[CLS]`.
    pub cls: u32,
    /// `[SEP]`.
    pub sep: u32,
    /// `[PAD]`.
    pub pad: u32,
    /// `[MASK]`.
    pub mask: u32,
}

impl SpecialTokenIds {
    /// Whether `id` is one of them.
    pub fn contains(&self, id: u32) -> bool {
        [self.unk, self.cls, self.sep, self.pad, self.mask].contains(&id)
    }
}

/// A stretch of input text: ordinary text, or a special token spelled out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// Text to normalize and split.
    Text(&'a str),
    /// The id of a special token found in the text.
    Special(u32),
}

/// Finds special tokens in raw text, exactly as written (case and all), longest first where
/// two start at the same place.
#[derive(Debug, Clone)]
pub(crate) struct SpecialMatcher {
    automaton: AhoCorasick,
    ids: Vec<u32>,
}

impl SpecialMatcher {
    /// A matcher for `tokens` (text, id); `None` when there are none to find. Fails only when
    /// the automaton would be too large.
    pub(crate) fn new(tokens: &[(String, u32)]) -> Result<Option<Self>, aho_corasick::BuildError> {
        let tokens: Vec<&(String, u32)> = tokens.iter().filter(|(t, _)| !t.is_empty()).collect();
        if tokens.is_empty() {
            return Ok(None);
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(tokens.iter().map(|(t, _)| t))?;
        let ids = tokens.iter().map(|&&(_, id)| id).collect();
        Ok(Some(SpecialMatcher { automaton, ids }))
    }

    /// Calls `emit` with the pieces of `text` in order (no empty text pieces).
    pub(crate) fn split<'a>(&self, text: &'a str, mut emit: impl FnMut(Piece<'a>)) {
        let mut start = 0;
        for m in self.automaton.find_iter(text) {
            if m.start() > start {
                emit(Piece::Text(&text[start..m.start()]));
            }
            emit(Piece::Special(self.ids[m.pattern().as_usize()]));
            start = m.end();
        }
        if start < text.len() {
            emit(Piece::Text(&text[start..]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_specials_as_written() {
        let tokens = [("[CLS]".to_string(), 101), ("[MASK]".to_string(), 103)];
        let matcher = SpecialMatcher::new(&tokens).unwrap().unwrap();
        let mut pieces = Vec::new();
        matcher.split("a [MASK][CLS]b [mask]", |p| pieces.push(p));
        use Piece::*;
        assert_eq!(
            pieces,
            [Text("a "), Special(103), Special(101), Text("b [mask]")]
        );
        assert!(SpecialMatcher::new(&[]).unwrap().is_none());
    }
}
