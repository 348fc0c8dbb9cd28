//! Training a byte-level BPE vocabulary.
//!
//! 1. Count pre-tokens: corpora are streamed in chunks (see [`crate::text_stream`]), split at
//!    special tokens, pre-tokenized and counted in parallel with rayon. Memory grows with the
//!    number of distinct pre-tokens, not with the corpus.
//! 2. Merge: each distinct pre-token is a word of symbols with a count. The pair with the highest
//!    count is merged into a new token; **ties go to the lexicographically greater pair**,
//!    comparing the left token's bytes, then the right's. After a merge only the words that held
//!    the pair are revisited and their pair counts updated (the corpus is never recounted).
//!
//! Ids: special tokens first, then the 256 bytes in GPT-2's order, then one id per merge.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::path::PathBuf;
use std::rc::Rc;

use aho_corasick::{AhoCorasick, MatchKind};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::bpe::BpeTokenizer;
use crate::error::{Error, Result};
use crate::pretokenize::Pattern;
use crate::text_stream::{CutRule, TextChunks, Utf8Policy, split_for_parallel};

/// Settings for training a BPE tokenizer.
#[derive(Debug, Clone)]
pub struct BpeTrainer {
    /// Target vocabulary size, special tokens and the 256 byte tokens included.
    pub vocab_size: usize,
    /// Special tokens: added to the vocabulary (first ids) and never merged across.
    pub special_tokens: Vec<String>,
    /// Pre-tokenization pattern.
    pub pattern: Pattern,
    /// What to do with invalid UTF-8 in the corpus.
    pub utf8_policy: Utf8Policy,
    /// Draw progress bars on the terminal.
    pub show_progress: bool,
}

impl BpeTrainer {
    /// A trainer for `vocab_size` tokens with the GPT-2 pattern and no special tokens.
    pub fn new(vocab_size: usize) -> Self {
        BpeTrainer {
            vocab_size,
            special_tokens: Vec::new(),
            pattern: Pattern::Gpt2,
            utf8_policy: Utf8Policy::Error,
            show_progress: false,
        }
    }

    /// Sets the special tokens.
    pub fn with_special_tokens<S: Into<String>>(
        mut self,
        tokens: impl IntoIterator<Item = S>,
    ) -> Self {
        self.special_tokens = tokens.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the pre-tokenization pattern.
    pub fn with_pattern(mut self, pattern: Pattern) -> Self {
        self.pattern = pattern;
        self
    }

    /// Sets the policy for invalid UTF-8.
    pub fn with_utf8_policy(mut self, policy: Utf8Policy) -> Self {
        self.utf8_policy = policy;
        self
    }

    /// Turns progress bars on or off.
    pub fn with_progress(mut self, show: bool) -> Self {
        self.show_progress = show;
        self
    }

    fn check(&self) -> Result<()> {
        let minimum = 256 + self.special_tokens.len();
        if self.vocab_size < minimum {
            return Err(Error::VocabTooSmall {
                requested: self.vocab_size,
                minimum,
                specials: self.special_tokens.len(),
            });
        }
        if let Some(empty) = self.special_tokens.iter().position(String::is_empty) {
            return Err(Error::InvalidArgument {
                field: "special token",
                message: format!("special token {empty} is empty"),
            });
        }
        let distinct: FxHashSet<&String> = self.special_tokens.iter().collect();
        if distinct.len() != self.special_tokens.len() {
            return Err(Error::InvalidArgument {
                field: "special token",
                message: "special tokens must be distinct".into(),
            });
        }
        Ok(())
    }

    /// Trains on the concatenation of text files, streamed.
    pub fn train_files(&self, paths: &[PathBuf]) -> Result<BpeTokenizer> {
        self.check()?;
        if paths.is_empty() {
            return Err(Error::InvalidArgument {
                field: "input",
                message: "no input files".into(),
            });
        }
        let mut total = 0;
        for path in paths {
            total += std::fs::metadata(path)
                .map_err(|e| Error::io(path, e))?
                .len();
        }
        let bar = self.progress(
            total,
            "counting  {bar:40} {bytes}/{total_bytes} {bytes_per_sec}",
        );
        let mut counter = PretokenCounter::new(self.pattern, &self.special_tokens);
        for path in paths {
            for chunk in TextChunks::open(path, CutRule::Pattern(self.pattern), self.utf8_policy)? {
                let chunk = chunk?;
                counter.add(&chunk);
                bar.inc(chunk.len() as u64);
            }
        }
        bar.finish_and_clear();
        Ok(self.merge(counter.counts))
    }

    /// Trains on in-memory texts (each a separate document).
    pub fn train_from_texts<S: AsRef<str>>(&self, texts: &[S]) -> Result<BpeTokenizer> {
        self.check()?;
        let mut counter = PretokenCounter::new(self.pattern, &self.special_tokens);
        for text in texts {
            counter.add(text.as_ref());
        }
        Ok(self.merge(counter.counts))
    }

    fn progress(&self, len: u64, template: &str) -> ProgressBar {
        if !self.show_progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        bar.set_style(ProgressStyle::with_template(template).expect("valid progress template"));
        bar
    }

    fn merge(&self, counts: FxHashMap<String, u64>) -> BpeTokenizer {
        let mut tokens: Vec<Vec<u8>> = self
            .special_tokens
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        let specials: Vec<u32> = (0..tokens.len() as u32).collect();
        tokens.extend(BpeTokenizer::base_tokens());
        let byte_id = {
            let mut ids = [0u32; 256];
            for (id, token) in tokens.iter().enumerate().skip(specials.len()) {
                ids[token[0] as usize] = id as u32;
            }
            ids
        };
        let words: Vec<Word> = counts
            .into_iter()
            .map(|(text, count)| Word {
                symbols: text.bytes().map(|b| byte_id[b as usize]).collect(),
                count: count as i64,
            })
            .collect();
        let wanted = self.vocab_size - tokens.len();
        let bar = self.progress(wanted as u64, "merging   {bar:40} {pos}/{len} merges");
        let merges = PairMerger::new(words, &tokens).run(wanted, &mut tokens, &bar);
        bar.finish_and_clear();
        BpeTokenizer::new(tokens, merges, specials, self.pattern)
            .expect("a trained vocabulary is consistent")
    }
}

/// Counts distinct pre-tokens over a stream of texts.
struct PretokenCounter {
    pattern: Pattern,
    specials: Option<AhoCorasick>,
    counts: FxHashMap<String, u64>,
}

/// Texts are cut into pieces of about this size for the rayon workers.
const PARALLEL_PIECE: usize = 256 << 10;

impl PretokenCounter {
    fn new(pattern: Pattern, special_tokens: &[String]) -> Self {
        let specials = (!special_tokens.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(special_tokens)
                .expect("special tokens form a valid automaton")
        });
        PretokenCounter {
            pattern,
            specials,
            counts: FxHashMap::default(),
        }
    }

