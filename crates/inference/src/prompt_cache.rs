//! Prompt (prefix) caching: the keys and values of recent prompts, kept so that a prompt sharing
//! a prefix with one of them (a system prompt, a chat's earlier turns, a RAG instruction) feeds
//! only what follows the prefix ([`claude_core::Gpt::extend`]) instead of running again from
//! position 0.
//!
//! Entries are one-row [`KvCache`]s with the tokens they hold, most recently used last; the
//! least recently used go once the entries' key/value memory passes the budget. A lookup
//! returns the longest shared prefix of at least [`MIN_REUSED`] tokens, always leaving the
//! prompt's last token to feed (its logits are the ones wanted). An entry's buffers are shared
//! with the caches made from it (burn's tensors are reference-counted): the first write into a
//! shared buffer copies it, so an entry never changes after it is stored.

use claude_core::KvCache;

/// The shortest shared prefix worth reusing (shorter ones are fed again).
pub const MIN_REUSED: usize = 8;

/// Recent prompts' key/value caches, within a memory budget.
#[derive(Debug)]
pub struct PromptCache {
    entries: Vec<Entry>,
    budget_bytes: usize,
    stats: PromptCacheStats,
}

/// What a [`PromptCache`] has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PromptCacheStats {
    /// Prompts that reused a cached prefix.
    pub hits: u64,
    /// Prompt tokens not fed again thanks to those prefixes.
    pub reused_tokens: u64,
    /// Prompts looked up.
    pub lookups: u64,
}

#[derive(Debug)]
struct Entry {
    tokens: Vec<u32>,
    cache: KvCache,
}

impl PromptCache {
    /// An empty cache that keeps at most `budget_bytes` of keys and values.
    pub fn new(budget_bytes: usize) -> Self {
        PromptCache {
            entries: Vec::new(),
            budget_bytes,
            stats: PromptCacheStats::default(),
        }
    }

    /// The longest cached prefix of `prompt` (at least [`MIN_REUSED`] tokens, at most all but
    /// the last): a cache of it, cut to that length, and the length. `None` when no entry
    /// shares enough.
    pub fn lookup(&mut self, prompt: &[u32]) -> Option<(KvCache, usize)> {
        self.stats.lookups += 1;
        let usable = prompt.len().saturating_sub(1);
        let (index, shared) = (self.entries.iter().enumerate())
            .map(|(i, entry)| (i, shared_prefix(&entry.tokens, prompt).min(usable)))
            .max_by_key(|&(i, shared)| (shared, i))?;
        if shared < MIN_REUSED {
            return None;
        }
        // Most recently used last.
        let entry = self.entries.remove(index);
        let mut cache = entry.cache.clone();
        self.entries.push(entry);
        cache.truncate(0, shared);
        self.stats.hits += 1;
        self.stats.reused_tokens += shared as u64;
        Some((cache, shared))
    }

    /// Keeps `cache` (one row holding exactly `tokens`) for later prompts. An entry whose tokens
    /// the new ones extend is dropped (the new one serves its prompts too); the least recently
    /// used entries go while the budget is exceeded (a cache larger than the whole budget is
    /// not kept).
    pub fn insert(&mut self, tokens: Vec<u32>, cache: KvCache) {
        if tokens.len() < MIN_REUSED || cache.memory_bytes() > self.budget_bytes {
            return;
        }
        self.entries
            .retain(|entry| shared_prefix(&entry.tokens, &tokens) < entry.tokens.len());
        self.entries.push(Entry { tokens, cache });
        while self.memory_bytes() > self.budget_bytes {
            self.entries.remove(0);
        }
    }

    /// Bytes of keys and values the entries hold.
    pub fn memory_bytes(&self) -> usize {
        self.entries.iter().map(|e| e.cache.memory_bytes()).sum()
    }

    /// Number of cached prompts.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The counts so far.
    pub fn stats(&self) -> PromptCacheStats {
        self.stats
    }
}

/// Length of the common prefix of `a` and `b`.
fn shared_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
