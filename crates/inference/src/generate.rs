//! The KV-cache generator: prefill a prompt in one forward pass, then decode one token per step
//! for every active sequence together ([`Batch`]).

use std::collections::VecDeque;
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};

use burn::prelude::*;
use claude_core::{Gpt, KvCache, KvCacheType, PackedArithmetic};
use claude_tokenizer::Tokenizer;

use crate::constraint::{CompiledConstraint, ConstraintMatcher};
use crate::error::GenerateError;
use crate::logprobs::{MAX_TOP_LOGPROBS, TokenLogprobs};
use crate::prefill::{PREFILL_CHUNK, Prefill};
use crate::prompt_cache::{PromptCache, PromptCacheStats};
use crate::sampler::{InvalidSamplingParam, Sampler, SamplingParams};
use crate::text::TextStream;

/// What to do when a sequence would outgrow the model's context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverflowPolicy {
    /// Refuse requests whose prompt plus new tokens exceed the context (the default, as OpenAI's
    /// API does).
    #[default]
    Reject,
    /// Keep going: a prompt longer than the context keeps its last `context` tokens, and a full
    /// sequence restarts its cache from its last `context / 2` tokens.
    SlidingWindow,
}

impl FromStr for OverflowPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "reject" => Ok(OverflowPolicy::Reject),
            "sliding" | "sliding-window" => Ok(OverflowPolicy::SlidingWindow),
            other => Err(format!(
                "unknown context overflow policy {other:?} (expected reject or sliding)"
            )),
        }
    }
}

/// Why a sequence ended, in OpenAI's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// End of text or a stop sequence.
    Stop,
    /// The token limit (or the context) was reached.
    Length,
}

impl FinishReason {
    /// `"stop"` or `"length"`.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        }
    }
}

/// One sequence to continue. The default has no prompt and `max_new_tokens` 0: set both.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SequenceRequest {
    /// Prompt token ids.
    pub prompt: Vec<u32>,
    /// Most tokens to generate.
    pub max_new_tokens: usize,
    /// How to pick tokens.
    pub sampling: SamplingParams,
    /// Stop before any of these strings (they are not part of the output).
    pub stop: Vec<String>,
    /// A grammar the output must follow (see [`crate::constraint`]): disallowed tokens are
    /// masked before sampling, and the sequence stops when the grammar is complete.
    pub constraint: Option<CompiledConstraint>,
    /// `None`: no logprobs. `Some(k)`: every event carries the chosen token's logprob and the
    /// `k` most likely alternatives ([`TokenLogprobs`]; `k` at most [`MAX_TOP_LOGPROBS`]).
    pub logprobs: Option<usize>,
}

/// One generated token.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenEvent {
    /// Its id.
    pub token: u32,
    /// Text that became final with it (may be empty: a partial character or a possible stop
    /// sequence is held back).
    pub text: String,
    /// Set on a sequence's last event.
    pub finish: Option<FinishReason>,
    /// The model's logprobs at this token, if the request asked for them (`None` on an event
    /// that carries no newly chosen token, e.g. a context-full [`FinishReason::Length`]).
    pub logprobs: Option<TokenLogprobs>,
    /// On the last event of a sequence that a stop sequence ended: which one.
    pub stop_sequence: Option<String>,
}

/// A finished single-sequence generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// Generated token ids (the prompt excluded).
    pub tokens: Vec<u32>,
    /// Generated text (stop sequences excluded).
    pub text: String,
    /// Why it ended.
    pub finish: FinishReason,
}

/// A model with its tokenizer, ready to generate.
pub struct Generator {
    model: Gpt,
    tokenizer: Tokenizer,
    device: Device,
    overflow: OverflowPolicy,
    /// Recent prompts' keys and values, when prompt caching is on.
    prompt_cache: Option<Mutex<PromptCache>>,
}

impl Generator {
    /// A generator that rejects requests longer than the context. On the CPU its packed weights
    /// are repacked for decoding here, once ([`Gpt::repack_for_decoding`]).
    pub fn new(model: Gpt, tokenizer: Tokenizer, device: Device) -> Self {
        if device == Device::flex() {
            model.repack_for_decoding();
        }
        Generator {
            model,
            tokenizer,
            device,
            overflow: OverflowPolicy::Reject,
            prompt_cache: None,
        }
    }

