//! The WordPiece model: a vocabulary and the greedy longest-match-first split of one word.

use rustc_hash::FxHashMap;

/// A WordPiece vocabulary, indexed for splitting words: word-initial pieces by their text and
/// continuation pieces by their text without the prefix, so that no lookup builds a string.
#[derive(Debug, Clone)]
pub(crate) struct WordPieceModel {
    /// Every token, by id.
    tokens: Vec<Box<str>>,
    /// Every token, by its text (a piece that may start a word).
    initial: FxHashMap<Box<str>, u32>,
    /// The tokens that start with the continuation prefix, by their text after it.
    continuation: FxHashMap<Box<str>, u32>,
    /// The longest key of `initial`, in bytes: longer candidates are never looked up.
    longest_initial: usize,
    /// The longest key of `continuation`, in bytes.
    longest_continuation: usize,
    /// The continuation prefix (`##`).
    prefix: Box<str>,
    /// The id a word becomes when it cannot be split or is too long.
    unk: u32,
    /// Words of more characters than this become `unk` whole.
    max_word_chars: usize,
}

impl WordPieceModel {
    /// Indexes `tokens` (id = position). Returns the first token that occurs twice, with both
    /// its ids, as the error.
    pub(crate) fn new(
        tokens: Vec<Box<str>>,
        prefix: &str,
        unk: u32,
        max_word_chars: usize,
    ) -> Result<Self, (Box<str>, u32, u32)> {
        let mut initial = FxHashMap::with_capacity_and_hasher(tokens.len(), Default::default());
        let mut continuation = FxHashMap::default();
        for (id, token) in (0u32..).zip(&tokens) {
            if let Some(first) = initial.insert(token.clone(), id) {
                return Err((token.clone(), first, id));
            }
            if prefix.is_empty() {
                continuation.insert(token.clone(), id);
            } else if let Some(rest) = token.strip_prefix(prefix) {
                continuation.insert(rest.into(), id);
            }
        }
        let longest = |map: &FxHashMap<Box<str>, u32>| map.keys().map(|k| k.len()).max();
        Ok(WordPieceModel {
            longest_initial: longest(&initial).unwrap_or(0),
            longest_continuation: longest(&continuation).unwrap_or(0),
            tokens,
            initial,
            continuation,
            prefix: prefix.into(),
            unk,
            max_word_chars,
        })
    }

    /// Number of ids.
    pub(crate) fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The id of a token.
    pub(crate) fn token_to_id(&self, token: &str) -> Option<u32> {
        self.initial.get(token).copied()
    }

    /// The text of an id.
    pub(crate) fn id_to_token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(|t| &**t)
    }

    /// Sets the id a word becomes when it cannot be split or is too long.
    pub(crate) fn set_unk(&mut self, unk: u32) {
        self.unk = unk;
    }

    /// The continuation prefix.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Appends the ids of `word` to `out`: at each position the longest piece in the
    /// vocabulary (a continuation piece after the first), or one `unk` for the whole word when
    /// some position has none or the word is longer than the limit.
    pub(crate) fn split_word(&self, word: &str, out: &mut Vec<u32>) {
        // A word of at most `max_word_chars` bytes cannot have more characters.
        if word.len() > self.max_word_chars && word.chars().count() > self.max_word_chars {
            out.push(self.unk);
            return;
        }
        let first = out.len();
        let mut start = 0;
        while start < word.len() {
            let (pieces, longest) = if start == 0 {
                (&self.initial, self.longest_initial)
            } else {
                (&self.continuation, self.longest_continuation)
            };
            let mut end = word.floor_char_boundary(start.saturating_add(longest));
            loop {
                if end <= start {
                    out.truncate(first);
                    out.push(self.unk);
                    return;
                }
                if let Some(&id) = pieces.get(&word[start..end]) {
                    out.push(id);
                    start = end;
                    break;
                }
                end = word.floor_char_boundary(end - 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(tokens: &[&str]) -> WordPieceModel {
        let tokens = tokens.iter().map(|&t| t.into()).collect();
        WordPieceModel::new(tokens, "##", 0, 10).unwrap()
    }

    fn split(model: &WordPieceModel, word: &str) -> Vec<u32> {
        let mut out = vec![99];
        model.split_word(word, &mut out);
        out.split_off(1)
    }

    #[test]
    fn longest_match_first() {
        let m = model(&[
            "[UNK]", "un", "##aff", "##able", "unaff", "##a", "##ff", "é", "##é",
        ]);
        assert_eq!(split(&m, "unaffable"), [4, 3]);
        assert_eq!(split(&m, "unable"), [1, 3]);
        assert_eq!(split(&m, "éé"), [7, 8]);
        assert_eq!(split(&m, "unx"), [0]);
        assert_eq!(split(&m, "xun"), [0]);
        assert_eq!(split(&m, "unaffaffaff"), [0]); // 11 chars > 10
        assert_eq!(split(&m, "ééééé"), [7, 8, 8, 8, 8]); // 10 bytes, 5 chars
    }

    #[test]
    fn duplicate_tokens_are_reported() {
        let tokens = ["a", "b", "a"].iter().map(|&t| t.into()).collect();
        let err = WordPieceModel::new(tokens, "##", 0, 100).unwrap_err();
        assert_eq!(err, ("a".into(), 0, 2));
    }
}
