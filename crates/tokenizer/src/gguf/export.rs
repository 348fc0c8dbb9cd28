//! A tokenizer as GGUF vocabulary metadata (`tokenizer.ggml.*`), for the model files we write.
//!
//! Byte-level BPE becomes llama.cpp's `gpt2` model, with its tokens in GPT-2's printable byte
//! form, its merges, and its pattern as the pre-tokenizer llama.cpp splits the same way
//! (`gpt-2`, or `dbrx` for GPT-4's cl100k pattern). `<|endoftext|>`, when present, is a control
//! token and both BOS and EOS (GPT-2's convention); neither is added to a prompt.
//!
//! A [`GgufTokenizer`] is written the way llama.cpp's `convert_hf_to_gguf.py` writes one
//! ([`GgufTokenizer::gguf_metadata`]).

use claude_gguf::{Array, Value};

use super::config::{
    ADD_BOS_KEY, ADD_EOS_KEY, ADD_SPACE_PREFIX_KEY, ID_KEYS, MERGES_KEY, MODEL_KEY, PRE_KEY,
    SpecialIds, pre_name,
};
use super::vocab::{SCORES_KEY, TOKEN_TYPE_KEY, TOKENS_KEY, TokenType};
use super::{GgufTokenizer, Model};
use crate::bpe::BpeTokenizer;
use crate::bytes::encode_token;
use crate::error::{Error, Result};
use crate::pretokenize::Pattern;
use crate::tokenizer::{END_OF_TEXT, Tokenizer};

/// llama.cpp's token type ids.
const NORMAL: i32 = 1;
const CONTROL: i32 = 3;

/// The `tokenizer.ggml.*` metadata that gives `tokenizer`'s ids in llama.cpp and in
/// [`GgufTokenizer`] (for a [`Tokenizer::Gguf`], [`GgufTokenizer::gguf_metadata`]).
///
/// # Errors
/// [`Error::InvalidArgument`] for a character-level tokenizer (llama.cpp's vocabularies are
/// byte-level or SentencePiece BPE, which cannot say that a model has no end-of-text token).
pub fn gguf_metadata(tokenizer: &Tokenizer) -> Result<Vec<(String, Value)>> {
    match tokenizer {
        Tokenizer::Bpe(bpe) => Ok(bpe_metadata(bpe)),
        Tokenizer::Char(_) => Err(Error::InvalidArgument {
            field: "tokenizer",
            message: "a character-level tokenizer has no GGUF form (llama.cpp's vocabularies \
                      are byte-level BPE or SentencePiece); the GGUF file can only be used \
                      with the run's tokenizer/ directory"
                .into(),
        }),
        Tokenizer::Gguf(gguf) => Ok(gguf.gguf_metadata()),
    }
}

