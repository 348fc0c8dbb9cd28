//! The scheduler: one thread owns the model and runs continuous batching.
//!
//! Requests wait in a bounded queue. Each iteration the engine admits waiting requests while the
//! batch has room, feeds up to a chunk's worth of admitted prompt tokens, oldest first (chunked
//! prefill: a long prompt does not stall the streams already decoding, and a burst of short ones
//! gets first tokens together), then advances every active sequence by one token in one forward
//! pass, and sends each token to its request's channel. A request whose receiver is gone (the
//! client disconnected) leaves the batch at the next step; a panic while serving is caught
//! and fails only the sequences involved.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flume::Sender as EventSender;

use crate::error::GenerateError;
use crate::generate::{Batch, FinishReason, Generator, SequenceId, SequenceRequest, TokenEvent};
use crate::prefill::PREFILL_CHUNK;

/// Limits of the scheduler.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Most sequences decoded together.
    pub max_batch: usize,
    /// Most requests waiting for a slot; beyond it, [`EngineHandle::submit`] refuses.
    pub queue_capacity: usize,
    /// Longest a request may take from submission to its last token; it then ends with
    /// [`FinishReason::Length`].
    pub request_timeout: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_batch: 16,
            queue_capacity: 64,
            request_timeout: Duration::from_secs(300),
        }
    }
}

/// A request's events as the engine sends them: read them blocking (`recv`) or from async code
/// (`recv_async`); dropping it cancels the request.
pub type Events = flume::Receiver<EngineEvent>;

/// What a request's channel receives.
#[derive(Debug)]
pub enum EngineEvent {
    /// The request was refused before generating (bad prompt or parameters).
    Rejected(GenerateError),
    /// A token; the last one has `finish` set.
    Token(TokenEvent),
    /// Serving failed inside the engine (a bug or a broken model); the message says what.
    Failed(String),
}

/// Why a request could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full: try again shortly.
    #[error("the request queue is full")]
    QueueFull,
    /// The engine has stopped.
    #[error("the engine has stopped")]
    Stopped,
}

/// Counters the engine keeps, read by the server's `/metrics`.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Requests waiting in the queue.
    pub queued: AtomicUsize,
    /// Sequences in the batch.
    pub active: AtomicUsize,
    /// Tokens generated since start.
    pub tokens_generated: AtomicU64,
    /// Requests that received a first token.
    pub first_tokens: AtomicU64,
    /// Sum over those of the time from submission to the first token, in microseconds.
    pub time_to_first_token_us: AtomicU64,
    /// Decode steps run.
    pub steps: AtomicU64,
    /// Tokens per second of the most recent decode step (all sequences together), times 1000.
    pub recent_tokens_per_sec_milli: AtomicU64,
    /// Panics caught while serving.
    pub panics: AtomicU64,
    /// Prompt tokens not fed again because a cached prompt shared them (prompt caching).
    pub prompt_tokens_reused: AtomicU64,
}

/// A queued request.
struct Job {
    request: SequenceRequest,
    events: EventSender<EngineEvent>,
    submitted: Instant,
}

/// Submits requests to a running engine. Cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    jobs: SyncSender<Job>,
    stats: Arc<EngineStats>,
}

impl EngineHandle {
    /// Queues a request; its tokens arrive on the returned channel. Dropping the receiver
    /// cancels the request.
    pub fn submit(&self, request: SequenceRequest) -> Result<Events, SubmitError> {
        let (events, receiver) = flume::unbounded();
        let job = Job {
            request,
            events,
            submitted: Instant::now(),
        };
        // Count before sending so the engine never decrements below zero.
        self.stats.queued.fetch_add(1, Ordering::SeqCst);
        match self.jobs.try_send(job) {
            Ok(()) => Ok(receiver),
            Err(err) => {
                self.stats.queued.fetch_sub(1, Ordering::SeqCst);
                Err(match err {
                    TrySendError::Full(_) => SubmitError::QueueFull,
                    TrySendError::Disconnected(_) => SubmitError::Stopped,
                })
            }
        }
    }

