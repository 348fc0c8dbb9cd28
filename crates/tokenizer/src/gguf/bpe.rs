//! Byte-level BPE from GGUF (`tokenizer.ggml.model = "gpt2"`): the vocabulary and merges become
//! a [`BpeTokenizer`] (whose merge engine encodes each pre-token); the pre-tokenizer is the one
//! `tokenizer.ggml.pre` names.

use claude_gguf::Metadata;
use rustc_hash::FxHashSet;

use super::config::MERGES_KEY;
use super::error::{GgufError, GgufResult};
use super::pre::PreTokenizer;
use super::vocab::{TokenType, Vocab};
use crate::bpe::BpeTokenizer;
use crate::bytes::{decode_token, encode_token};
use crate::pretokenize::Pattern;

/// A GGUF byte-level BPE model.
#[derive(Debug, Clone)]
pub(crate) struct GgufBpe {
    /// Token bytes, merges and the merge engine. Its own pattern is unused: pieces come from
    /// `pre`.
    inner: BpeTokenizer,
    pre: PreTokenizer,
    /// A pre-token that is itself a token is output as that token (Llama 3).
    ignore_merges: bool,
    /// Number of real tokens. Bytes the vocabulary has no token for (SmolLM2 lacks a few
    /// control bytes) get stand-in ids from here on, which encoding drops, as llama.cpp drops
    /// what it cannot spell.
    n_tokens: u32,
}

impl GgufBpe {
    /// Builds the model from `vocab` and the merges in `metadata`.
    pub(crate) fn new(
        vocab: &Vocab,
        metadata: &Metadata,
        pre: PreTokenizer,
        ignore_merges: bool,
    ) -> GgufResult<Self> {
        // Ordinary tokens are stored in GPT-2's printable byte form; the others as their text.
        let ordinary = |id: usize| vocab.types[id] == TokenType::Normal;
        let mut tokens: Vec<Vec<u8>> = vocab
            .texts
            .iter()
            .enumerate()
            .map(
                |(id, text)| match ordinary(id).then(|| decode_token(text)).flatten() {
                    Some(bytes) => bytes,
                    None => text.as_bytes().to_vec(),
                },
            )
            .collect();
        let mut has_byte = [false; 256];
        for (id, bytes) in tokens.iter().enumerate() {
            if let [b] = bytes[..]
                && ordinary(id)
            {
                has_byte[b as usize] = true;
            }
        }
        let n_tokens = tokens.len() as u32;
        tokens.extend(
            (0..=255u8)
                .filter(|&b| !has_byte[b as usize])
                .map(|b| vec![b]),
        );
        let specials: Vec<u32> = (0..vocab.len())
            .filter(|&id| !ordinary(id))
            .map(|id| id as u32)
            .collect();
        let merges = merge_pairs(vocab, metadata.get_str_array(MERGES_KEY)?);
        let inner = BpeTokenizer::new(tokens, merges, specials, Pattern::Gpt2).map_err(|e| {
            GgufError::Vocab {
                path: vocab.path().to_path_buf(),
                key: MERGES_KEY,
                message: format!("the vocabulary and merges do not form a byte-level BPE: {e}"),
            }
        })?;
        Ok(GgufBpe {
            inner,
            pre,
            ignore_merges,
            n_tokens,
        })
    }

    /// The pre-tokenizer.
    pub(crate) fn pre(&self) -> PreTokenizer {
        self.pre
    }

    /// The merges that can apply, in rank order, as `tokenizer.ggml.merges` lines (`left
    /// right`, each in its stored text).
    pub(crate) fn merge_lines(&self, vocab: &Vocab) -> Vec<String> {
        self.inner
            .merges()
            .iter()
            .map(|&(l, r)| format!("{} {}", vocab.texts[l as usize], vocab.texts[r as usize]))
            .collect()
    }

    /// The bytes an ordinary token stands for.
    pub(crate) fn token_bytes(&self, id: u32) -> &[u8] {
        &self.inner.tokens()[id as usize]
    }

    /// Appends the ids of `text` (no special tokens in it) to `out`.
    pub(crate) fn encode_into(&self, vocab: &Vocab, text: &str, out: &mut Vec<u32>) {
        let start = out.len();
        let mut symbols = Vec::new();
        self.pre.split(text, |piece| {
            if self.ignore_merges
                && let Some(id) = vocab.id(&encode_token(piece.as_bytes()))
            {
                out.push(id);
                return;
            }
            self.inner.encode_piece(piece, &mut symbols, out);
        });
        if self.inner.vocab_size() > self.n_tokens as usize {
            let mut kept = start;
            for i in start..out.len() {
                if out[i] < self.n_tokens {
                    out[kept] = out[i];
                    kept += 1;
                }
            }
            out.truncate(kept);
        }
    }
}

/// The merges as id pairs in rank order. As in llama.cpp each line is split at its first space
/// after the first byte and a pair keeps its first rank; merges that name or produce a string
/// that is not an ordinary token are left out (they can never apply).
fn merge_pairs(vocab: &Vocab, lines: &[String]) -> Vec<(u32, u32)> {
    let ordinary = |text: &str| {
        vocab
            .id(text)
            .filter(|&id| vocab.types[id as usize] == TokenType::Normal)
    };
    let mut seen = FxHashSet::default();
    let mut pairs = Vec::with_capacity(lines.len());
    let mut joined = String::new();
    for line in lines {
        let Some(split) = line.bytes().skip(1).position(|b| b == b' ').map(|p| p + 1) else {
            continue;
        };
        let (left, right) = (&line[..split], &line[split + 1..]);
        joined.clear();
        joined.push_str(left);
        joined.push_str(right);
        if let (Some(l), Some(r), Some(_)) = (ordinary(left), ordinary(right), ordinary(&joined))
            && seen.insert((l, r))
        {
            pairs.push((l, r));
        }
    }
    pairs
}