impl GgufTokenizer {
    /// The `tokenizer.ggml.*` metadata of this tokenizer, as llama.cpp's converter writes it.
    ///
    /// This tokenizer (read from a GGUF file, or built from a Hugging Face `tokenizer.json`) is
    /// written the way llama.cpp's `convert_hf_to_gguf.py` writes one: `tokenizer.ggml.model`
    /// (`gpt2` or `llama`), `pre`, `tokens`, `scores` (SentencePiece only), `token_type`, `merges`
    /// (byte-level BPE only), the special-token ids, and `add_bos_token` / `add_eos_token` /
    /// `add_space_prefix`. Read back ([`GgufTokenizer::from_metadata`], or llama.cpp) it gives the
    /// same ids. Written from a GGUF file's tokenizer, every key equals the file's (merges that can
    /// never apply, as they name no ordinary token, are left out). From `tokenizer.json`:
    ///
    /// - the pre-tokenizer's name is the one llama.cpp gives its split regex, `ignore_merges` and
    ///   `clean_up_tokenization_spaces` (`qwen2`, `llama-bpe`, `gpt-2`...);
    /// - SentencePiece-style BPE joins pairs by token scores in llama.cpp: each token's score is
    ///   minus the rank of the first merge that makes it (Hugging Face's converter ranks
    ///   SentencePiece's merges by the score of the piece they make), and lower than all of them
    ///   for tokens no merge makes. llama.cpp's converter reads the scores from `tokenizer.model`
    ///   where there is one, and writes -1000 for every token from `tokenizer.json` alone, which
    ///   joins pairs in the wrong order;
    /// - the special ids are those the post-processor and `tokenizer_config.json` name; the ones
    ///   found by their text (end of turn, fill-in-the-middle) are found again on reading.
    ///
    /// An id the tokenizer does not have is left out, and GGUF cannot say "none": reading takes
    /// llama.cpp's default for the model kind where it is a token (byte-level BPE: 11 for BOS and
    /// EOS; SentencePiece: BOS 1, EOS 2, unknown 0). Writers that know better add the id
    /// (llama.cpp's converter takes `bos_token_id` / `eos_token_id` from the model's
    /// `config.json`).
    ///
    /// Not carried, as GGUF has no key for them: an `NFC` normalizer (llama.cpp does not
    /// normalize), the `lstrip` / `rstrip` of added tokens, extra end-of-generation ids from
    /// `generation_config.json` (EOS, end of turn and the tokens llama.cpp knows by text still end
    /// generation), and `clean_up_tokenization_spaces` where no pre-tokenizer name has it with the
    /// same split.
    pub fn gguf_metadata(&self) -> Vec<(String, Value)> {
        let config = &self.config;
        let vocab = &self.vocab;
        let (model, pre) = match &self.model {
            Model::Bpe(bpe) => {
                let pre = config.pre_name.clone().unwrap_or_else(|| {
                    pre_name(bpe.pre(), config.ignore_merges, config.clean_spaces).to_owned()
                });
                ("gpt2", pre)
            }
            Model::Spm(_) => (
                "llama",
                config.pre_name.clone().unwrap_or_else(|| "default".into()),
            ),
        };
        let mut metadata: Vec<(String, Value)> = vec![
            (MODEL_KEY.into(), model.into()),
            (PRE_KEY.into(), pre.into()),
            (TOKENS_KEY.into(), vocab.texts.clone().into()),
        ];
        if let Model::Spm(spm) = &self.model {
            metadata.push((SCORES_KEY.into(), spm.scores(vocab).into_owned().into()));
        }
        let types: Vec<i32> = vocab.types.iter().map(|t| t.id()).collect();
        metadata.push((TOKEN_TYPE_KEY.into(), types.into()));
        if let Model::Bpe(bpe) = &self.model {
            metadata.push((MERGES_KEY.into(), bpe.merge_lines(vocab).into()));
        }
        metadata.extend(id_metadata(config.declared_ids));
        metadata.push((ADD_BOS_KEY.into(), config.add_bos.into()));
        metadata.push((ADD_EOS_KEY.into(), config.add_eos.into()));
        metadata.push((ADD_SPACE_PREFIX_KEY.into(), config.add_space_prefix.into()));
        metadata
    }
}

/// One `tokenizer.ggml.*_token_id` entry per id that is set (under the current spelling of
/// each key, not the older `prefix` / `suffix` / `middle` ones).
fn id_metadata(ids: SpecialIds) -> Vec<(String, Value)> {
    let mut seen = Vec::new();
    let mut metadata = Vec::new();
    for (key, slot) in ID_KEYS {
        // The slot a key fills, told apart by which field one id lands in.
        let mut probe = SpecialIds::default();
        *slot(&mut probe) = Some(0);
        if seen.contains(&probe) {
            continue;
        }
        seen.push(probe);
        let mut ids = ids;
        if let Some(id) = *slot(&mut ids) {
            metadata.push(((*key).to_owned(), id.into()));
        }
    }
    metadata
}

/// Pads the vocabulary in `metadata` (from [`gguf_metadata`]) to `n_tokens` tokens, as
/// llama.cpp's converter pads a tokenizer smaller than the model's token table: `[PAD{id}]`
/// tokens of the unused type (score -1000 where there are scores). llama.cpp needs one token
/// per row of the table.
///
/// # Errors
/// [`Error::InvalidArgument`] when the vocabulary has more than `n_tokens` tokens (the model
/// could not take its ids), or `metadata` has no token list.
pub fn pad_gguf_vocabulary(metadata: &mut [(String, Value)], n_tokens: usize) -> Result<()> {
    let invalid = |message: String| Error::InvalidArgument {
        field: "tokenizer",
        message,
    };
    let n = metadata
        .iter()
        .find_map(|(key, value)| match (key.as_str(), value) {
            (TOKENS_KEY, Value::Array(Array::String(tokens))) => Some(tokens.len()),
            _ => None,
        })
        .ok_or_else(|| invalid(format!("the metadata has no {TOKENS_KEY}")))?;
    if n > n_tokens {
        return Err(invalid(format!(
            "the tokenizer has {n} tokens, more than the model's {n_tokens}"
        )));
    }
    for (key, value) in metadata.iter_mut() {
        match (key.as_str(), value) {
            (TOKENS_KEY, Value::Array(Array::String(tokens))) => {
                tokens.extend((n..n_tokens).map(|id| format!("[PAD{id}]")));
            }
            (TOKEN_TYPE_KEY, Value::Array(Array::I32(types))) => {
                types.resize(n_tokens, TokenType::Unused.id());
            }
            (SCORES_KEY, Value::Array(Array::F32(scores))) => scores.resize(n_tokens, -1000.0),
            _ => {}
        }
    }
    Ok(())
}