    /// The engine's counters.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }
}

/// Starts the engine thread. It runs until every [`EngineHandle`] is dropped.
pub fn spawn_engine(generator: Generator, config: EngineConfig) -> (EngineHandle, JoinHandle<()>) {
    let (jobs, queue) = sync_channel(config.queue_capacity.max(1));
    let stats = Arc::new(EngineStats::default());
    let handle = EngineHandle {
        jobs,
        stats: Arc::clone(&stats),
    };
    let thread = std::thread::Builder::new()
        .name("claude-engine".into())
        .spawn(move || {
            // The engine thread runs the model: as a pool thread it does its share of each op.
            claude_tensors::threads::run_as_pool_thread(|| {
                Engine::new(&generator, config, stats).run(queue)
            })
        })
        .expect("spawn the engine thread");
    (handle, thread)
}

/// A request being served.
struct Active {
    events: EventSender<EngineEvent>,
    deadline: Instant,
    /// When the request was submitted (for the time to its first token).
    submitted: Instant,
}

struct Engine<'g> {
    generator: &'g Generator,
    batch: Batch<'g>,
    active: HashMap<SequenceId, Active>,
    next_id: SequenceId,
    config: EngineConfig,
    stats: Arc<EngineStats>,
}

impl<'g> Engine<'g> {
    fn new(generator: &'g Generator, config: EngineConfig, stats: Arc<EngineStats>) -> Self {
        Engine {
            generator,
            batch: generator.batch(),
            active: HashMap::new(),
            next_id: 0,
            config,
            stats,
        }
    }