    /// Keeps recent prompts' keys and values, up to `budget_bytes` (0: none), so that a prompt
    /// sharing a prefix with one of them feeds only the rest (see [`PromptCache`]).
    pub fn with_prompt_cache(mut self, budget_bytes: usize) -> Self {
        self.prompt_cache = (budget_bytes > 0).then(|| Mutex::new(PromptCache::new(budget_bytes)));
        self
    }

    /// What the prompt cache has done, when it is on.
    pub fn prompt_cache_stats(&self) -> Option<PromptCacheStats> {
        (self.prompt_cache.as_ref())
            .map(|cache| cache.lock().unwrap_or_else(PoisonError::into_inner).stats())
    }

    /// The prompt cache, when it is on.
    pub(crate) fn prompt_cache(&self) -> Option<&Mutex<PromptCache>> {
        self.prompt_cache.as_ref()
    }

    /// Caps the context at `positions` (see [`Gpt::limit_context`]).
    pub fn with_context_limit(mut self, positions: Option<usize>) -> Self {
        if let Some(positions) = positions {
            self.model.limit_context(positions);
        }
        self
    }

    /// Sets how quantized weights meet the activations (see [`Gpt::set_packed_arithmetic`]).
    pub fn with_packed_arithmetic(mut self, arithmetic: PackedArithmetic) -> Self {
        self.model.set_packed_arithmetic(arithmetic);
        self
    }

    /// Sets what the key/value caches hold (see [`KvCacheType`]).
    pub fn with_kv_cache_type(mut self, kind: KvCacheType) -> Self {
        self.model.set_kv_cache_type(kind);
        self
    }

    /// Sets the context overflow policy.
    pub fn with_overflow(mut self, overflow: OverflowPolicy) -> Self {
        self.overflow = overflow;
        self
    }

    /// The model.
    pub fn model(&self) -> &Gpt {
        &self.model
    }

    /// The model and its tokenizer, for other uses (an embedder).
    pub fn into_parts(self) -> (Gpt, Tokenizer) {
        (self.model, self.tokenizer)
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The model's context length.
    pub fn context_length(&self) -> usize {
        self.model.context_length()
    }

    /// A batch with no sequences.
    pub fn batch(&self) -> Batch<'_> {
        Batch {
            generator: self,
            cache: None,
            slots: Vec::new(),
            prefilling: VecDeque::new(),
        }
    }

    /// Generates one sequence, calling `on_event` as each token is chosen (return `false` to
    /// stop early; the completion then ends with [`FinishReason::Stop`]).
    pub fn generate(
        &self,
        request: SequenceRequest,
        mut on_event: impl FnMut(&TokenEvent) -> bool,
    ) -> Result<Completion, GenerateError> {
        let mut batch = self.batch();
        let mut completion = Completion {
            tokens: Vec::new(),
            text: String::new(),
            finish: FinishReason::Stop,
        };
        let mut event = batch.add(0, request)?;
        loop {
            completion.tokens.push(event.token);
            completion.text.push_str(&event.text);
            if let Some(finish) = event.finish {
                completion.finish = finish;
                on_event(&event);
                return Ok(completion);
            }
            if !on_event(&event) {
                return Ok(completion);
            }
            event = batch
                .step()
                .pop()
                .map(|(_, event)| event)
                .expect("an unfinished sequence advances every step");
        }
    }

    /// The prompt as the model will see it, after checking the request against the context and
    /// the vocabulary.
    fn admit<'r>(&self, request: &'r SequenceRequest) -> Result<&'r [u32], GenerateError> {
        let prompt = &request.prompt;
        if prompt.is_empty() {
            return Err(GenerateError::EmptyPrompt);
        }
        if request.max_new_tokens == 0 {
            return Err(GenerateError::NoNewTokens);
        }
        let vocab = self.vocab_size();
        if let Some(&id) = prompt.iter().find(|&&id| id as usize >= vocab) {
            return Err(GenerateError::UnknownToken { id, vocab });
        }
        request.sampling.validate()?;
        if let Some(k) = request.logprobs.filter(|&k| k > MAX_TOP_LOGPROBS) {
            return Err(GenerateError::Sampling(InvalidSamplingParam {
                field: "top_logprobs",
                message: format!("must be in [0, {MAX_TOP_LOGPROBS}], got {k}"),
            }));
        }
        let context = self.context_length();
        match self.overflow {
            OverflowPolicy::Reject if prompt.len() > context => Err(GenerateError::PromptTooLong {
                prompt: prompt.len(),
                context,
            }),
            OverflowPolicy::Reject if prompt.len() + request.max_new_tokens > context => {
                Err(GenerateError::RequestTooLong {
                    prompt: prompt.len(),
                    max_new: request.max_new_tokens,
                    context,
                })
            }
            OverflowPolicy::Reject => Ok(prompt),
            OverflowPolicy::SlidingWindow => Ok(&prompt[prompt.len().saturating_sub(context)..]),
        }
    }

    /// The first token that ends generation, if the tokenizer has one.
    fn end_of_generation(&self) -> Option<u32> {
        (0..self.vocab_size() as u32).find(|&id| self.tokenizer.is_end_of_generation(id))
    }

    /// Tokens both the model and the tokenizer know (a model may pad its vocabulary).
    fn vocab_size(&self) -> usize {
        let model_vocab = self.model.wte.vocab_size();
        model_vocab.min(self.tokenizer.vocab_size())
    }

    /// The rows of `logits`, each to be read cut to the shared vocabulary.
    pub(crate) fn rows_of(&self, logits: Tensor<2>) -> LogitRows {
        let [_, width] = logits.dims();
        let values = logits
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("float logits");
        LogitRows {
            values,
            width,
            vocab: self.vocab_size().min(width),
        }
    }
}

