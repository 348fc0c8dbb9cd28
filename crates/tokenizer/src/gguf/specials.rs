//! Cutting special tokens out of text before it is tokenized, as llama.cpp does: user-defined
//! tokens always, control and unknown tokens only when special tokens are parsed; longer tokens
//! first; white space beside a token stripped where its attributes say so.

use aho_corasick::{AhoCorasick, MatchKind};

use super::vocab::{Attr, Vocab};

/// A stretch of the input: text still to tokenize, or a special token found in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fragment<'a> {
    /// Text to tokenize.
    Text(&'a str),
    /// A special token.
    Token(u32),
}

/// The special tokens of a vocabulary, longest first.
#[derive(Debug, Clone)]
pub(crate) struct Specials {
    /// Ids, by decreasing text length (then increasing id).
    ids: Vec<u32>,
    /// Finds which of `ids` occur in a text at all (pattern `i` is `ids[i]`).
    matcher: Option<AhoCorasick>,
}

/// C's `isspace`, which llama.cpp strips with.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0B' | '\x0C' | '\r')
}

impl Specials {
    /// The special tokens of `vocab` (after its attribute fix-ups).
    pub(crate) fn new(vocab: &Vocab) -> Self {
        let mut ids: Vec<u32> = (0..vocab.len() as u32)
            .filter(|&id| vocab.is_special(id))
            .collect();
        ids.sort_by_key(|&id| std::cmp::Reverse(vocab.texts[id as usize].len()));
        let matcher = (!ids.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(ids.iter().map(|&id| &vocab.texts[id as usize]))
                .expect("token texts form a valid automaton")
        });
        Specials { ids, matcher }
    }

    /// Splits `text` into fragments. With `parse_special` false only user-defined tokens are cut
    /// out.
    pub(crate) fn partition<'a>(
        &self,
        vocab: &Vocab,
        text: &'a str,
        parse_special: bool,
    ) -> Vec<Fragment<'a>> {
        let mut fragments = Vec::new();
        if text.is_empty() {
            return fragments;
        }
        fragments.push(Fragment::Text(text));
        let Some(matcher) = &self.matcher else {
            return fragments;
        };
        let mut present = vec![false; self.ids.len()];
        for m in matcher.find_overlapping_iter(text) {
            present[m.pattern().as_usize()] = true;
        }
        let mut next = Vec::new();
        for (i, &id) in self.ids.iter().enumerate() {
            let attr = vocab.attrs[id as usize];
            if !present[i] || (!parse_special && attr.has(Attr::CONTROL | Attr::UNKNOWN)) {
                continue;
            }
            let token = vocab.texts[id as usize].as_str();
            for fragment in fragments.drain(..) {
                match fragment {
                    Fragment::Text(text) => cut(text, token, id, attr, &mut next),
                    token @ Fragment::Token(_) => next.push(token),
                }
            }
            std::mem::swap(&mut fragments, &mut next);
        }
        fragments
    }
}

/// Pushes `text` with every occurrence of `token` cut out as `Fragment::Token(id)`.
fn cut<'a>(text: &'a str, token: &str, id: u32, attr: Attr, out: &mut Vec<Fragment<'a>>) {
    let mut rest = text;
    while let Some(at) = rest.find(token) {
        let mut left = &rest[..at];
        if attr.has(Attr::LSTRIP) {
            left = left.trim_end_matches(is_c_space);
        }
        if !left.is_empty() {
            out.push(Fragment::Text(left));
        }
        out.push(Fragment::Token(id));
        rest = &rest[at + token.len()..];
        if attr.has(Attr::RSTRIP) {
            rest = rest.trim_start_matches(is_c_space);
        }
    }
    if !rest.is_empty() {
        out.push(Fragment::Text(rest));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_strips_where_asked() {
        let mut out = Vec::new();
        cut("a <x>  b<x>", "<x>", 7, Attr::RSTRIP, &mut out);
        assert_eq!(
            out,
            [
                Fragment::Text("a "),
                Fragment::Token(7),
                Fragment::Text("b"),
                Fragment::Token(7)
            ]
        );
        out.clear();
        cut("a \n<x>", "<x>", 7, Attr::LSTRIP, &mut out);
        assert_eq!(out, [Fragment::Text("a"), Fragment::Token(7)]);
    }
}