fn bpe_metadata(bpe: &BpeTokenizer) -> Vec<(String, Value)> {
    let special = |id: usize| bpe.special_tokens().iter().any(|&(_, s)| s as usize == id);
    let tokens: Vec<String> = bpe
        .tokens()
        .iter()
        .enumerate()
        .map(|(id, bytes)| match special(id) {
            true => String::from_utf8_lossy(bytes).into_owned(),
            false => encode_token(bytes),
        })
        .collect();
    let types: Vec<i32> = (0..tokens.len())
        .map(|id| if special(id) { CONTROL } else { NORMAL })
        .collect();
    let merges: Vec<String> = bpe
        .merges()
        .iter()
        .map(|&(left, right)| {
            format!(
                "{} {}",
                encode_token(&bpe.tokens()[left as usize]),
                encode_token(&bpe.tokens()[right as usize])
            )
        })
        .collect();
    let pre = match bpe.pattern() {
        Pattern::Gpt2 => "gpt-2",
        Pattern::Gpt4 => "dbrx",
    };
    let mut metadata: Vec<(String, Value)> = vec![
        (MODEL_KEY.into(), "gpt2".into()),
        (PRE_KEY.into(), pre.into()),
        (TOKENS_KEY.into(), tokens.into()),
        (TOKEN_TYPE_KEY.into(), types.into()),
        (MERGES_KEY.into(), merges.into()),
        ("tokenizer.ggml.add_bos_token".into(), false.into()),
        ("tokenizer.ggml.add_eos_token".into(), false.into()),
    ];
    if let Some(id) = bpe.special_id(END_OF_TEXT) {
        metadata.push(("tokenizer.ggml.bos_token_id".into(), id.into()));
        metadata.push(("tokenizer.ggml.eos_token_id".into(), id.into()));
    }
    metadata
}

#[cfg(test)]
mod tests {
    use claude_gguf::Metadata;

    use super::*;
    use crate::gguf::{EncodeOptions, GgufTokenizer};
    use crate::{BpeTrainer, CharTokenizer};

    fn through_gguf(tokenizer: &Tokenizer) -> GgufTokenizer {
        let mut metadata = Metadata::new("test.gguf");
        for (key, value) in gguf_metadata(tokenizer).unwrap() {
            metadata.insert(key, value);
        }
        GgufTokenizer::from_metadata(&metadata).unwrap()
    }

    #[test]
    fn a_bpe_tokenizer_gives_the_same_ids_through_gguf() {
        let corpus = "The quick brown fox jumps over the lazy dog. 1234 dogs, 56 foxes!\n\
                      Ünïcödé text: naïve café, 東京, emoji 🦀🦀.\n"
            .repeat(20);
        for pattern in [Pattern::Gpt2, Pattern::Gpt4] {
            let bpe = BpeTrainer::new(400)
                .with_pattern(pattern)
                .with_special_tokens([END_OF_TEXT])
                .train_from_texts(&[corpus.as_str()])
                .unwrap();
            let tokenizer = Tokenizer::Bpe(bpe);
            let gguf = through_gguf(&tokenizer);
            assert_eq!(gguf.vocab_size(), tokenizer.vocab_size());
            for text in [
                corpus.as_str(),
                "unseen words: zebra quokka 98765",
                "  spaces   and\n\nnewlines\t",
            ] {
                let ids = tokenizer.encode(text).unwrap();
                assert_eq!(
                    gguf.encode(text, EncodeOptions::default()),
                    ids,
                    "{pattern:?} {text:?}"
                );
            }
            let eot = tokenizer.end_of_text();
            assert_eq!(gguf.special_ids().eos, eot);
            assert!(eot.is_some());
        }
    }

    #[test]
    fn a_character_tokenizer_is_refused_by_name() {
        let tokenizer = Tokenizer::Char(CharTokenizer::from_texts(&["abc"]));
        let err = gguf_metadata(&tokenizer).unwrap_err().to_string();
        assert!(
            err.contains("character-level tokenizer has no GGUF form"),
            "{err}"
        );
    }
}
