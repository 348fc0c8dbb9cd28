//! The retrieval crate end to end: the sentence embedder against a float64 reference,
//! chunking, and the exact index against a brute-force search.

mod chunk;
mod dense;
mod embedder;