    fn add(&mut self, text: &str) {
        let pattern = self.pattern;
        let segments: Vec<&str> = match &self.specials {
            Some(matcher) => {
                let mut segments = Vec::new();
                let mut start = 0;
                for m in matcher.find_iter(text) {
                    segments.push(&text[start..m.start()]);
                    start = m.end();
                }
                segments.push(&text[start..]);
                segments
            }
            None => vec![text],
        };
        let pieces: Vec<&str> = segments
            .into_iter()
            .flat_map(|s| split_for_parallel(s, PARALLEL_PIECE, CutRule::Pattern(pattern)))
            .collect();
        let local = pieces
            .par_iter()
            .fold(FxHashMap::<&str, u64>::default, |mut counts, piece| {
                pattern.split(piece, |pre_token| {
                    *counts.entry(pre_token).or_default() += 1
                });
                counts
            })
            .reduce(FxHashMap::default, |mut a, mut b| {
                if a.len() < b.len() {
                    std::mem::swap(&mut a, &mut b);
                }
                for (k, v) in b {
                    *a.entry(k).or_default() += v;
                }
                a
            });
        for (pre_token, n) in local {
            match self.counts.get_mut(pre_token) {
                Some(count) => *count += n,
                None => {
                    self.counts.insert(pre_token.to_owned(), n);
                }
            }
        }
    }
}

/// A distinct pre-token: its current symbols and how often it occurs.
struct Word {
    symbols: Vec<u32>,
    count: i64,
}

type Pair = (u32, u32);

/// A pair waiting in the heap with the count it had when pushed.
struct Candidate {
    count: i64,
    pair: Pair,
    left: Rc<[u8]>,
    right: Rc<[u8]>,
}

