//! Searching an index: nearest vectors (exact or through the HNSW graph), BM25, or both fused
//! by reciprocal rank.

use super::{DocumentIndex, DocumentIndexError, StoredChunk};
use crate::dense::{Hit, IndexError, VectorIndex};
use crate::fusion::reciprocal_rank_fusion;
use crate::text_embedder::TextEmbedder;

/// Candidates each search contributes to a hybrid ranking (at least `k`).
const FUSION_CANDIDATES: usize = 50;

/// How a query is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Nearest vectors through the HNSW graph.
    Dense,
    /// Nearest vectors, every one scored.
    Exact,
    /// BM25 over words.
    Bm25,
    /// Dense and BM25 rankings fused by reciprocal rank.
    #[default]
    Hybrid,
}

impl SearchMode {
    /// Whether the query must be embedded.
    pub fn needs_vector(self) -> bool {
        self != SearchMode::Bm25
    }
}

impl std::str::FromStr for SearchMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "dense" => Ok(SearchMode::Dense),
            "exact" => Ok(SearchMode::Exact),
            "bm25" => Ok(SearchMode::Bm25),
            "hybrid" => Ok(SearchMode::Hybrid),
            other => Err(format!(
                "search mode {other:?} is not one of dense, exact, bm25, hybrid"
            )),
        }
    }
}

/// A chunk found by a search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit<'a> {
    /// The chunk.
    pub chunk: &'a StoredChunk,
    /// Its score under the search mode (dot product, BM25 or fused reciprocal rank).
    pub score: f32,
}

impl DocumentIndex {
    /// The ids and scores of the `k` best chunks for `query`, best first.
    ///
    /// # Panics
    /// If the mode [needs a vector](SearchMode::needs_vector) and `vector` is `None`.
    pub fn ranked(
        &self,
        query: &str,
        vector: Option<&[f32]>,
        k: usize,
        mode: SearchMode,
    ) -> Result<Vec<Hit>, DocumentIndexError> {
        let dense = |k: usize, exact: bool| -> Result<Vec<Hit>, DocumentIndexError> {
            let vector = vector.expect("a dense search needs the query's vector");
            if vector.len() != self.flat.dimension() {
                return Err(IndexError::Dimension {
                    expected: self.flat.dimension(),
                    got: vector.len(),
                }
                .into());
            }
            Ok(if exact {
                self.flat.search(vector, k)
            } else {
                self.hnsw.search(vector, k)
            })
        };
        Ok(match mode {
            SearchMode::Dense => dense(k, false)?,
            SearchMode::Exact => dense(k, true)?,
            SearchMode::Bm25 => self.bm25.search(query, k)?,
            SearchMode::Hybrid => {
                let candidates = FUSION_CANDIDATES.max(k);
                let dense = dense(candidates, false)?;
                let lexical = self.bm25.search(query, candidates)?;
                reciprocal_rank_fusion(&[&dense, &lexical], k)
            }
        })
    }

    /// The `k` chunks that best match `query`, embedded by `embedder` (which must be the
    /// index's), best first.
    pub fn search(
        &self,
        query: &str,
        embedder: &dyn TextEmbedder,
        k: usize,
        mode: SearchMode,
    ) -> Result<Vec<SearchHit<'_>>, DocumentIndexError> {
        let vector = if mode.needs_vector() {
            self.check_embedder(embedder.identity())?;
            let embedded = embedder.embed_texts(&[query]);
            Some(
                embedded
                    .into_iter()
                    .next()
                    .expect("one text, one vector")
                    .vector,
            )
        } else {
            None
        };
        let hits = self.ranked(query, vector.as_deref(), k, mode)?;
        Ok(hits
            .into_iter()
            .map(|hit| SearchHit {
                chunk: self.chunk(hit.id).expect("every hit is a stored chunk"),
                score: hit.score,
            })
            .collect())
    }
}
