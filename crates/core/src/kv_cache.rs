//! The key/value cache for incremental decoding.
//!
//! Each layer keeps one buffer of keys and one of values, `[rows, heads, allocated, head_dim]`,
//! where a row is one sequence. The buffers grow with the longest row, by a quarter up to the
//! model's context length (the capacity), so a short chat with a model of 8192 positions holds
//! memory for hundreds of positions, not 8192. Rows may hold different numbers of tokens: a
//! decode step writes each row's new key and value at that row's own length and masks the
//! positions beyond it, so sequences of different lengths advance in one forward pass. Writes go
//! into the buffer in place (the cache holds the only reference), so a step costs O(1) in the
//! sequence length besides attention itself (and an amortised O(1) for growing).
//!
//! A sliding-window layer (Gemma's local layers) keeps only its window: its buffers are a ring of
//! `window` positions, position `p` at slot `p % window`, so its memory stops growing at the
//! window whatever the context. After a step a row at position `p` holds exactly positions
//! `p - window + 1 ..= p` there, in slots `0..min(p + 1, window)`: the valid keys are still a
//! prefix of the buffer (their order does not matter to attention, the keys being rotated
//! already), so the same masks and fused kernel serve both kinds of layer.
//!
//! The buffers hold f32, or f16 ([`KvCacheType`]): half the memory, as llama.cpp keeps its cache
//! by default. New keys and values are rounded to f16 as they are written; the decode kernel
//! reads f16 directly, and burn's attention (prompt chunks, other backends) gets an f32 copy.

use burn::prelude::*;
use burn::tensor::{DType, FloatDType};
use claude_tensors::kernels::write_cache_slots;

/// What a [`KvCache`] stores its keys and values as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KvCacheType {
    /// 32-bit floats: the values attention computed, exactly.
    #[default]
    F32,
    /// 16-bit floats: half the memory (and half the bytes a decode step reads), each value
    /// rounded to 11 significant bits.
    F16,
}

impl KvCacheType {
    /// The element type of the buffers.
    pub fn dtype(self) -> FloatDType {
        match self {
            KvCacheType::F32 => FloatDType::F32,
            KvCacheType::F16 => FloatDType::F16,
        }
    }
}

/// Positions the buffers first hold (unless the prompt is longer).
const FIRST_ALLOCATION: usize = 64;

/// One layer's cached keys and values, `[rows, heads, allocated, head_dim]` each.
#[derive(Debug, Clone)]
pub(crate) struct LayerCache {
    keys: Tensor<4>,
    values: Tensor<4>,
    /// The most positions the buffers may grow to (the window, for a ring).
    capacity: usize,
    /// Whether positions wrap around the buffers (a sliding-window layer whose window is shorter
    /// than the context).
    ring: bool,
}

impl LayerCache {
    /// Zeroed buffers for `rows` sequences of up to `capacity` positions, first allocated for
    /// `first` positions (at least [`FIRST_ALLOCATION`], at most `capacity`).
    ///
    /// With a `window` shorter than `capacity`, the buffers are a ring of `window` positions.
    pub(crate) fn zeros(
        rows: usize,
        heads: usize,
        (first, capacity, window): (usize, usize, Option<usize>),
        head_dim: usize,
        (kind, device): (KvCacheType, &Device),
    ) -> Self {
        let ring = window.is_some_and(|window| window < capacity);
        let capacity = window.map_or(capacity, |window| window.min(capacity));
        let allocated = first.max(FIRST_ALLOCATION).min(capacity);
        let shape = [rows, heads, allocated, head_dim];
        let dtype = kind.dtype().into();
        LayerCache {
            keys: Tensor::zeros(shape, (device, dtype)),
            values: Tensor::zeros(shape, (device, dtype)),
            capacity,
            ring,
        }
    }

    /// The buffer slot of position `position`.
    fn slot(&self, position: usize) -> usize {
        match self.ring {
            true => position % self.capacity,
            false => position,
        }
    }

    /// The keys to read when the longest row has `key_len`: all of them, or the whole ring.
    pub(crate) fn readable(&self, key_len: usize) -> usize {
        key_len.min(self.capacity)
    }

    /// Positions the buffers hold now.
    fn allocated(&self) -> usize {
        self.keys.dims()[2]
    }

    /// Grows the buffers until they hold `len` positions: by a quarter, at least
    /// [`FIRST_ALLOCATION`] positions, at most to the capacity. A quarter keeps the copies an
    /// amortised O(1) per position and leaves at most a fifth of the buffers unused (doubling
    /// had left up to half: at 32 rows, a third of a small model's serving memory).
    fn reserve(&mut self, len: usize) {
        let allocated = self.allocated();
        if len > allocated {
            let step = (allocated / 4).max(FIRST_ALLOCATION);
            self.grow_to((allocated + step).max(len).min(self.capacity));
        }
    }

