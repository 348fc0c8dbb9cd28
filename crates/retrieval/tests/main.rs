//! The retrieval crate end to end: the sentence embedder against a float64 reference, and
//! chunking.

mod chunk;
mod embedder;
