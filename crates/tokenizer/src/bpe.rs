//! The byte-level BPE tokenizer: vocabulary, merges, special tokens, encode and decode.

use aho_corasick::{AhoCorasick, MatchKind};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::bytes::byte_order;
use crate::error::{Error, Result};
use crate::merge::MergeTable;
use crate::pretokenize::Pattern;

/// Which special tokens `encode_with_special` turns into their ids.
#[derive(Debug, Clone, Copy)]
pub enum AllowedSpecial<'a> {
    /// None: special-token text is encoded as ordinary text.
    None,
    /// Every special token of the tokenizer.
    All,
    /// Only these.
    Only(&'a [&'a str]),
}

/// A byte-level BPE tokenizer (GPT-2 style): every byte is a token, so nothing is unknown.
///
/// Build one with [`crate::BpeTrainer`], [`crate::files::load_bpe`] or [`BpeTokenizer::new`].
#[derive(Debug, Clone)]
pub struct BpeTokenizer {
    /// Bytes of each token, by id (a special token's bytes are its UTF-8 text).
    tokens: Vec<Vec<u8>>,
    /// Id of each single byte.
    byte_ids: [u32; 256],
    /// Merges in rank order.
    merge_list: Vec<(u32, u32)>,
    merges: MergeTable,
    /// Tokens whose own bytes encode to exactly themselves: a whole pre-token found here needs
    /// no merging (checked when the tokenizer is built, so the shortcut never changes a result).
    whole_pieces: FxHashMap<Vec<u8>, u32>,
    /// Special tokens: text and id.
    specials: Vec<(String, u32)>,
    special_matcher: Option<AhoCorasick>,
    pattern: Pattern,
}

