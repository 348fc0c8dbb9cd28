//! What can go wrong when asking for a generation.

use crate::sampler::InvalidSamplingParam;

/// A request the generator cannot serve, with the reason in words a client can act on.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// No prompt tokens.
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// Zero new tokens requested.
    #[error("max_tokens must be at least 1")]
    NoNewTokens,
    /// The prompt alone is longer than the model's context.
    #[error("the prompt has {prompt} tokens but this model's context length is {context}")]
    PromptTooLong {
        /// Prompt tokens.
        prompt: usize,
        /// The model's context length.
        context: usize,
    },
    /// Prompt plus requested new tokens do not fit the context (and the policy is to reject).
    #[error(
        "this model's context length is {context} tokens, but {prompt} prompt tokens + {max_new} \
         new tokens were requested; ask for at most {} new tokens",
        context.saturating_sub(*prompt)
    )]
    RequestTooLong {
        /// Prompt tokens.
        prompt: usize,
        /// Requested new tokens.
        max_new: usize,
        /// The model's context length.
        context: usize,
    },
    /// A prompt token id outside the vocabulary.
    #[error("token id {id} is outside the vocabulary (size {vocab})")]
    UnknownToken {
        /// The bad id.
        id: u32,
        /// Vocabulary size.
        vocab: usize,
    },
    /// A sampling parameter out of range.
    #[error(transparent)]
    Sampling(#[from] InvalidSamplingParam),
    /// The tokenizer failed (e.g. a character outside a character-level vocabulary).
    #[error(transparent)]
    Tokenizer(#[from] claude_tokenizer::Error),
}