    fn run(mut self, queue: Receiver<Job>) {
        loop {
            if self.batch.is_empty() && self.batch.prefilling() == 0 {
                match queue.recv() {
                    Ok(job) => self.admit(job),
                    Err(_) => return,
                }
            }
            while self.batch.len() + self.batch.prefilling() < self.config.max_batch.max(1) {
                match queue.try_recv() {
                    Ok(job) => self.admit(job),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            self.drop_abandoned();
            self.prefill_chunks();
            if !self.batch.is_empty() {
                self.step();
            }
            self.stats.active.store(self.batch.len(), Ordering::SeqCst);
        }
    }

    /// Queues a request's prompt for its prefill (or refuses it).
    fn admit(&mut self, job: Job) {
        self.stats.queued.fetch_sub(1, Ordering::SeqCst);
        if job.events.is_disconnected() {
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        let batch = &mut self.batch;
        match catch_unwind(AssertUnwindSafe(|| batch.begin(id, job.request))) {
            Ok(Ok(())) => {
                let deadline = job.submitted + self.config.request_timeout;
                let active = Active {
                    events: job.events,
                    deadline,
                    submitted: job.submitted,
                };
                self.active.insert(id, active);
            }
            Ok(Err(error)) => {
                let _ = job.events.send(EngineEvent::Rejected(error));
            }
            Err(panic) => {
                self.stats.panics.fetch_add(1, Ordering::Relaxed);
                let _ = job.events.send(EngineEvent::Failed(panic_message(&panic)));
                self.batch.remove(id);
            }
        }
    }

    /// Feeds queued prompts, oldest first, a chunk at a time, up to [`PREFILL_CHUNK`] tokens in
    /// all (at least one chunk): many short prompts get their first tokens in one iteration,
    /// and a long one takes a chunk per decode step.
    fn prefill_chunks(&mut self) {
        let mut budget = PREFILL_CHUNK;
        // A chunk is at most `PREFILL_CHUNK` tokens: the first always fits.
        while let Some((id, tokens)) = self.batch.next_prefill() {
            if tokens > budget {
                return;
            }
            budget -= tokens;
            self.prefill_chunk(id);
        }
    }

    /// Feeds the next chunk of the prompt of `id` (the oldest being prefilled); sends its first
    /// token once the prompt is all fed.
    fn prefill_chunk(&mut self, id: SequenceId) {
        let batch = &mut self.batch;
        let event = match catch_unwind(AssertUnwindSafe(|| batch.prefill_chunk())) {
            Ok(Some((_, event))) => event,
            Ok(None) => return,
            Err(panic) => {
                // The batch's own cache is untouched by a prefill: fail this sequence only.
                self.stats.panics.fetch_add(1, Ordering::Relaxed);
                self.batch.remove(id);
                if let Some(active) = self.active.remove(&id) {
                    let _ = active
                        .events
                        .send(EngineEvent::Failed(panic_message(&panic)));
                }
                return;
            }
        };
        let Some(active) = self.active.get(&id) else {
            self.batch.remove(id);
            return;
        };
        let waited = active.submitted.elapsed().as_micros() as u64;
        self.stats.first_tokens.fetch_add(1, Ordering::Relaxed);
        self.stats
            .time_to_first_token_us
            .fetch_add(waited, Ordering::Relaxed);
        self.stats.tokens_generated.fetch_add(1, Ordering::Relaxed);
        if let Some(prompts) = self.generator.prompt_cache_stats() {
            (self.stats.prompt_tokens_reused).store(prompts.reused_tokens, Ordering::Relaxed);
        }
        // Counted before the client can see its first token.
        self.stats.active.store(self.batch.len(), Ordering::SeqCst);
        self.deliver(id, event);
    }

    /// Sends `event` to its request; forgets the request once it is finished, and takes the
    /// sequence out of the batch when its client has gone (a finished one has left already).
    fn deliver(&mut self, id: SequenceId, event: TokenEvent) {
        let finished = event.finish.is_some();
        let delivered = (self.active.get(&id))
            .is_some_and(|active| active.events.send(EngineEvent::Token(event)).is_ok());
        if finished || !delivered {
            self.active.remove(&id);
        }
        if !finished && !delivered {
            self.batch.remove(id);
        }
    }

    /// Removes sequences whose client went away, and ends those past their deadline.
    fn drop_abandoned(&mut self) {
        let now = Instant::now();
        let ids: Vec<SequenceId> = self.batch.ids().collect();
        for id in ids {
            let Some(active) = self.active.get(&id) else {
                self.batch.remove(id);
                continue;
            };
            if active.events.is_disconnected() {
                self.batch.remove(id);
                self.active.remove(&id);
            } else if now >= active.deadline {
                let event = TokenEvent {
                    token: 0,
                    text: String::new(),
                    finish: Some(FinishReason::Length),
                    logprobs: None,
                    stop_sequence: None,
                };
                let _ = active.events.send(EngineEvent::Token(event));
                self.batch.remove(id);
                self.active.remove(&id);
            }
        }
    }

    /// One decode step for the whole batch.
    fn step(&mut self) {
        let started = Instant::now();
        let batch = &mut self.batch;
        match catch_unwind(AssertUnwindSafe(|| batch.step())) {
            Ok(events) => {
                let seconds = started.elapsed().as_secs_f64().max(1e-9);
                let tokens = events.len() as u64;
                self.stats.steps.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .tokens_generated
                    .fetch_add(tokens, Ordering::Relaxed);
                self.stats
                    .recent_tokens_per_sec_milli
                    .store((tokens as f64 / seconds * 1000.0) as u64, Ordering::Relaxed);
                for (id, event) in events {
                    self.deliver(id, event);
                }
            }
            Err(panic) => {
                // The cache may be inconsistent: fail every sequence in the batch and restart.
                self.stats.panics.fetch_add(1, Ordering::Relaxed);
                let message = panic_message(&panic);
                for (_, active) in self.active.drain() {
                    let _ = active.events.send(EngineEvent::Failed(message.clone()));
                }
                self.batch = self.generator.batch();
            }
        }
    }
}

/// A client-facing message for a caught panic.
fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    format!("internal error while generating: {}", panic_text(panic))
}

/// The text a panic was raised with (its `&str` or `String` payload), for messages about it.
pub fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}
