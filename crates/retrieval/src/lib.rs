//! Retrieval for claude-rust: a real sentence embedder, and documents cut into chunks.
//!
//! [`SentenceEmbedder`] runs sentence-transformers models of the BERT family (all-MiniLM-L6-v2
//! and its kin) on burn, on any device: WordPiece ids (from `claude-tokenizer`), the [`Bert`]
//! encoder, mean pooling over the attention mask and L2 normalisation. Texts are embedded in
//! batches, padded and masked. [`chunk_text`] cuts documents ([`collect_documents`]) into
//! overlapping windows of tokens that keep their source and byte offsets. [`FlatIndex`] finds
//! the nearest vectors exactly and [`HnswIndex`] approximately ([`VectorIndex`]); [`Bm25Index`]
//! ranks by words, and [`reciprocal_rank_fusion`] merges rankings. [`DocumentIndex`] keeps all of
//! it in one directory, with a manifest, changed atomically; [`ground`] numbers the chunks found for
//! a question that fit the context, and [`Grounding::ask`] puts them in the question's message.
//!
//! ```no_run
//! use claude_retrieval::SentenceEmbedder;
//! # fn demo(device: &burn::tensor::Device) -> Result<(), claude_retrieval::EmbedderError> {
//! let embedder = SentenceEmbedder::load("models/all-minilm-l6-v2".as_ref(), device)?;
//! let [a, b] = &embedder.embed(&["A man is eating food.", "A man eats bread."])[..] else {
//!     unreachable!()
//! };
//! let cosine: f32 = a.vector.iter().zip(&b.vector).map(|(x, y)| x * y).sum();
//! # Ok(())
//! # }
//! ```

mod bert;
mod bm25;
mod chunk;
mod dense;
mod document_index;
mod embedder;
mod error;
mod fusion;
mod hnsw;
mod model_embedder;
mod pooling;
mod rag;
mod text_embedder;
mod weights;

pub use bert::{Bert, BertConfig};
pub use bm25::Bm25Index;
pub use chunk::{Chunk, ChunkConfig, ChunkConfigError, chunk_text, collect_documents};
pub use dense::{FlatIndex, Hit, IndexError, VectorIndex};
pub use document_index::{
    AddReport, DocumentIndex, DocumentIndexError, Manifest, Progress, SearchHit, SearchMode,
    StoredChunk,
};
pub use embedder::SentenceEmbedder;
pub use error::EmbedderError;
pub use fusion::{RRF_K, reciprocal_rank_fusion};
pub use hnsw::HnswIndex;
pub use model_embedder::ModelEmbedder;
pub use rag::{Grounding, Source, ground};
pub use text_embedder::{EmbedderIdentity, Embedding, TextEmbedder};