/// Next-token logits of a forward pass's rows, in one buffer (cutting each row to the shared
/// vocabulary in place of a copy per row: at 8 rows of SmolLM2's 49,152 logits the copies
/// had been 1% of a decode step).
pub(crate) struct LogitRows {
    values: Vec<f32>,
    /// Logits per row in `values`.
    width: usize,
    /// Logits per row read: the shared vocabulary.
    vocab: usize,
}

impl LogitRows {
    /// Each row's logits over the shared vocabulary, in row order.
    pub(crate) fn rows_mut(&mut self) -> impl Iterator<Item = &mut [f32]> {
        let vocab = self.vocab;
        (self.values.chunks_exact_mut(self.width)).map(move |row| &mut row[..vocab])
    }

    /// The first row's logits over the shared vocabulary.
    pub(crate) fn into_first(mut self) -> Vec<f32> {
        self.values.truncate(self.vocab);
        self.values
    }
}

/// The reference loop without a cache: every new token re-runs the model on the last
/// `context_length` tokens. For tests and benchmarks of the cached path.
pub fn generate_uncached(
    model: &Gpt,
    prompt: &[u32],
    max_new_tokens: usize,
    sampler: &mut Sampler,
    device: &Device,
) -> Vec<u32> {
    let mut tokens = prompt.to_vec();
    for _ in 0..max_new_tokens {
        let window = &tokens[tokens.len().saturating_sub(model.context_length())..];
        let ids: Vec<i32> = window.iter().map(|&t| t as i32).collect();
        let input = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, window.len()]), device);
        let logits = model.forward(input); // [1, T, vocab]
        let [_, seq, vocab] = logits.dims();
        let last = logits.slice(s![0..1, seq - 1..seq, ..]).reshape([vocab]);
        let values = last
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("float logits");
        tokens.push(sampler.sample(&values));
    }
    tokens.split_off(prompt.len())
}

/// Identifies a sequence within a [`Batch`].
pub type SequenceId = u64;

/// Sequences advancing together: one decode forward pass per [`step`](Batch::step) for all of
/// them, whatever their lengths. Sequences join with [`add`](Batch::add) and leave when they
/// finish or with [`remove`](Batch::remove) (continuous batching).
pub struct Batch<'g> {
    generator: &'g Generator,
    cache: Option<KvCache>,
    /// One per cache row, in row order.
    slots: Vec<Slot>,
    /// Sequences whose prompts are being fed, a chunk per [`Batch::prefill_chunk`], oldest
    /// first.
    prefilling: VecDeque<(Slot, Prefill)>,
}

/// The state of one sequence.
struct Slot {
    id: SequenceId,
    /// Tokens fed to the cache so far, then the pending token (the last one), which the next
    /// step feeds.
    history: Vec<u32>,
    generated: usize,
    max_new_tokens: usize,
    sampler: Sampler,
    text: TextStream,
    /// The sequence's place in its grammar, if constrained.
    constraint: Option<ConstraintMatcher>,
    /// How many alternatives to report with each token's logprob, if any.
    logprobs: Option<usize>,
}