impl BpeTokenizer {
    /// Builds a tokenizer from its parts, checking that they fit together.
    ///
    /// `tokens[id]` holds each token's bytes; `merges` are `(left, right)` id pairs in rank order,
    /// each producing the token whose bytes are the concatenation; `specials` are ids of tokens
    /// whose bytes are special-token text.
    pub fn new(
        tokens: Vec<Vec<u8>>,
        merges: Vec<(u32, u32)>,
        specials: Vec<u32>,
        pattern: Pattern,
    ) -> Result<Self> {
        let invalid = |message: String| Error::InvalidArgument {
            field: "tokenizer",
            message,
        };
        let mut ids: FxHashMap<&[u8], u32> = FxHashMap::default();
        for (id, bytes) in tokens.iter().enumerate() {
            if !specials.contains(&(id as u32))
                && let Some(previous) = ids.insert(bytes, id as u32)
            {
                return Err(invalid(format!(
                    "tokens {previous} and {id} have the same bytes"
                )));
            }
        }
        let mut byte_ids = [0u32; 256];
        for b in 0..=255u8 {
            byte_ids[b as usize] = *ids
                .get(&[b][..])
                .ok_or_else(|| invalid(format!("no token for byte 0x{b:02x}")))?;
        }
        let mut table = MergeTable::default();
        for (rank, &(left, right)) in merges.iter().enumerate() {
            let part = |id: u32| {
                tokens.get(id as usize).ok_or_else(|| {
                    invalid(format!(
                        "merge {rank} names token {id}, which does not exist"
                    ))
                })
            };
            let joined = [part(left)?.as_slice(), part(right)?.as_slice()].concat();
            let merged = *ids.get(joined.as_slice()).ok_or_else(|| {
                invalid(format!(
                    "merge {rank} produces {joined:?}, which is not in the vocabulary"
                ))
            })?;
            table.insert(left, right, rank as u32, merged);
        }
        let specials = specials
            .into_iter()
            .map(|id| {
                let bytes = tokens
                    .get(id as usize)
                    .ok_or_else(|| invalid(format!("special token id {id} does not exist")))?;
                let text = String::from_utf8(bytes.clone())
                    .map_err(|_| invalid(format!("special token {id} is not UTF-8")))?;
                Ok((text, id))
            })
            .collect::<Result<Vec<_>>>()?;
        let special_matcher = (!specials.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(specials.iter().map(|(text, _)| text))
                .expect("special tokens form a valid automaton")
        });
        let mut tokenizer = BpeTokenizer {
            tokens,
            byte_ids,
            merge_list: merges,
            merges: table,
            whole_pieces: FxHashMap::default(),
            specials,
            special_matcher,
            pattern,
        };
        tokenizer.whole_pieces = tokenizer.self_encoding_tokens();
        Ok(tokenizer)
    }

    fn self_encoding_tokens(&self) -> FxHashMap<Vec<u8>, u32> {
        (0..self.tokens.len() as u32)
            .into_par_iter()
            .filter(|&id| !self.is_special(id))
            .filter_map(|id| {
                let bytes = &self.tokens[id as usize];
                let mut symbols: Vec<u32> =
                    bytes.iter().map(|&b| self.byte_ids[b as usize]).collect();
                self.merges.apply(&mut symbols);
                (symbols == [id]).then(|| (bytes.clone(), id))
            })
            .collect()
    }

    /// The base byte tokens in GPT-2's order, for building a fresh vocabulary.
    pub fn base_tokens() -> impl Iterator<Item = Vec<u8>> {
        byte_order().iter().map(|&b| vec![b])
    }

    /// Number of tokens, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The pre-tokenization pattern.
    pub fn pattern(&self) -> Pattern {
        self.pattern
    }

    /// The bytes of every token, by id.
    pub fn tokens(&self) -> &[Vec<u8>] {
        &self.tokens
    }

    /// The merges, in rank order.
    pub fn merges(&self) -> &[(u32, u32)] {
        &self.merge_list
    }

    /// Special tokens as `(text, id)`.
    pub fn special_tokens(&self) -> &[(String, u32)] {
        &self.specials
    }

    /// The id of a special token, if the tokenizer has it.
    pub fn special_id(&self, text: &str) -> Option<u32> {
        self.specials
            .iter()
            .find(|(t, _)| t == text)
            .map(|&(_, id)| id)
    }

    fn is_special(&self, id: u32) -> bool {
        self.specials.iter().any(|&(_, s)| s == id)
    }

    /// Encodes text, treating special-token text as ordinary text.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3);
        self.encode_ordinary_into(text, &mut out);
        out
    }

    /// Encodes text, turning the allowed special tokens into their ids.
    pub fn encode_with_special(&self, text: &str, allowed: AllowedSpecial<'_>) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3);
        let matcher = match (&self.special_matcher, allowed) {
            (Some(matcher), AllowedSpecial::All | AllowedSpecial::Only(_)) => matcher,
            _ => {
                self.encode_ordinary_into(text, &mut out);
                return out;
            }
        };
        let mut start = 0;
        for m in matcher.find_iter(text) {
            let (special, id) = &self.specials[m.pattern().as_usize()];
            if let AllowedSpecial::Only(only) = allowed
                && !only.contains(&special.as_str())
            {
                continue;
            }
            self.encode_ordinary_into(&text[start..m.start()], &mut out);
            out.push(*id);
            start = m.end();
        }
        self.encode_ordinary_into(&text[start..], &mut out);
        out
    }

    /// Encodes many texts in parallel (rayon), each as [`BpeTokenizer::encode`] would.
    pub fn encode_batch<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Vec<Vec<u32>> {
        texts.par_iter().map(|t| self.encode(t.as_ref())).collect()
    }

    /// Appends the ids of `text` (no special tokens) to `out`.
    pub fn encode_ordinary_into(&self, text: &str, out: &mut Vec<u32>) {
        let mut symbols = Vec::new();
        self.pattern
            .split(text, |piece| self.encode_piece(piece, &mut symbols, out));
    }

    /// Appends the ids of one pre-token, merged as a whole (for pre-tokenizers outside
    /// [`Pattern`]); `symbols` is scratch space.
    pub(crate) fn encode_piece(&self, piece: &str, symbols: &mut Vec<u32>, out: &mut Vec<u32>) {
        if let Some(&id) = self.whole_pieces.get(piece.as_bytes()) {
            out.push(id);
            return;
        }
        symbols.clear();
        symbols.extend(piece.bytes().map(|b| self.byte_ids[b as usize]));
        self.merges.apply(symbols);
        out.extend_from_slice(symbols);
    }

    /// The bytes the ids stand for (exact: a character split across ids stays split).
    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for (position, &id) in ids.iter().enumerate() {
            let token = self.tokens.get(id as usize).ok_or(Error::IdOutOfRange {
                id,
                position,
                vocab_size: self.tokens.len(),
            })?;
            out.extend_from_slice(token);
        }
        Ok(out)
    }

    /// Decodes ids to text; bytes that do not form valid UTF-8 become U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let bytes = self.decode_bytes(ids)?;
        Ok(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
        })
    }
}
