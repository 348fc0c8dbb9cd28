//! Dense search: vectors by id, the `k` nearest to a query by dot product (on unit vectors, the
//! cosine). [`VectorIndex`] is implemented by [`FlatIndex`], the exact one scoring every
//! stored vector, and by the approximate [`HnswIndex`](crate::HnswIndex).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use claude_quant::dot_f32;
use rayon::prelude::*;

/// A search result: a stored vector's id and its score (higher is nearer).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The id the vector was added under.
    pub id: u64,
    /// Its dot product with the query.
    pub score: f32,
}

/// Why a vector cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// A vector of another width than the index's.
    #[error("a vector of {got} dimensions, the index holds {expected}")]
    Dimension {
        /// The index's width.
        expected: usize,
        /// The vector's.
        got: usize,
    },
    /// An id that is already stored.
    #[error("id {0} is already in the index")]
    DuplicateId(u64),
    /// The search library failed (a full disk, a damaged file).
    #[error("{0}")]
    Backend(String),
}

/// Vectors by id, searchable by dot product.
pub trait VectorIndex {
    /// Width of the vectors.
    fn dimension(&self) -> usize;
    /// Number of vectors stored.
    fn len(&self) -> usize;
    /// Whether nothing is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Stores `vector` under `id`.
    fn add(&mut self, id: u64, vector: &[f32]) -> Result<(), IndexError>;
    /// Forgets the vector of `id`; whether there was one.
    fn remove(&mut self, id: u64) -> bool;
    /// The `k` stored vectors with the highest dot product with `query`, best first (equal
    /// scores by id).
    ///
    /// # Panics
    /// If `query` is not [`dimension`](Self::dimension) wide.
    fn search(&self, query: &[f32], k: usize) -> Vec<Hit>;
}

/// Exact search: every vector is scored (in parallel over large indexes).
#[derive(Debug, Clone)]
pub struct FlatIndex {
    dimension: usize,
    ids: Vec<u64>,
    /// Row `i` is the vector of `ids[i]`.
    vectors: Vec<f32>,
    rows: HashMap<u64, usize>,
}

/// Vectors scored per task.
const ROWS_PER_TASK: usize = 4096;

impl FlatIndex {
    /// An empty index of `dimension`-wide vectors.
    pub fn new(dimension: usize) -> Self {
        FlatIndex {
            dimension,
            ids: Vec::new(),
            vectors: Vec::new(),
            rows: HashMap::new(),
        }
    }

    /// The stored vector of `id`.
    pub fn vector(&self, id: u64) -> Option<&[f32]> {
        let row = *self.rows.get(&id)?;
        Some(&self.vectors[row * self.dimension..(row + 1) * self.dimension])
    }
}

impl VectorIndex for FlatIndex {
    fn dimension(&self) -> usize {
        self.dimension
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    fn add(&mut self, id: u64, vector: &[f32]) -> Result<(), IndexError> {
        if vector.len() != self.dimension {
            return Err(IndexError::Dimension {
                expected: self.dimension,
                got: vector.len(),
            });
        }
        if self.rows.contains_key(&id) {
            return Err(IndexError::DuplicateId(id));
        }
        self.rows.insert(id, self.ids.len());
        self.ids.push(id);
        self.vectors.extend_from_slice(vector);
        Ok(())
    }

    fn remove(&mut self, id: u64) -> bool {
        let Some(row) = self.rows.remove(&id) else {
            return false;
        };
        // Move the last row into the hole.
        let last = self.ids.len() - 1;
        if row != last {
            let d = self.dimension;
            self.vectors.copy_within(last * d..(last + 1) * d, row * d);
            self.ids[row] = self.ids[last];
            self.rows.insert(self.ids[row], row);
        }
        self.ids.pop();
        self.vectors.truncate(last * self.dimension);
        true
    }

    fn search(&self, query: &[f32], k: usize) -> Vec<Hit> {
        assert_eq!(query.len(), self.dimension, "query width");
        // Never more room than there are vectors, whatever `k` asks.
        let k = k.min(self.ids.len());
        if k == 0 {
            return Vec::new();
        }
        let d = self.dimension.max(1);
        let best = self
            .vectors
            .par_chunks(ROWS_PER_TASK * d)
            .enumerate()
            .map(|(task, rows)| {
                let mut best = TopK::new(k);
                for (i, row) in rows.chunks_exact(d).enumerate() {
                    let id = self.ids[task * ROWS_PER_TASK + i];
                    let score = dot_f32(row, query).expect("rows and query are as wide");
                    best.offer(Hit { id, score });
                }
                best
            })
            .reduce(|| TopK::new(k), TopK::merge);
        best.into_sorted()
    }
}

/// Best first: higher scores, then lower ids.
pub(crate) fn best_first(a: &Hit, b: &Hit) -> Ordering {
    b.score.total_cmp(&a.score).then(a.id.cmp(&b.id))
}

/// Sorts hits best first (equal scores by id).
pub(crate) fn sort_hits(hits: &mut [Hit]) {
    hits.sort_by(best_first);
}

/// A hit ordered so that the heap's top is the worst kept: lowest score, then highest id.
#[derive(Debug, Clone, Copy)]
struct Worst(Hit);

impl PartialEq for Worst {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Worst {}

impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        // Greater = worse: a lower score, or the same score and a higher id.
        best_first(&self.0, &other.0)
    }
}

/// The `k` best hits offered so far.
struct TopK {
    k: usize,
    heap: BinaryHeap<Worst>,
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    fn offer(&mut self, hit: Hit) {
        self.heap.push(Worst(hit));
        if self.heap.len() > self.k {
            self.heap.pop();
        }
    }

    fn merge(mut self, other: TopK) -> TopK {
        for Worst(hit) in other.heap {
            self.offer(hit);
        }
        self
    }

    /// Best first.
    fn into_sorted(self) -> Vec<Hit> {
        let mut hits: Vec<Worst> = self.heap.into_vec();
        hits.sort();
        hits.into_iter().map(|Worst(hit)| hit).collect()
    }
}
