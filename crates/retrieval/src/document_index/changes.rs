//! Changing an index: adding (or replacing) documents and removing them, each change written as
//! a whole new generation and committed by the manifest.

use std::collections::HashSet;
use std::path::PathBuf;

use claude_files::AtomicDir;

use super::{DocumentIndex, DocumentIndexError, Manifest, StoredChunk, generation};
use crate::bm25::Bm25Index;
use crate::chunk::{chunk_text, collect_documents};
use crate::dense::VectorIndex;
use crate::text_embedder::TextEmbedder;

/// Chunks embedded per progress report.
const EMBED_BATCH: usize = 64;

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

/// A new chunk and its vector, waiting to be committed.
type Embedded = (StoredChunk, Vec<f32>);

impl DocumentIndex {
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
                    id: self.manifest.next_id + pending.len() as u64,
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
        let total = pending.len();
        let mut vectors = Vec::with_capacity(total);
        progress(Progress { embedded: 0, total });
        for batch in pending.chunks(EMBED_BATCH) {
            let texts: Vec<&str> = batch.iter().map(|c| c.text.as_str()).collect();
            for embedding in embedder.embed_texts(&texts) {
                report.truncated += usize::from(embedding.dropped > 0);
                vectors.push(embedding.vector);
            }
            progress(Progress {
                embedded: vectors.len(),
                total,
            });
        }
        self.commit(&replaced, pending.into_iter().zip(vectors).collect())?;
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
        let live = Manifest::generation_dir(&self.dir, next);
        // `.tmp-gen-NNNNNN`, removed unless committed.
        let staging_dir = AtomicDir::create(&live).map_err(|e| DocumentIndexError::io(&live, e))?;
        let staging = staging_dir.path();
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

        let files = generation::write(staging, &self.chunks, &self.flat, &self.hnsw)?;
        // Syncs it, replaces a `live` left by a change interrupted after its rename, before its
        // commit, renames it into place and syncs the index directory.
        staging_dir
            .commit()
            .map_err(|e| DocumentIndexError::io(&live, e))?;
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
}