impl Ord for Candidate {
    /// Highest count first; ties to the lexicographically greater (left bytes, right bytes).
    fn cmp(&self, other: &Self) -> Ordering {
        self.count
            .cmp(&other.count)
            .then_with(|| self.left.cmp(&other.left))
            .then_with(|| self.right.cmp(&other.right))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

/// The merge loop's state: words, pair counts, and which words hold each pair.
struct PairMerger {
    words: Vec<Word>,
    token_bytes: Vec<Rc<[u8]>>,
    pair_counts: FxHashMap<Pair, i64>,
    pair_words: FxHashMap<Pair, FxHashSet<u32>>,
    heap: BinaryHeap<Candidate>,
}

impl PairMerger {
    fn new(words: Vec<Word>, tokens: &[Vec<u8>]) -> Self {
        let mut pair_counts: FxHashMap<Pair, i64> = FxHashMap::default();
        let mut pair_words: FxHashMap<Pair, FxHashSet<u32>> = FxHashMap::default();
        for (index, word) in words.iter().enumerate() {
            for pair in word.symbols.windows(2) {
                let pair = (pair[0], pair[1]);
                *pair_counts.entry(pair).or_default() += word.count;
                pair_words.entry(pair).or_default().insert(index as u32);
            }
        }
        let mut merger = PairMerger {
            words,
            token_bytes: tokens.iter().map(|t| Rc::from(t.as_slice())).collect(),
            pair_counts,
            pair_words,
            heap: BinaryHeap::new(),
        };
        let initial: Vec<(Pair, i64)> = merger.pair_counts.iter().map(|(&p, &c)| (p, c)).collect();
        for (pair, count) in initial {
            merger.push(pair, count);
        }
        merger
    }

    fn push(&mut self, pair: Pair, count: i64) {
        self.heap.push(Candidate {
            count,
            pair,
            left: self.token_bytes[pair.0 as usize].clone(),
            right: self.token_bytes[pair.1 as usize].clone(),
        });
    }

    /// Learns up to `wanted` merges, appending each new token to `tokens`.
    fn run(mut self, wanted: usize, tokens: &mut Vec<Vec<u8>>, bar: &ProgressBar) -> Vec<Pair> {
        let mut merges = Vec::with_capacity(wanted);
        while merges.len() < wanted {
            let Some(top) = self.heap.pop() else { break };
            let current = self.pair_counts.get(&top.pair).copied().unwrap_or(0);
            if current != top.count {
                if current > 0 {
                    self.push(top.pair, current);
                }
                continue;
            }
            let new_id = tokens.len() as u32;
            let bytes = [&*top.left, &*top.right].concat();
            self.token_bytes.push(Rc::from(bytes.as_slice()));
            tokens.push(bytes);
            merges.push(top.pair);
            self.apply(top.pair, new_id);
            bar.inc(1);
        }
        merges
    }

    /// Replaces `pair` by `new_id` in every word that holds it, updating the counts.
    fn apply(&mut self, pair: Pair, new_id: u32) {
        let holders = self.pair_words.remove(&pair).unwrap_or_default();
        self.pair_counts.remove(&pair);
        let mut new_pairs: FxHashSet<Pair> = FxHashSet::default();
        for index in holders {
            let word = &mut self.words[index as usize];
            if !word.symbols.windows(2).any(|w| (w[0], w[1]) == pair) {
                continue;
            }
            for w in word.symbols.windows(2) {
                let old = (w[0], w[1]);
                if old != pair {
                    *self.pair_counts.get_mut(&old).expect("counted pair") -= word.count;
                }
            }
            merge_in_place(&mut word.symbols, pair, new_id);
            for w in word.symbols.windows(2) {
                let new = (w[0], w[1]);
                *self.pair_counts.entry(new).or_default() += word.count;
                if new.0 == new_id || new.1 == new_id {
                    new_pairs.insert(new);
                    self.pair_words.entry(new).or_default().insert(index);
                }
            }
        }
        for new in new_pairs {
            let count = self.pair_counts[&new];
            self.push(new, count);
        }
    }
}

/// Replaces each non-overlapping occurrence of `pair`, left to right, by `merged`.
fn merge_in_place(symbols: &mut Vec<u32>, pair: Pair, merged: u32) {
    let mut write = 0;
    let mut read = 0;
    while read < symbols.len() {
        if read + 1 < symbols.len() && (symbols[read], symbols[read + 1]) == pair {
            symbols[write] = merged;
            read += 2;
        } else {
            symbols[write] = symbols[read];
            read += 1;
        }
        write += 1;
    }
    symbols.truncate(write);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_follow_counts_then_greater_bytes() {
        // "low low low lower newest newest": the cs336 handout's worked example shape.
        let text = "low low low low low lower lower widest widest widest newest newest newest newest newest newest";
        let tok = BpeTrainer::new(256 + 6).train_from_texts(&[text]).unwrap();
        let merged: Vec<String> = tok
            .merges()
            .iter()
            .map(|&(l, r)| {
                let t = tok.tokens();
                format!(
                    "{}+{}",
                    String::from_utf8_lossy(&t[l as usize]),
                    String::from_utf8_lossy(&t[r as usize])
                )
            })
            .collect();
        // " n"+"e"... counts: "s t" and "e s" tie at 9 (newest x6, widest x3); "st" > "es".
        assert_eq!(merged[0], "s+t");
        assert_eq!(merged[1], "e+st");
        assert_eq!(tok.vocab_size(), 262);
    }

    #[test]
    fn merge_in_place_is_left_to_right() {
        let mut s = vec![1, 1, 1, 2, 1, 1];
        merge_in_place(&mut s, (1, 1), 9);
        assert_eq!(s, [9, 1, 2, 9]);
    }

    #[test]
    fn too_small_vocab_is_an_error() {
        let err = BpeTrainer::new(256)
            .with_special_tokens(["<|endoftext|>"])
            .train_from_texts(&["x"]);
        assert!(matches!(
            err,
            Err(Error::VocabTooSmall { minimum: 257, .. })
        ));
    }
}