    /// Grows the buffers to exactly `allocated` positions (no-op when they hold as many).
    fn grow_to(&mut self, allocated: usize) {
        let [rows, heads, now, head_dim] = self.keys.dims();
        if allocated <= now {
            return;
        }
        let device = self.keys.device();
        let extra = [rows, heads, allocated - now, head_dim];
        for buffer in [&mut self.keys, &mut self.values] {
            let zeros = Tensor::zeros(extra, (&device, buffer.dtype()));
            replace_with(buffer, |t| Tensor::cat(vec![t, zeros], 2));
        }
    }

    /// Stores the keys and values of positions `0..seq` for every row.
    ///
    /// # Shapes
    /// - keys, values: `[rows, heads, seq, head_dim]`
    pub(crate) fn write_prefix(&mut self, mut keys: Tensor<4>, mut values: Tensor<4>) {
        let seq = keys.dims()[2];
        if self.ring && seq > self.capacity {
            // The last `window` positions, each at its slot: the oldest kept one, `seq - window`,
            // belongs at slot `(seq - window) % window`, so the tail is rotated by that much.
            let window = self.capacity;
            let first = (seq - window) % window;
            let ring = |t: Tensor<4>| {
                let tail = t.slice(s![.., .., seq - window..seq, ..]);
                let wrapped = tail.clone().slice(s![.., .., window - first..window, ..]);
                let rest = tail.slice(s![.., .., 0..window - first, ..]);
                Tensor::cat(vec![wrapped, rest], 2)
            };
            (keys, values) = (ring(keys), ring(values));
        }
        self.write_range(0, keys, values);
    }

    /// Stores one new key and value per row, row `b` at position `positions[b]` (one kernel
    /// call per buffer, in place on the CPU: burn's slice assignments, one per row, had cost
    /// a few percent of a batched decode step).
    ///
    /// # Shapes
    /// - keys, values: `[rows, heads, 1, head_dim]`
    pub(crate) fn write_at(&mut self, positions: &[usize], keys: Tensor<4>, values: Tensor<4>) {
        self.reserve(positions.iter().max().map_or(0, |&p| p + 1));
        let slots: Vec<usize> = positions.iter().map(|&p| self.slot(p)).collect();
        replace_with(&mut self.keys, |t| write_cache_slots(t, keys, &slots));
        replace_with(&mut self.values, |t| write_cache_slots(t, values, &slots));
    }

    /// Stores the keys and values of positions `start..start + seq` for every row, at their own
    /// slots (a ring layer takes them only before it wraps, `start + seq <= window`).
    ///
    /// # Shapes
    /// - keys, values: `[rows, heads, seq, head_dim]`
    pub(crate) fn write_range(&mut self, start: usize, keys: Tensor<4>, values: Tensor<4>) {
        let end = start + keys.dims()[2];
        assert!(
            end <= self.capacity,
            "positions {start}..{end} past the cache's {}",
            self.capacity
        );
        self.reserve(end);
        let (keys, values) = (self.stored(keys), self.stored(values));
        replace_with(&mut self.keys, |t| {
            t.slice_assign(s![.., .., start..end, ..], keys)
        });
        replace_with(&mut self.values, |t| {
            t.slice_assign(s![.., .., start..end, ..], values)
        });
    }

    /// `t` in the buffers' element type.
    fn stored(&self, t: Tensor<4>) -> Tensor<4> {
        let dtype = self.keys.dtype();
        match t.dtype() == dtype {
            true => t,
            false => t.cast(FloatDType::from(dtype)),
        }
    }

    /// Keys and values of positions `0..len` as stored (views, not copies where the backend
    /// allows): what the decode kernel reads.
    pub(crate) fn prefix(&self, len: usize) -> (Tensor<4>, Tensor<4>) {
        (
            self.keys.clone().slice(s![.., .., 0..len, ..]),
            self.values.clone().slice(s![.., .., 0..len, ..]),
        )
    }

    /// [`prefix`](Self::prefix) in f32 (a copy when the buffers hold f16): what burn's
    /// attention takes.
    pub(crate) fn prefix_f32(&self, len: usize) -> (Tensor<4>, Tensor<4>) {
        let (keys, values) = self.prefix(len);
        match keys.dtype() == DType::F32 {
            true => (keys, values),
            false => (keys.cast(FloatDType::F32), values.cast(FloatDType::F32)),
        }
    }

    fn append(&mut self, mut other: LayerCache) {
        let allocated = self.allocated().max(other.allocated());
        self.grow_to(allocated);
        other.grow_to(allocated);
        replace_with(&mut self.keys, |t| Tensor::cat(vec![t, other.keys], 0));
        replace_with(&mut self.values, |t| Tensor::cat(vec![t, other.values], 0));
    }

