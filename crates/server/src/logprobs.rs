//! The engine's token log probabilities in OpenAI's two forms: the chat form (a list of
//! tokens with their alternatives) and the completions' legacy form (parallel lists).

use claude_inference::TokenLogprobs;
use claude_tokenizer::Tokenizer;
use serde_json::{Map, Value};

use crate::openai::{ChatLogprobs, CompletionLogprobs, TokenLogprob, TopLogprob};

/// What OpenAI reports for a token of probability zero (JSON has no -inf).
const LOGPROB_FLOOR: f32 = -9999.0;

/// A token's bytes and text.
fn token_text(tokenizer: &Tokenizer, token: u32) -> (String, Vec<u8>) {
    let bytes = tokenizer.decode_bytes(&[token]).unwrap_or_default();
    (String::from_utf8_lossy(&bytes).into_owned(), bytes)
}

fn finite(logprob: f32) -> f32 {
    if logprob.is_nan() {
        LOGPROB_FLOOR
    } else {
        logprob.max(LOGPROB_FLOOR)
    }
}

/// One token in the chat form.
pub fn chat_entry(tokenizer: &Tokenizer, logprobs: &TokenLogprobs) -> TokenLogprob {
    let (token, bytes) = token_text(tokenizer, logprobs.token);
    let top_logprobs = (logprobs.top.iter())
        .map(|&(id, logprob)| {
            let (token, bytes) = token_text(tokenizer, id);
            TopLogprob {
                token,
                logprob: finite(logprob),
                bytes,
            }
        })
        .collect();
    TokenLogprob {
        token,
        logprob: finite(logprobs.logprob),
        bytes,
        top_logprobs,
    }
}

/// Tokens in the chat form.
pub fn chat(tokenizer: &Tokenizer, tokens: &[TokenLogprobs]) -> ChatLogprobs {
    ChatLogprobs {
        content: tokens.iter().map(|t| chat_entry(tokenizer, t)).collect(),
    }
}

/// Tokens in the completions' legacy form; `offset` is where the first token's text starts in
/// the choice's text.
pub fn completion(
    tokenizer: &Tokenizer,
    tokens: &[TokenLogprobs],
    mut offset: usize,
) -> CompletionLogprobs {
    let mut out = CompletionLogprobs::default();
    for logprobs in tokens {
        let (text, _) = token_text(tokenizer, logprobs.token);
        let mut top = Map::new();
        for &(id, logprob) in &logprobs.top {
            let (alternative, _) = token_text(tokenizer, id);
            top.entry(alternative)
                .or_insert_with(|| Value::from(finite(logprob)));
        }
        out.text_offset.push(offset);
        offset += text.len();
        out.tokens.push(text);
        out.token_logprobs.push(finite(logprobs.logprob));
        out.top_logprobs.push(top);
    }
    out
}
