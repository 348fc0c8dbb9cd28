//! A tokenizer as GGUF vocabulary metadata (`tokenizer.ggml.*`), for the model files we write:
//! byte-level BPE becomes llama.cpp's `gpt2` model, with its tokens in GPT-2's printable byte
//! form, its merges, and its pattern as the pre-tokenizer llama.cpp splits the same way
//! (`gpt-2`, or `dbrx` for GPT-4's cl100k pattern). `<|endoftext|>`, when present, is a control
//! token and both BOS and EOS (GPT-2's convention); neither is added to a prompt.

use claude_gguf::Value;

use super::config::{MERGES_KEY, MODEL_KEY, PRE_KEY};
use super::vocab::{TOKEN_TYPE_KEY, TOKENS_KEY};
use crate::bpe::BpeTokenizer;
use crate::bytes::encode_token;
use crate::error::{Error, Result};
use crate::pretokenize::Pattern;
use crate::tokenizer::{END_OF_TEXT, Tokenizer};

/// llama.cpp's token type ids.
const NORMAL: i32 = 1;
const CONTROL: i32 = 3;

/// The `tokenizer.ggml.*` metadata that gives `tokenizer`'s ids in llama.cpp and in
/// [`super::GgufTokenizer`].
///
/// # Errors
/// [`Error::InvalidArgument`] for a character-level tokenizer (llama.cpp's vocabularies are
/// byte-level or SentencePiece BPE, which cannot say that a model has no end-of-text token) and
/// for a tokenizer read from GGUF.
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
        Tokenizer::Gguf(_) => Err(Error::InvalidArgument {
            field: "tokenizer",
            message: "a tokenizer read from a GGUF file is written by copying that file's \
                      tokenizer.ggml.* metadata"
                .into(),
        }),
    }
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