impl Batch<'_> {
    /// Number of active sequences.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no sequence is active.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Ids of the active sequences, then of those whose prompts are being fed.
    pub fn ids(&self) -> impl Iterator<Item = SequenceId> + '_ {
        let prefilling = self.prefilling.iter().map(|(slot, _)| slot);
        self.slots.iter().chain(prefilling).map(|slot| slot.id)
    }

    /// Prefills a new sequence and returns its first token. A sequence that is finished after
    /// one token does not join the batch.
    pub fn add(
        &mut self,
        id: SequenceId,
        request: SequenceRequest,
    ) -> Result<TokenEvent, GenerateError> {
        let (slot, mut prefill) = self.start(id, request)?;
        let fed = self.generator.finish_prefill(&mut prefill);
        Ok(self.join(slot, fed).1)
    }

    /// Queues a new sequence for its prefill, which [`prefill_chunk`](Self::prefill_chunk)
    /// runs a chunk at a time (a scheduler decodes the batch between chunks).
    pub fn begin(&mut self, id: SequenceId, request: SequenceRequest) -> Result<(), GenerateError> {
        let started = self.start(id, request)?;
        self.prefilling.push_back(started);
        Ok(())
    }

    /// Feeds the next chunk of the oldest queued prompt; once it is all fed, the sequence's
    /// first token (the sequence joins the batch unless that token finishes it). `None` while
    /// the prompt goes on, or when none is queued.
    pub fn prefill_chunk(&mut self) -> Option<(SequenceId, TokenEvent)> {
        let (_, prefill) = self.prefilling.front_mut()?;
        let fed = self.generator.advance_prefill(prefill, PREFILL_CHUNK)?;
        let (slot, _) = self.prefilling.pop_front().expect("the prompt just fed");
        Some(self.join(slot, fed))
    }

    /// Number of queued prompts still being fed.
    pub fn prefilling(&self) -> usize {
        self.prefilling.len()
    }

    /// The sequence whose prompt [`prefill_chunk`](Self::prefill_chunk) feeds next, and how
    /// many of its tokens that chunk feeds (at most [`PREFILL_CHUNK`]).
    pub fn next_prefill(&self) -> Option<(SequenceId, usize)> {
        (self.prefilling.front())
            .map(|(slot, prefill)| (slot.id, prefill.remaining().min(PREFILL_CHUNK)))
    }

    /// A new sequence's state and the start of its prefill (from a cached prefix, if any).
    fn start(
        &self,
        id: SequenceId,
        request: SequenceRequest,
    ) -> Result<(Slot, Prefill), GenerateError> {
        let prompt = self.generator.admit(&request)?.to_vec();
        let slot = Slot {
            id,
            sampler: Sampler::with_prompt(request.sampling, &prompt),
            history: prompt.clone(),
            generated: 0,
            max_new_tokens: request.max_new_tokens,
            text: TextStream::new(request.stop),
            constraint: request.constraint.as_ref().map(CompiledConstraint::matcher),
            logprobs: request.logprobs,
        };
        Ok((slot, self.generator.start_prefill(prompt)))
    }

    /// Picks a prefilled sequence's first token; the sequence joins the batch unless that
    /// token finishes it.
    fn join(&mut self, mut slot: Slot, fed: (Vec<f32>, KvCache)) -> (SequenceId, TokenEvent) {
        let (mut logits, cache) = fed;
        let event = slot.choose(&mut logits, self.generator);
        let id = slot.id;
        if event.finish.is_none() {
            self.slots.push(slot);
            match &mut self.cache {
                Some(batch) => batch.append(cache),
                None => self.cache = Some(cache),
            }
        }
        (id, event)
    }

    /// Advances every active sequence by one token in one forward pass. Finished sequences
    /// leave the batch.
    pub fn step(&mut self) -> Vec<(SequenceId, TokenEvent)> {
        let mut events = Vec::with_capacity(self.slots.len());
        self.make_room(&mut events);
        let Some(cache) = self.cache.as_mut() else {
            return events;
        };
        let generator = self.generator;
        let pending: Vec<i32> = self
            .slots
            .iter()
            .map(|slot| *slot.history.last().expect("a pending token") as i32)
            .collect();
        let tokens = Tensor::from_data(
            TensorData::new(pending, [self.slots.len()]),
            &generator.device,
        );
        let mut logits = generator.rows_of(generator.model.decode(tokens, cache));
        let mut finished = Vec::new();
        for (row, (slot, logits)) in self.slots.iter_mut().zip(logits.rows_mut()).enumerate() {
            let event = slot.choose(logits, generator);
            if event.finish.is_some() {
                finished.push(row);
            }
            events.push((slot.id, event));
        }
        self.drop_rows(&finished);
        events
    }

    /// Removes a sequence, active or still being prefilled (e.g. its client went away).
    /// Unknown ids are ignored.
    pub fn remove(&mut self, id: SequenceId) {
        self.prefilling.retain(|(slot, _)| slot.id != id);
        if let Some(row) = self.slots.iter().position(|slot| slot.id == id) {
            self.drop_rows(&[row]);
        }
    }

    /// Applies the overflow policy to rows whose cache is full.
    fn make_room(&mut self, events: &mut Vec<(SequenceId, TokenEvent)>) {
        let Some(cache) = self.cache.as_mut() else {
            return;
        };
        let full: Vec<usize> = (0..cache.rows())
            .filter(|&row| cache.is_full(row))
            .collect();
        if full.is_empty() {
            return;
        }
        match self.generator.overflow {
            OverflowPolicy::SlidingWindow => {
                let keep = (cache.capacity() / 2).max(1);
                for row in full {
                    let history = &self.slots[row].history;
                    let fed = &history[..history.len() - 1];
                    let (_, fresh) = self.generator.prefill(&fed[fed.len() - keep..]);
                    cache.replace_row(row, fresh);
                }
            }
            OverflowPolicy::Reject => {
                for &row in &full {
                    let slot = &mut self.slots[row];
                    let event = TokenEvent {
                        token: *slot.history.last().expect("a pending token"),
                        text: slot.text.finish(),
                        finish: Some(FinishReason::Length),
                        logprobs: None,
                        stop_sequence: None,
                    };
                    events.push((slot.id, event));
                }
                self.drop_rows(&full);
            }
        }
    }

    /// Removes the given rows (sorted, ascending) from the slots and the cache.
    fn drop_rows(&mut self, rows: &[usize]) {
        if rows.is_empty() {
            return;
        }
        let keep: Vec<usize> = (0..self.slots.len())
            .filter(|row| !rows.contains(row))
            .collect();
        for &row in rows.iter().rev() {
            self.slots.remove(row);
        }
        if keep.is_empty() {
            self.cache = None;
        } else if let Some(cache) = &mut self.cache {
            cache.retain(&keep);
        }
    }
}

