//! The retrieval crate end to end: the sentence embedder against a float64 reference,
//! chunking, the exact, HNSW and BM25 indexes against brute-force searches, rank fusion, and
//! index directories.

mod bm25;
mod chunk;
mod dense;
mod document_index;
mod embedder;
mod fusion;
mod hnsw;
mod model_embedder;
mod vectors;
