//! Approximate dense search for large collections: an HNSW graph (USearch) that takes new
//! vectors and deletions without being rebuilt, and saves to one file.
//!
//! USearch is chosen over `instant-distance` (which builds a graph once and can neither add nor
//! delete points) and `hnsw_rs` (no deletion): it adds and removes by key in place, saves and
//! loads one file, and is actively maintained. Vectors are kept as f32, so scores are the same
//! dot products [`FlatIndex`](crate::FlatIndex) computes; only which vectors are visited is
//! approximate.

use std::path::Path;

use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::dense::{Hit, IndexError, VectorIndex, sort_hits};

/// Neighbours per node on the upper levels (twice that on the bottom one).
const CONNECTIVITY: usize = 16;
/// Candidates kept while linking a new vector.
const EXPANSION_ADD: usize = 128;
/// Candidates kept while searching (USearch keeps at least `k`).
const EXPANSION_SEARCH: usize = 64;
/// Room reserved when the graph is first grown.
const FIRST_CAPACITY: usize = 1024;

/// An HNSW graph of vectors by id, searched by dot product.
pub struct HnswIndex {
    graph: Index,
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("dimension", &self.dimension())
            .field("len", &self.len())
            .finish()
    }
}

fn options(dimension: usize) -> IndexOptions {
    IndexOptions {
        dimensions: dimension,
        metric: MetricKind::IP,
        quantization: ScalarKind::F32,
        connectivity: CONNECTIVITY,
        expansion_add: EXPANSION_ADD,
        expansion_search: EXPANSION_SEARCH,
        multi: false,
    }
}

fn backend(what: &str, error: impl std::fmt::Display) -> IndexError {
    IndexError::Backend(format!("HNSW {what}: {error}"))
}

impl HnswIndex {
    /// An empty graph of `dimension`-wide vectors.
    pub fn new(dimension: usize) -> Result<Self, IndexError> {
        let graph = Index::new(&options(dimension)).map_err(|e| backend("creation", e))?;
        Ok(HnswIndex { graph })
    }

    /// Reads a graph saved by [`save`](Self::save), which must hold `dimension`-wide vectors.
    pub fn load(path: &Path, dimension: usize) -> Result<Self, IndexError> {
        let bytes =
            std::fs::read(path).map_err(|e| backend(&format!("file {}", path.display()), e))?;
        Self::from_bytes(&bytes, dimension)
    }

    /// Writes the graph and its vectors to `path` (atomically).
    pub fn save(&self, path: &Path) -> Result<(), IndexError> {
        claude_files::write_atomic(path, &self.to_bytes()?)
            .map_err(|e| backend("save", format!("{}: {e}", path.display())))
    }

    /// The graph and its vectors as one file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, IndexError> {
        let mut bytes = vec![0u8; self.graph.serialized_length()];
        self.graph
            .save_to_buffer(&mut bytes)
            .map_err(|e| backend("serialization", e))?;
        Ok(bytes)
    }

    /// A graph from [`to_bytes`](Self::to_bytes), which must hold `dimension`-wide vectors.
    pub fn from_bytes(bytes: &[u8], dimension: usize) -> Result<Self, IndexError> {
        let index = Self::new(dimension)?;
        index
            .graph
            .load_from_buffer(bytes)
            .map_err(|e| backend("file", e))?;
        if index.graph.dimensions() != dimension {
            return Err(IndexError::Dimension {
                expected: dimension,
                got: index.graph.dimensions(),
            });
        }
        Ok(index)
    }

    /// Makes room for `additional` more vectors (growing by doubling).
    fn reserve(&self, additional: usize) -> Result<(), IndexError> {
        let needed = self.graph.size() + additional;
        if needed > self.graph.capacity() {
            let capacity = needed.max(self.graph.capacity() * 2).max(FIRST_CAPACITY);
            self.graph
                .reserve(capacity)
                .map_err(|e| backend("reserve", e))?;
        }
        Ok(())
    }
}

impl VectorIndex for HnswIndex {
    fn dimension(&self) -> usize {
        self.graph.dimensions()
    }

    fn len(&self) -> usize {
        self.graph.size()
    }

    fn add(&mut self, id: u64, vector: &[f32]) -> Result<(), IndexError> {
        if vector.len() != self.dimension() {
            return Err(IndexError::Dimension {
                expected: self.dimension(),
                got: vector.len(),
            });
        }
        if self.graph.contains(id) {
            return Err(IndexError::DuplicateId(id));
        }
        self.reserve(1)?;
        self.graph.add(id, vector).map_err(|e| backend("add", e))
    }

    fn remove(&mut self, id: u64) -> bool {
        self.graph.remove(id).is_ok_and(|removed| removed > 0)
    }

    fn search(&self, query: &[f32], k: usize) -> Vec<Hit> {
        assert_eq!(query.len(), self.dimension(), "query width");
        let k = k.min(self.len());
        if k == 0 {
            return Vec::new();
        }
        let found = self
            .graph
            .search(query, k)
            .expect("searching a graph of the query's width");
        let mut hits: Vec<Hit> = found
            .keys
            .iter()
            .zip(&found.distances)
            .map(|(&id, &distance)| Hit {
                id,
                score: 1.0 - distance,
            })
            .collect();
        sort_hits(&mut hits);
        hits
    }
}