impl Slot {
    /// Samples the next token from `logits` (masked in place by the constraint, if any) and
    /// turns it into an event.
    fn choose(&mut self, logits: &mut [f32], generator: &Generator) -> TokenEvent {
        let tokenizer = &generator.tokenizer;
        // Log probabilities describe the model, before the mask: keep a copy only when both
        // are asked for.
        let unmasked =
            (self.constraint.is_some() && self.logprobs.is_some()).then(|| logits.to_vec());
        let mut grammar_done = false;
        let token = match &mut self.constraint {
            None => self.sampler.sample(logits),
            Some(matcher) => {
                if matcher.mask(logits) {
                    let token = self.sampler.sample(logits);
                    // A refused token breaks the grammar: end after it rather than go on
                    // unconstrained.
                    grammar_done = !matcher.consume(token) || matcher.is_finished();
                    token
                } else {
                    // Nothing is allowed (a broken grammar): end as if the model had.
                    let end = generator.end_of_generation().unwrap_or(0);
                    self.sampler.accept(end);
                    end
                }
            }
        };
        let model_logits = unmasked.as_deref().unwrap_or(logits);
        let logprobs = self
            .logprobs
            .map(|k| TokenLogprobs::from_logits(model_logits, token, k));
        self.generated += 1;
        self.history.push(token);
        if tokenizer.is_end_of_generation(token) {
            return TokenEvent {
                token,
                text: self.text.finish(),
                finish: Some(FinishReason::Stop),
                // The end marker is not part of the reply (OpenAI leaves it out too).
                logprobs: None,
                stop_sequence: None,
            };
        }
        // Every id below the shared vocabulary decodes.
        let bytes = tokenizer.decode_bytes(&[token]).unwrap_or_default();
        let emitted = self.text.push(&bytes);
        let mut text = emitted.text;
        let finish = if emitted.stopped {
            Some(FinishReason::Stop)
        } else if grammar_done {
            text.push_str(&self.text.finish());
            Some(FinishReason::Stop)
        } else if self.generated >= self.max_new_tokens {
            text.push_str(&self.text.finish());
            Some(FinishReason::Length)
        } else {
            None
        };
        TokenEvent {
            token,
            text,
            finish,
            logprobs,
            stop_sequence: self.text.stopped_at().map(str::to_string),
        }
    }
}
