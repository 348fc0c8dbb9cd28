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

mod changes;
mod error;
mod generation;
mod manifest;
mod search;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use changes::{AddReport, Progress};
pub use error::DocumentIndexError;
pub use manifest::{FORMAT, MANIFEST, Manifest, VERSION};
pub use search::{SearchHit, SearchMode};

use crate::bm25::Bm25Index;
use crate::chunk::ChunkConfig;
use crate::dense::FlatIndex;
use crate::hnsw::HnswIndex;
use crate::text_embedder::{EmbedderIdentity, TextEmbedder};

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
            .map_err(|cause| DocumentIndexError::invalid(dir, cause.to_string()))?;
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
}