    fn select(&mut self, rows: &Tensor<1, Int>) {
        replace_with(&mut self.keys, |t| t.select(0, rows.clone()));
        replace_with(&mut self.values, |t| t.select(0, rows.clone()));
    }

    fn replace_row(&mut self, row: usize, mut other: LayerCache) {
        let allocated = self.allocated().max(other.allocated());
        self.grow_to(allocated);
        other.grow_to(allocated);
        replace_with(&mut self.keys, |t| {
            t.slice_assign(s![row..row + 1, ..], other.keys)
        });
        replace_with(&mut self.values, |t| {
            t.slice_assign(s![row..row + 1, ..], other.values)
        });
    }
}

/// Applies a consuming tensor operation to a tensor held by `&mut`, keeping it uniquely owned so
/// the backend may update it in place.
fn replace_with(slot: &mut Tensor<4>, op: impl FnOnce(Tensor<4>) -> Tensor<4>) {
    let device = slot.device();
    let taken = std::mem::replace(slot, Tensor::empty([0, 0, 0, 0], &device));
    *slot = op(taken);
}

/// Cached keys and values of every layer for a batch of sequences ("rows") that may have
/// different lengths. Made by [`Gpt::prefill`](crate::Gpt::prefill) and advanced by
/// [`Gpt::decode`](crate::Gpt::decode).
#[derive(Debug, Clone)]
pub struct KvCache {
    pub(crate) layers: Vec<LayerCache>,
    lengths: Vec<usize>,
    capacity: usize,
}

impl KvCache {
    pub(crate) fn new(layers: Vec<LayerCache>, lengths: Vec<usize>, capacity: usize) -> Self {
        KvCache {
            layers,
            lengths,
            capacity,
        }
    }

    /// Number of sequences.
    pub fn rows(&self) -> usize {
        self.lengths.len()
    }

    /// Tokens cached for each row.
    pub fn lengths(&self) -> &[usize] {
        &self.lengths
    }

    /// The most tokens a row can hold (the model's context length).
    ///
    /// The buffers hold fewer until a row needs more: see [`KvCache::allocated`].
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Positions the buffers hold now (every row has room for as many), at most the capacity
    /// (a sliding-window layer holds at most its window).
    pub fn allocated(&self) -> usize {
        self.layers
            .iter()
            .map(LayerCache::allocated)
            .max()
            .unwrap_or(0)
    }

    /// Bytes the key and value buffers take (as allocated, not as filled).
    pub fn memory_bytes(&self) -> usize {
        (self.layers.iter())
            .map(|layer| {
                let elements = layer.keys.shape().num_elements();
                2 * elements * layer.keys.dtype().size()
            })
            .sum()
    }

    /// Whether `row` has no room for another token.
    pub fn is_full(&self, row: usize) -> bool {
        self.lengths[row] >= self.capacity
    }

    /// Adds the rows of `other` after this cache's rows.
    ///
    /// # Panics
    /// If the caches come from models of different shapes.
    pub fn append(&mut self, other: KvCache) {
        assert_eq!(
            self.layers.len(),
            other.layers.len(),
            "caches of different models"
        );
        assert_eq!(self.capacity, other.capacity, "caches of different models");
        for (layer, theirs) in self.layers.iter_mut().zip(other.layers) {
            layer.append(theirs);
        }
        self.lengths.extend(other.lengths);
    }

    /// Keeps only the rows in `keep`, in that order.
    ///
    /// # Panics
    /// If `keep` is empty or names a row that does not exist.
    pub fn retain(&mut self, keep: &[usize]) {
        assert!(!keep.is_empty(), "a cache keeps at least one row");
        assert!(
            keep.iter().all(|&row| row < self.rows()),
            "row out of range in {keep:?} (cache has {} rows)",
            self.rows()
        );
        if keep.iter().copied().eq(0..self.rows()) {
            return;
        }
        let device = self.layers[0].keys.device();
        let ids: Vec<i32> = keep.iter().map(|&row| row as i32).collect();
        let rows = Tensor::<1, Int>::from_data(TensorData::new(ids, [keep.len()]), &device);
        for layer in &mut self.layers {
            layer.select(&rows);
        }
        self.lengths = keep.iter().map(|&row| self.lengths[row]).collect();
    }

    /// Replaces `row` with the single row of `other` (used to restart a sequence, e.g. after
    /// sliding its window).
    ///
    /// # Panics
    /// If `other` does not have exactly one row or comes from a different model.
    pub fn replace_row(&mut self, row: usize, other: KvCache) {
        assert_eq!(other.rows(), 1, "replace_row takes a one-row cache");
        assert_eq!(self.capacity, other.capacity, "caches of different models");
        for (layer, theirs) in self.layers.iter_mut().zip(other.layers) {
            layer.replace_row(row, theirs);
        }
        self.lengths[row] = other.lengths[0];
    }

