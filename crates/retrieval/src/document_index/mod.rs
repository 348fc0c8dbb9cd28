//! An index directory: documents cut into chunks, their vectors (searched exactly or through an
//! HNSW graph), a BM25 index of their words, and a manifest naming the embedder and chunking.
//!
//! ```text
//! INDEX/
//!   manifest.json        format, version, embedder, chunking, generation, file digests
//!   gen-000003/          the live generation
//!     chunks.jsonl       id, source, byte offsets, token count and text of every chunk
//!     vectors.f32        their unit vectors, in the same order
//!     hnsw.usearch       the HNSW graph over them
//!     bm25/              tantivy's index of their words
//! ```
//!
//! Every change (build, add, remove) writes a whole new generation in a staging folder, renames
//! it into place, then commits by rewriting `manifest.json` atomically; only then is the old
//! generation deleted. An interrupted change leaves the manifest naming the old generation, so
//! the index is as it was. Adding copies the BM25 index and extends the HNSW graph: nothing
//! already indexed is embedded or linked again.

mod error;
mod generation;
mod manifest;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

pub use error::DocumentIndexError;
pub use manifest::{FORMAT, MANIFEST, Manifest, VERSION};

use crate::bm25::Bm25Index;
use crate::chunk::{ChunkConfig, chunk_text, collect_documents};
use crate::dense::{FlatIndex, Hit, VectorIndex};
use crate::fusion::reciprocal_rank_fusion;
use crate::hnsw::HnswIndex;
use crate::text_embedder::{EmbedderIdentity, TextEmbedder};

/// Chunks embedded per progress report.
const EMBED_BATCH: usize = 64;
/// Candidates each search contributes to a hybrid ranking (at least `k`).
const FUSION_CANDIDATES: usize = 50;

/// A chunk as the index stores it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredChunk {
    /// Its id (never reused within an index).
    pub id: u64,
    /// The document it comes from, as it was given to `build` or `add`.
    pub source: String,
    /// Byte offset of its first character in the document.
    pub start: usize,
    /// Byte offset just past its last character.
    pub end: usize,
    /// Its tokens, as the embedder counts them.
    pub tokens: usize,
    /// Its text.
    pub text: String,
}

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

/// How far a build or an add has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Chunks embedded so far.
    pub embedded: usize,
    /// Chunks to embed in all.
    pub total: usize,
}

/// What an add changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddReport {
    /// Documents read.
    pub documents: usize,
    /// Of those, documents that were already indexed and were replaced.
    pub replaced: usize,
    /// Chunks added.
    pub chunks: usize,
    /// Chunks longer than the embedder sees, cut at its limit.
    pub truncated: usize,
}

/// An open index directory.
pub struct DocumentIndex {
    dir: PathBuf,
    manifest: Manifest,
    chunks: Vec<StoredChunk>,
    rows: HashMap<u64, usize>,
    flat: FlatIndex,
    hnsw: HnswIndex,
    bm25: Bm25Index,
}

impl std::fmt::Debug for DocumentIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentIndex")
            .field("dir", &self.dir)
            .field("chunks", &self.chunks.len())
            .finish()
    }
}

/// A new chunk and its vector, waiting to be committed.
type Embedded = (StoredChunk, Vec<f32>);

