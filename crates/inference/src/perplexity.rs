//! Perplexity the way llama.cpp's `llama-perplexity` computes it, so that the numbers compare
//! with llama.cpp's directly: the text's tokens are cut into consecutive chunks of `ctx` tokens;
//! each chunk is evaluated alone from position 0 (its first token replaced by BOS when the
//! tokenizer adds one); only the second half of each chunk is scored (positions `ctx/2 ..
//! ctx-1` predicting the next token), so every scored token sees at least `ctx/2` tokens of
//! context. The result is `exp` of the mean negative log-likelihood, with llama.cpp's
//! uncertainty estimate.

use burn::prelude::*;
use claude_core::Gpt;

use crate::generate::Generator;

/// How to cut the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerplexityOptions {
    /// Tokens per chunk (llama.cpp's `-c`).
    pub ctx: usize,
    /// At most this many chunks (llama.cpp's `--chunks`); all whole chunks when `None`.
    pub max_chunks: Option<usize>,
}

/// What a perplexity run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Perplexity {
    /// `exp(mean negative log-likelihood)` over the scored tokens.
    pub ppl: f64,
    /// llama.cpp's uncertainty: `ppl * sqrt(var(nll) / (n - 1))`.
    pub error: f64,
    /// Chunks evaluated.
    pub chunks: usize,
    /// Tokens scored (`chunks * (ctx - 1 - ctx/2)`).
    pub scored: usize,
    /// Tokens of the whole text.
    pub text_tokens: usize,
}

/// Why perplexity cannot be computed.
#[derive(Debug, thiserror::Error)]
pub enum PerplexityError {
    /// The chunk size does not fit the model or scores nothing.
    #[error("--ctx {ctx}: {why}")]
    Context {
        /// The chunk size asked for.
        ctx: usize,
        /// What is wrong with it.
        why: String,
    },
    /// Fewer than two chunks' worth of tokens (llama.cpp's rule).
    #[error("the text has {tokens} tokens; perplexity with --ctx {ctx} needs at least {}", 2 * ctx)]
    TooShort {
        /// Tokens of the text.
        tokens: usize,
        /// The chunk size.
        ctx: usize,
    },
    /// The text could not be tokenized.
    #[error("tokenizing the text: {0}")]
    Tokenize(#[from] claude_tokenizer::Error),
}

impl Generator {
    /// Perplexity of `text` under the model, tokenized with the generator's tokenizer as
    /// llama.cpp tokenizes it (a BOS first where the tokenizer adds one). `on_chunk` is told each
    /// chunk's index and the perplexity so far.
    pub fn perplexity(
        &self,
        text: &str,
        options: PerplexityOptions,
        on_chunk: impl FnMut(usize, f64),
    ) -> Result<Perplexity, PerplexityError> {
        let ids = self.tokenizer().encode(text)?;
        let bos = self.tokenizer().added_bos();
        perplexity_of_ids(self.model(), &ids, bos, options, self.device(), on_chunk)
    }
}

/// Perplexity of the token ids `ids` under `model` on `device` (see the module documentation);
/// `bos` replaces the first token of every chunk when given.
pub fn perplexity_of_ids(
    model: &Gpt,
    ids: &[u32],
    bos: Option<u32>,
    options: PerplexityOptions,
    device: &Device,
    mut on_chunk: impl FnMut(usize, f64),
) -> Result<Perplexity, PerplexityError> {
    let ctx = options.ctx;
    if ctx < 4 {
        return Err(PerplexityError::Context {
            ctx,
            why: "a chunk needs at least 4 tokens to score its second half".into(),
        });
    }
    if ctx > model.context_length() {
        return Err(PerplexityError::Context {
            ctx,
            why: format!("the model's context is {} tokens", model.context_length()),
        });
    }
    if ids.len() < 2 * ctx {
        return Err(PerplexityError::TooShort {
            tokens: ids.len(),
            ctx,
        });
    }
    let chunks = (ids.len() / ctx).min(options.max_chunks.unwrap_or(usize::MAX));
    let first = ctx / 2;
    let (mut sum, mut sum_sq, mut scored) = (0.0f64, 0.0f64, 0usize);
    for chunk in 0..chunks {
        let tokens = &ids[chunk * ctx..(chunk + 1) * ctx];
        let mut input: Vec<i32> = tokens.iter().map(|&t| t as i32).collect();
        if let Some(bos) = bos {
            input[0] = bos as i32;
        }
        let logits = model
            .forward(Tensor::from_data(TensorData::new(input, [1, ctx]), device))
            .slice(s![.., first..ctx - 1, ..]);
        let vocab = logits.dims()[2];
        let rows = logits
            .reshape([ctx - 1 - first, vocab])
            .try_into_vec_as::<f32>()
            .expect("float logits convert to f32");
        for (row, &next) in rows.chunks_exact(vocab).zip(&tokens[first + 1..]) {
            let nll = negative_log_likelihood(row, next as usize);
            sum += nll;
            sum_sq += nll * nll;
            scored += 1;
        }
        on_chunk(chunk, (sum / scored as f64).exp());
    }
    let mean = sum / scored as f64;
    let ppl = mean.exp();
    let variance = (sum_sq / scored as f64 - mean * mean).max(0.0);
    Ok(Perplexity {
        ppl,
        error: ppl * (variance / (scored - 1) as f64).sqrt(),
        chunks,
        scored,
        text_tokens: ids.len(),
    })
}

/// `-log softmax(row)[target]`, in f64.
fn negative_log_likelihood(row: &[f32], target: usize) -> f64 {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    let sum: f64 = row.iter().map(|&x| f64::from(x - max).exp()).sum();
    f64::from(max) + sum.ln() - f64::from(row[target])
}
