//! SentencePiece BPE (`tokenizer.ggml.model = "llama"`: Llama 1/2, Phi-3), as llama.cpp runs it:
//! start from the characters of the text, repeatedly join the adjacent pair whose joined text is
//! the token with the highest score (the leftmost among equals), and spell whatever is not a
//! token as its bytes with the `<0xXX>` byte-fallback tokens.
//!
//! The text arrives with spaces already written as `▁` (U+2581) and the leading space added.
//!
//! Built from a Hugging Face `tokenizer.json` instead ([`Spm::with_merges`]), a pair joins only
//! where the file lists it as a merge, the lowest-ranked first (the leftmost among equals), as
//! Hugging Face's BPE with byte fallback runs it; the pieces and byte fallback are the same.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use super::vocab::Vocab;

/// The byte-fallback tokens of a SentencePiece vocabulary.
#[derive(Debug, Clone)]
pub(crate) struct Spm {
    /// The token of each byte: `<0xXX>`, else the one-character token of an ASCII byte.
    byte_ids: [Option<u32>; 256],
    /// Spelt where a byte has no token.
    unk: Option<u32>,
    /// The rank of each merge `(left, right)`, when the pairs that join are listed (Hugging
    /// Face); `None`: any pair whose joined text is a token joins, by the token's score.
    ranks: Option<FxHashMap<(u32, u32), u32>>,
}

/// A run of the text that is one symbol: `start..start + len` (len 0 once merged away).
#[derive(Debug, Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A candidate join of two adjacent symbols.
#[derive(Debug, Clone, Copy)]
struct Bigram {
    left: usize,
    right: usize,
    score: f32,
    /// Bytes of the joined text, to tell when a candidate is stale.
    len: usize,
}

impl Ord for Bigram {
    fn cmp(&self, other: &Self) -> Ordering {
        // Highest score first, then the leftmost.
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Bigram {}

impl Spm {
    /// Finds the byte-fallback tokens of `vocab`; `unk` is spelt for bytes that have none.
    pub(crate) fn new(vocab: &Vocab, unk: Option<u32>) -> Self {
        let mut byte_ids = [None; 256];
        for (b, slot) in byte_ids.iter_mut().enumerate() {
            *slot = vocab.id(&format!("<0x{b:02X}>")).or_else(|| {
                u8::try_from(b)
                    .ok()
                    .filter(u8::is_ascii)
                    .and_then(|b| vocab.id(&char::from(b).to_string()))
            });
        }
        Spm {
            byte_ids,
            unk,
            ranks: None,
        }
    }

    /// Joins only the pairs `ranks` lists, the lowest rank first, instead of by token scores.
    pub(crate) fn with_merges(mut self, ranks: FxHashMap<(u32, u32), u32>) -> Self {
        self.ranks = Some(ranks);
        self
    }

    /// Appends the ids of `text` (spaces already escaped) to `out`.
    pub(crate) fn encode_into(&self, vocab: &Vocab, text: &str, out: &mut Vec<u32>) {
        let mut symbols: Vec<Symbol> = Vec::with_capacity(text.len());
        for (i, (start, c)) in text.char_indices().enumerate() {
            symbols.push(Symbol {
                start,
                len: c.len_utf8(),
                prev: i.checked_sub(1),
                next: None,
            });
            if i > 0 {
                symbols[i - 1].next = Some(i);
            }
        }
        if symbols.is_empty() {
            return;
        }
        let mut queue = BinaryHeap::new();
        for i in 1..symbols.len() {
            self.push_bigram(vocab, text, &symbols, i - 1, i, &mut queue);
        }
        while let Some(bigram) = queue.pop() {
            let (left, right) = (symbols[bigram.left], symbols[bigram.right]);
            if left.len == 0 || right.len == 0 || left.len + right.len != bigram.len {
                continue;
            }
            symbols[bigram.left].len += right.len;
            symbols[bigram.right].len = 0;
            symbols[bigram.left].next = right.next;
            if let Some(next) = right.next {
                symbols[next].prev = Some(bigram.left);
            }
            if let Some(prev) = left.prev {
                self.push_bigram(vocab, text, &symbols, prev, bigram.left, &mut queue);
            }
            if let Some(next) = right.next {
                self.push_bigram(vocab, text, &symbols, bigram.left, next, &mut queue);
            }
        }
        let mut at = Some(0);
        while let Some(i) = at {
            let symbol = symbols[i];
            let piece = &text[symbol.start..symbol.start + symbol.len];
            match vocab.id(piece) {
                Some(id) => out.push(id),
                None => out.extend(
                    piece
                        .bytes()
                        .filter_map(|b| self.byte_ids[b as usize].or(self.unk)),
                ),
            }
            at = symbol.next;
        }
    }
}

impl Spm {
    /// Each token's score for joining by scores, as llama.cpp does: the vocabulary's own, or,
    /// with listed merges, minus the lowest rank of a merge that makes the token (the order
    /// Hugging Face's converter gives SentencePiece's pieces), and below every merge for tokens
    /// no merge makes.
    pub(crate) fn scores<'a>(&self, vocab: &'a Vocab) -> Cow<'a, [f32]> {
        let Some(ranks) = &self.ranks else {
            return Cow::Borrowed(&vocab.scores);
        };
        // Exact: ranks stay below 2^24.
        let floor = -(ranks.values().copied().max().unwrap_or(0) as f32) - 1.0;
        let mut scores = vec![floor; vocab.len()];
        let mut joined = String::new();
        for (&(a, b), &rank) in ranks {
            joined.clear();
            joined.push_str(&vocab.texts[a as usize]);
            joined.push_str(&vocab.texts[b as usize]);
            if let Some(id) = vocab.id(&joined) {
                let score = &mut scores[id as usize];
                *score = score.max(-(rank as f32));
            }
        }
        Cow::Owned(scores)
    }

    /// Queues the join of symbols `left` and `right` if their joined text is a token (and,
    /// with listed merges, the pair is one).
    fn push_bigram(
        &self,
        vocab: &Vocab,
        text: &str,
        symbols: &[Symbol],
        left: usize,
        right: usize,
        queue: &mut BinaryHeap<Bigram>,
    ) {
        let (l, r) = (symbols[left], symbols[right]);
        // Adjacent symbols are adjacent in the text, so the joined text is one slice.
        let joined = &text[l.start..r.start + r.len];
        let Some(id) = vocab.id(joined) else {
            return;
        };
        let score = match &self.ranks {
            None => vocab.scores[id as usize],
            Some(ranks) => {
                let pair = (
                    vocab.id(&text[l.start..l.start + l.len]),
                    vocab.id(&text[r.start..r.start + r.len]),
                );
                let (Some(a), Some(b)) = pair else {
                    return;
                };
                let Some(&rank) = ranks.get(&(a, b)) else {
                    return;
                };
                // Exact: ranks stay below 2^24.
                -(rank as f32)
            }
        };
        queue.push(Bigram {
            left,
            right,
            score,
            len: joined.len(),
        });
    }
}
