//! The files of one generation of an index: `chunks.jsonl` (one chunk a line), `vectors.f32`
//! (their vectors, little-endian, in the same order), `hnsw.usearch` (the HNSW graph) and
//! `bm25/` (tantivy's directory, which checks its own files). A generation is written whole in a
//! staging folder and renamed into place; it is never changed after.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::StoredChunk;
use super::error::DocumentIndexError;
use crate::bm25::Bm25Index;
use crate::dense::{FlatIndex, VectorIndex};
use crate::hnsw::HnswIndex;

pub(super) const CHUNKS: &str = "chunks.jsonl";
pub(super) const VECTORS: &str = "vectors.f32";
pub(super) const HNSW: &str = "hnsw.usearch";
pub(super) const BM25: &str = "bm25";

/// The SHA-256 of `bytes`, in hex.
fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads `path` and checks it against the manifest's digest.
fn read_checked(
    path: &Path,
    name: &str,
    files: &BTreeMap<String, String>,
) -> Result<Vec<u8>, DocumentIndexError> {
    let bytes = std::fs::read(path).map_err(|e| DocumentIndexError::io(path, e))?;
    if files.get(name) != Some(&sha256(&bytes)) {
        return Err(DocumentIndexError::invalid(
            path,
            "damaged: its SHA-256 is not the one in manifest.json",
        ));
    }
    Ok(bytes)
}

/// Writes `bytes` to `dir/name` (synced) and records its digest.
fn write_recorded(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    files: &mut BTreeMap<String, String>,
) -> Result<(), DocumentIndexError> {
    let path = dir.join(name);
    claude_files::write_atomic(&path, bytes).map_err(|e| DocumentIndexError::io(&path, e))?;
    files.insert(name.to_string(), sha256(bytes));
    Ok(())
}

/// The chunks of a generation, in file order.
pub(super) fn read_chunks(
    dir: &Path,
    files: &BTreeMap<String, String>,
) -> Result<Vec<StoredChunk>, DocumentIndexError> {
    let path = dir.join(CHUNKS);
    let bytes = read_checked(&path, CHUNKS, files)?;
    let mut chunks = Vec::new();
    for (number, line) in BufReader::new(&bytes[..]).lines().enumerate() {
        let line = line.map_err(|e| DocumentIndexError::io(&path, e))?;
        let chunk = serde_json::from_str(&line)
            .map_err(|e| DocumentIndexError::invalid(&path, format!("line {}: {e}", number + 1)))?;
        chunks.push(chunk);
    }
    Ok(chunks)
}

/// The exact index of a generation's vectors, checked to hold one per chunk.
pub(super) fn read_vectors(
    dir: &Path,
    files: &BTreeMap<String, String>,
    chunks: &[StoredChunk],
    dimension: usize,
) -> Result<FlatIndex, DocumentIndexError> {
    let path = dir.join(VECTORS);
    let bytes = read_checked(&path, VECTORS, files)?;
    if bytes.len() != chunks.len() * dimension * 4 {
        return Err(DocumentIndexError::invalid(
            &path,
            format!(
                "{} bytes, but {} chunks of {dimension} dimensions take {}",
                bytes.len(),
                chunks.len(),
                chunks.len() * dimension * 4
            ),
        ));
    }
    let mut flat = FlatIndex::new(dimension);
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    for (chunk, vector) in chunks.iter().zip(values.chunks_exact(dimension.max(1))) {
        flat.add(chunk.id, vector)
            .map_err(|e| DocumentIndexError::invalid(&path, e.to_string()))?;
    }
    Ok(flat)
}

/// The HNSW graph of a generation, checked to hold one vector per chunk.
pub(super) fn read_hnsw(
    dir: &Path,
    files: &BTreeMap<String, String>,
    chunks: usize,
    dimension: usize,
) -> Result<HnswIndex, DocumentIndexError> {
    let path = dir.join(HNSW);
    let bytes = read_checked(&path, HNSW, files)?;
    let hnsw = HnswIndex::from_bytes(&bytes, dimension)
        .map_err(|e| DocumentIndexError::invalid(&path, e.to_string()))?;
    if hnsw.len() != chunks {
        return Err(DocumentIndexError::invalid(
            &path,
            format!("{} vectors for {chunks} chunks", hnsw.len()),
        ));
    }
    Ok(hnsw)
}

/// The BM25 index of a generation, checked to hold every chunk.
pub(super) fn read_bm25(dir: &Path, chunks: usize) -> Result<Bm25Index, DocumentIndexError> {
    let path = dir.join(BM25);
    let bm25 =
        Bm25Index::open(&path).map_err(|e| DocumentIndexError::invalid(&path, e.to_string()))?;
    if bm25.len() != chunks {
        return Err(DocumentIndexError::invalid(
            &path,
            format!("{} documents for {chunks} chunks", bm25.len()),
        ));
    }
    Ok(bm25)
}

/// Writes the chunks, their vectors (from `flat`) and the HNSW graph into `dir`; the digests of
/// what it wrote.
pub(super) fn write(
    dir: &Path,
    chunks: &[StoredChunk],
    flat: &FlatIndex,
    hnsw: &HnswIndex,
) -> Result<BTreeMap<String, String>, DocumentIndexError> {
    let mut files = BTreeMap::new();
    let mut lines = String::new();
    let mut vectors = Vec::with_capacity(chunks.len() * flat.dimension() * 4);
    for chunk in chunks {
        lines.push_str(&serde_json::to_string(chunk).expect("a chunk serialises"));
        lines.push('\n');
        let vector = flat.vector(chunk.id).expect("every chunk has a vector");
        vectors.extend(vector.iter().flat_map(|v| v.to_le_bytes()));
    }
    write_recorded(dir, CHUNKS, lines.as_bytes(), &mut files)?;
    write_recorded(dir, VECTORS, &vectors, &mut files)?;
    let graph = hnsw
        .to_bytes()
        .map_err(|e| DocumentIndexError::invalid(&dir.join(HNSW), e.to_string()))?;
    write_recorded(dir, HNSW, &graph, &mut files)?;
    Ok(files)
}

/// Copies the files of folder `from` into a new folder `to`.
pub(super) fn copy_dir(from: &Path, to: &Path) -> Result<(), DocumentIndexError> {
    std::fs::create_dir_all(to).map_err(|e| DocumentIndexError::io(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| DocumentIndexError::io(from, e))? {
        let entry = entry.map_err(|e| DocumentIndexError::io(from, e))?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(|e| DocumentIndexError::io(&target, e))?;
        }
    }
    Ok(())
}

/// Deletes the generation and staging folders in `index_dir` other than `live` (best effort):
/// `.tmp-gen-*` ([`AtomicDir`](claude_files::AtomicDir)'s), and `.staging-*` from older builds.
pub(super) fn remove_all_but(index_dir: &Path, live: &Path) {
    let Ok(entries) = std::fs::read_dir(index_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = name.starts_with("gen-")
            || name.starts_with(".tmp-gen-")
            || name.starts_with(".staging-");
        if ours && entry.path() != live && entry.path().is_dir() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
