//! Fine-tuning data: JSON lines of chat conversations or plain text, as token rows with a mask of
//! the tokens the loss counts.
//!
//! Each non-blank line of a data file is one example (blank lines are skipped):
//!
//! - `{"messages": [...], "tools": [...]}`, OpenAI's chat format, rendered with the model's own
//!   chat template. Each message has a `role` (`system`, `developer`, `user`, `assistant` or
//!   `tool`), a `content` (a string, `null`, or OpenAI's list of `{"type": "text", "text": ...}`
//!   parts, joined), and optionally `tool_calls` (assistant messages: `{"id", "type":
//!   "function", "function": {"name", "arguments"}}`, the arguments as JSON text or an object),
//!   `tool_call_id` and `name` (tool results). A message needs content or tool calls, and a
//!   conversation an assistant message; other keys are ignored. The loss counts only the
//!   assistant messages' tokens: each one's content (tool calls included) and the end-of-turn
//!   marker that closes it (`<|im_end|>`, `<|eot_id|>`...), so the model learns to stop. An
//!   assistant message with `"weight": 0` (as OpenAI's fine-tuning format allows) is context
//!   only, like the system, user and tool turns.
//! - `{"text": "..."}`, for continued pretraining: the text as [`Tokenizer::encode`](
//!   claude_tokenizer::Tokenizer::encode) gives it (BOS included where the tokenizer adds one),
//!   then the end-of-text token if the tokenizer has one, so that documents end; every token
//!   counts.
//!
//! An [`Example`] is one such line as tokens and a mask of equal length; [`read_examples`] reads a
//! file into an [`ExampleSet`], with the overlong policy of [`ReadOptions`] and the counts of
//! [`DataStats`]. An example with no counted token (after truncation) is skipped and counted.
//!
//! # The assistant's span
//!
//! For each counted assistant message `i`, the template renders two prefixes of the
//! conversation: `prompt`, the messages before `i` with the generation prompt (what the model
//! sees when it begins to reply: `...<|im_start|>assistant\n`), and `through`, the messages up to
//! and including `i` without it. `through` must start with `prompt`, and `prompt` with the
//! previous counted message's `through`; else the template rewrites earlier turns (as some drop
//! past turns' reasoning), no span can be told, and reading fails
//! ([`DataError::NotPrefix`], naming the file, line and message). The reply is `through` less
//! `prompt`: the message's content and tool calls, its end-of-turn marker, and whatever the
//! template writes after the marker.
//!
//! Of the reply, the loss counts everything up to and including the end-of-turn marker, and not
//! what follows it (ChatML's newline after `<|im_end|>`, which the next turn's context holds just
//! as well; generation stops at the marker). The marker is the template's
//! [`end_of_turn`](claude_inference::ChatTemplate::end_of_turn) text where it has one and the
//! reply contains it (its last occurrence: `<|im_end|>` for ChatML, the blank line for plain
//! text); else the reply's last end-of-generation token
//! ([`Tokenizer::is_end_of_generation`](claude_tokenizer::Tokenizer::is_end_of_generation):
//! `<|im_end|>`, `<|eot_id|>`, `<end_of_turn>`, EOS), as for a model's own Jinja template; else
//! (a template that writes no marker) the whole reply.
//!
//! The text is tokenized piece by piece (context, counted reply, uncounted tail, context...) with
//! [`ChatTemplate::encode`](claude_inference::ChatTemplate::encode), so control tokens become
//! their special ids, and the pieces are concatenated: where pieces meet at a special token, as
//! chat templates make them meet, this is the encoding of the whole text. A tokenizer that starts
//! every encoding with BOS has it only at the start. The example ends with the last counted
//! assistant message's rendering: messages after it would teach nothing.
//!
//! # Padding, not packing
//!
//! Each example is one row of a micro-batch; the rows are padded to the longest one, with the pad
//! positions masked out of the loss. Packing several examples into one row would waste no
//! positions, but the examples must then not attend to each other, which takes a block-diagonal
//! attention mask: our fused attention kernels take only the causal mask, so packed examples would
//! see the ones before them. Sorting or bucketing rows by length keeps the padding small instead.

mod conversation;
mod error;
mod record;
mod set;

pub use error::DataError;
pub use set::{DataStats, ExampleSet, Overlong, ReadOptions, read_examples};

/// One training example: its tokens, and which of them the loss predicts.
///
/// The trainer feeds `tokens[..n-1]` as inputs and predicts `tokens[1..]`, weighting each
/// prediction by `targets_mask[1..]`. `targets_mask[0]` is always false: nothing predicts the
/// first token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// The token ids.
    pub tokens: Vec<u32>,
    /// Whether the loss counts each token (as a target), the same length as `tokens`.
    pub targets_mask: Vec<bool>,
}

impl Example {
    /// The number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the example has no tokens.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The number of tokens the loss counts.
    pub fn target_count(&self) -> usize {
        self.targets_mask.iter().filter(|&&m| m).count()
    }

    /// The example cut to its first `len` tokens (unchanged if it is no longer).
    pub fn truncated(mut self, len: usize) -> Example {
        self.tokens.truncate(len);
        self.targets_mask.truncate(len);
        self
    }
}