impl DocumentIndex {
    /// Builds a new index in `dir` (missing, or without a manifest) over the documents in
    /// `paths` (files, or folders searched for text and Markdown files).
    pub fn build(
        dir: &Path,
        paths: &[PathBuf],
        embedder: &dyn TextEmbedder,
        chunking: ChunkConfig,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(Self, AddReport), DocumentIndexError> {
        chunking
            .validate()
            .map_err(|message| DocumentIndexError::invalid(dir, message))?;
        if dir.join(MANIFEST).exists() {
            return Err(DocumentIndexError::invalid(
                dir,
                "already holds an index (use `index add` to add documents)",
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| DocumentIndexError::io(dir, e))?;
        let identity = embedder.identity().clone();
        let mut index = DocumentIndex {
            dir: dir.to_path_buf(),
            manifest: Manifest {
                format: FORMAT.to_string(),
                version: VERSION,
                embedder: identity.clone(),
                embedder_location: embedder.location().map(Path::to_path_buf),
                chunking,
                generation: 0,
                next_id: 0,
                chunks: 0,
                files: Default::default(),
            },
            chunks: Vec::new(),
            rows: HashMap::new(),
            flat: FlatIndex::new(identity.dimension),
            hnsw: HnswIndex::new(identity.dimension)?,
            bm25: Bm25Index::in_memory()?,
        };
        let report = index.add(paths, embedder, progress)?;
        Ok((index, report))
    }

    /// Opens the index in `dir`, checking every file against the manifest.
    pub fn open(dir: &Path) -> Result<Self, DocumentIndexError> {
        let manifest = Manifest::read(dir)?;
        let live = Manifest::generation_dir(dir, manifest.generation);
        let dimension = manifest.embedder.dimension;
        let chunks = generation::read_chunks(&live, &manifest.files)?;
        if chunks.len() != manifest.chunks {
            return Err(DocumentIndexError::invalid(
                &live.join(generation::CHUNKS),
                format!(
                    "{} chunks, the manifest says {}",
                    chunks.len(),
                    manifest.chunks
                ),
            ));
        }
        let flat = generation::read_vectors(&live, &manifest.files, &chunks, dimension)?;
        let hnsw = generation::read_hnsw(&live, &manifest.files, chunks.len(), dimension)?;
        let bm25 = generation::read_bm25(&live, chunks.len())?;
        let rows = chunks.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
        Ok(DocumentIndex {
            dir: dir.to_path_buf(),
            manifest,
            chunks,
            rows,
            flat,
            hnsw,
            bm25,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Every chunk, in index order.
    pub fn chunks(&self) -> &[StoredChunk] {
        &self.chunks
    }

    /// The chunk of `id`.
    pub fn chunk(&self, id: u64) -> Option<&StoredChunk> {
        self.rows.get(&id).map(|&row| &self.chunks[row])
    }

    /// The documents indexed, sorted.
    pub fn sources(&self) -> Vec<&str> {
        let mut sources: Vec<&str> = self.chunks.iter().map(|c| c.source.as_str()).collect();
        sources.sort_unstable();
        sources.dedup();
        sources
    }

    /// Refuses an embedder other than the one the index was built with.
    pub fn check_embedder(&self, embedder: &EmbedderIdentity) -> Result<(), DocumentIndexError> {
        if *embedder != self.manifest.embedder {
            return Err(DocumentIndexError::OtherEmbedder {
                built: self.manifest.embedder.clone(),
                given: embedder.clone(),
            });
        }
        Ok(())
    }

    /// Adds the documents in `paths`; a document already indexed (by source) is replaced.
    pub fn add(
        &mut self,
        paths: &[PathBuf],
        embedder: &dyn TextEmbedder,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<AddReport, DocumentIndexError> {
        self.check_embedder(embedder.identity())?;
        let documents = collect_documents(paths).map_err(|e| {
            let path = paths.iter().find(|p| !p.exists()).unwrap_or(&paths[0]);
            DocumentIndexError::io(path, e)
        })?;
        let mut report = AddReport {
            documents: documents.len(),
            ..AddReport::default()
        };
        let mut pending = Vec::new();
        for path in &documents {
            let text = std::fs::read(path).map_err(|e| DocumentIndexError::io(path, e))?;
            let text = String::from_utf8(text).map_err(|e| {
                DocumentIndexError::invalid(
                    path,
                    format!(
                        "not UTF-8 text (invalid byte at offset {})",
                        e.utf8_error().valid_up_to()
                    ),
                )
            })?;
            let count = |word: &str| embedder.count_tokens(word);
            for chunk in chunk_text(path, &text, &count, self.manifest.chunking) {
                pending.push(StoredChunk {
                    id: 0,
                    source: path.to_string_lossy().into_owned(),
                    start: chunk.start,
                    end: chunk.end,
                    tokens: chunk.tokens,
                    text: chunk.text,
                });
            }
        }
        let sources: HashSet<String> = documents
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let replaced: Vec<String> = self
            .sources()
            .into_iter()
            .filter(|s| sources.contains(*s))
            .map(str::to_string)
            .collect();
        report.replaced = replaced.len();
        report.chunks = pending.len();
        let mut embedded = Vec::with_capacity(pending.len());
        let total = pending.len();
        progress(Progress { embedded: 0, total });
        for batch in pending.chunks(EMBED_BATCH) {
            let texts: Vec<&str> = batch.iter().map(|c| c.text.as_str()).collect();
            for (chunk, embedding) in batch.iter().zip(embedder.embed_texts(&texts)) {
                report.truncated += usize::from(embedding.dropped > 0);
                let mut chunk = chunk.clone();
                chunk.id = self.manifest.next_id + embedded.len() as u64;
                embedded.push((chunk, embedding.vector));
            }
            progress(Progress {
                embedded: embedded.len(),
                total,
            });
        }
        self.commit(&replaced, embedded)?;
        Ok(report)
    }

    /// Removes the document `source`, or every document under the folder `source`; the chunks
    /// removed.
    pub fn remove(&mut self, source: &str) -> Result<usize, DocumentIndexError> {
        let folder = format!("{}/", source.trim_end_matches('/'));
        let removed: Vec<String> = self
            .sources()
            .into_iter()
            .filter(|s| *s == source || s.starts_with(&folder))
            .map(str::to_string)
            .collect();
        if removed.is_empty() {
            return Err(DocumentIndexError::NoSuchSource(source.to_string()));
        }
        let before = self.chunks.len();
        self.commit(&removed, Vec::new())?;
        Ok(before - self.chunks.len())
    }

    /// Writes the next generation: without the chunks of `removed` sources, with `added`; on
    /// failure the index (on disk and here) is as it was.
    fn commit(
        &mut self,
        removed: &[String],
        added: Vec<Embedded>,
    ) -> Result<(), DocumentIndexError> {
        let result = self.write_generation(removed, added);
        if result.is_err() && self.manifest.generation > 0 {
            // Back to what is on disk.
            if let Ok(index) = Self::open(&self.dir) {
                *self = index;
            }
        }
        result
    }

    fn write_generation(
        &mut self,
        removed: &[String],
        added: Vec<Embedded>,
    ) -> Result<(), DocumentIndexError> {
        let next = self.manifest.generation + 1;
        let staging = self.dir.join(format!(".staging-{next:06}"));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(|e| DocumentIndexError::io(&staging, e))?;
        }
        std::fs::create_dir_all(&staging).map_err(|e| DocumentIndexError::io(&staging, e))?;
        let old = Manifest::generation_dir(&self.dir, self.manifest.generation);
        let bm25_dir = staging.join(generation::BM25);
        let mut bm25 = if self.manifest.generation == 0 {
            Bm25Index::create(&bm25_dir)?
        } else {
            generation::copy_dir(&old.join(generation::BM25), &bm25_dir)?;
            Bm25Index::open(&bm25_dir)?
        };
        for source in removed {
            bm25.remove_source(source)?;
        }
        for (chunk, _) in &added {
            bm25.add(chunk.id, &chunk.source, &chunk.text)?;
        }
        bm25.commit()?;
        drop(bm25);

        let gone: HashSet<&str> = removed.iter().map(String::as_str).collect();
        let mut kept = Vec::with_capacity(self.chunks.len() + added.len());
        for chunk in std::mem::take(&mut self.chunks) {
            if gone.contains(chunk.source.as_str()) {
                self.flat.remove(chunk.id);
                self.hnsw.remove(chunk.id);
            } else {
                kept.push(chunk);
            }
        }
        self.manifest.next_id += added.len() as u64;
        for (chunk, vector) in added {
            self.flat.add(chunk.id, &vector)?;
            self.hnsw.add(chunk.id, &vector)?;
            kept.push(chunk);
        }
        self.chunks = kept;
        self.rows = (self.chunks.iter().enumerate())
            .map(|(i, c)| (c.id, i))
            .collect();

        let files = generation::write(&staging, &self.chunks, &self.flat, &self.hnsw)?;
        generation::sync_dir(&staging)?;
        let live = Manifest::generation_dir(&self.dir, next);
        if live.exists() {
            // Left by a change interrupted after its rename, before its commit.
            std::fs::remove_dir_all(&live).map_err(|e| DocumentIndexError::io(&live, e))?;
        }
        std::fs::rename(&staging, &live).map_err(|e| DocumentIndexError::io(&live, e))?;
        generation::sync_dir(&self.dir)?;
        let mut manifest = self.manifest.clone();
        manifest.generation = next;
        manifest.chunks = self.chunks.len();
        manifest.files = files;
        manifest.write(&self.dir)?;
        self.manifest = manifest;
        self.bm25 = generation::read_bm25(&live, self.chunks.len())?;
        // The old generation, and whatever an interrupted change left, are no longer named by
        // the manifest: failing to delete them is harmless.
        generation::remove_all_but(&self.dir, &live);
        Ok(())
    }

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
                return Err(crate::dense::IndexError::Dimension {
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