    /// Forgets `row`'s tokens from position `len` on (no-op when it holds fewer): the next
    /// tokens fed overwrite them. What a cached prompt prefix is cut to before another prompt
    /// continues it.
    ///
    /// # Panics
    /// If `row` does not exist.
    pub fn truncate(&mut self, row: usize, len: usize) {
        self.lengths[row] = self.lengths[row].min(len);
    }

    /// Records `tokens` more tokens in every row.
    pub(crate) fn advance_by(&mut self, tokens: usize) {
        for len in &mut self.lengths {
            *len += tokens;
        }
    }
}

/// What every layer needs for one decode step: where each row's new token goes and which cached
/// positions each row may attend to.
pub(crate) struct DecodeStep {
    /// Position of each row's new token (its cached length before the step).
    pub positions: Vec<usize>,
    /// The same positions as a tensor, `[rows]`.
    pub position_ids: Tensor<1, Int>,
    /// Keys to read: `0..key_len`, the longest row after the step.
    pub key_len: usize,
    /// `true` where a row must not look (beyond its own length), `[rows, kv_heads, group,
    /// key_len]`: the queries of a key/value head's group read the same keys.
    pub mask: Tensor<4, Bool>,
    /// Each row's number of keys after the step (its position + 1), `[rows]` in i32: what the
    /// fused attention kernel reads instead of the mask.
    pub key_lens: Tensor<1, Int>,
}

impl DecodeStep {
    /// The step that appends one token to every row of `cache`.
    ///
    /// # Panics
    /// If a row is full.
    pub(crate) fn new(cache: &KvCache, (kv_heads, group): (usize, usize), device: &Device) -> Self {
        let positions = cache.lengths.clone();
        if let Some(row) = (0..cache.rows()).find(|&row| cache.is_full(row)) {
            panic!(
                "row {row} holds {} tokens, the context length: no room to decode",
                cache.capacity
            );
        }
        let rows = positions.len();
        let key_len = positions.iter().max().map_or(0, |&p| p + 1);
        let mut mask = Vec::with_capacity(rows * kv_heads * group * key_len);
        for &pos in &positions {
            for _ in 0..kv_heads * group {
                mask.extend((0..key_len).map(|key| key > pos));
            }
        }
        let mask = Tensor::<4, Bool>::from_data(
            TensorData::new(mask, [rows, kv_heads, group, key_len]),
            device,
        );
        let ids: Vec<i32> = positions.iter().map(|&p| p as i32).collect();
        let lens: Vec<i32> = ids.iter().map(|&p| p + 1).collect();
        DecodeStep {
            position_ids: Tensor::from_data(TensorData::new(ids, [rows]), device),
            key_lens: Tensor::from_data(
                TensorData::new(lens, [rows]),
                (device, burn::tensor::DType::I32),
            ),
            mask,
            positions,
            key_len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[1, 1, n, 1]` keys whose values are their positions, `start..start + n`.
    fn positions(start: usize, n: usize, device: &Device) -> Tensor<4> {
        let values: Vec<f32> = (start..start + n).map(|p| p as f32).collect();
        Tensor::<1>::from_floats(values.as_slice(), device).reshape([1, 1, n, 1])
    }

    fn slots(cache: &LayerCache, len: usize) -> Vec<f32> {
        cache.prefix(len).0.into_data().try_to_vec().unwrap()
    }

    #[test]
    fn a_window_layer_keeps_only_its_window_in_a_ring() {
        let device = Device::flex();
        let mut ring = LayerCache::zeros(1, 1, (7, 100, Some(4)), 1, (KvCacheType::F32, &device));
        // A prompt of 7: positions 3..=6 kept, position p at slot p % 4.
        ring.write_prefix(positions(0, 7, &device), positions(0, 7, &device));
        assert_eq!(ring.allocated(), 4);
        assert_eq!(slots(&ring, 4), [4.0, 5.0, 6.0, 3.0]);
        // Positions 7 and 8 overwrite the oldest, 3 and 4; the buffers never grow.
        for p in 7..9 {
            ring.write_at(&[p], positions(p, 1, &device), positions(p, 1, &device));
        }
        assert_eq!(ring.allocated(), 4);
        assert_eq!(slots(&ring, 4), [8.0, 5.0, 6.0, 7.0]);
        assert_eq!(ring.readable(9), 4);

        // A window as long as the context is no ring: positions stay at their index.
        let mut plain = LayerCache::zeros(1, 1, (3, 4, Some(4)), 1, (KvCacheType::F32, &device));
        plain.write_prefix(positions(0, 3, &device), positions(0, 3, &device));
        assert_eq!(slots(&plain, 3), [0.0, 1.0, 2.0]);
    }
}
