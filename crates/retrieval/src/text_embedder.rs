//! What an index needs of an embedder: vectors for texts, token counts for chunking, and an
//! identity recorded in the index so that its vectors are never mixed with another model's.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// One text's embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// The unit-length vector.
    pub vector: Vec<f32>,
    /// Tokens the model saw (special tokens included).
    pub tokens: usize,
    /// Tokens cut from the end of the text by the length limit (0: none).
    pub dropped: usize,
}

/// Which model made a set of vectors.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EmbedderIdentity {
    /// The model's name (its directory or file name).
    pub name: String,
    /// Width of its vectors.
    pub dimension: usize,
    /// SHA-256 of its weights file (hex, first 16 digits): tells models of the same name and
    /// shape apart.
    pub fingerprint: String,
}

impl std::fmt::Display for EmbedderIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} dimensions, weights {})",
            self.name, self.dimension, self.fingerprint
        )
    }
}

/// A model that turns texts into unit vectors.
pub trait TextEmbedder: Send + Sync {
    /// Who it is.
    fn identity(&self) -> &EmbedderIdentity;
    /// The embedding of every text, in order.
    fn embed_texts(&self, texts: &[&str]) -> Vec<Embedding>;
    /// Tokens the model counts in `text`, without special tokens (chunks are sized by it).
    fn count_tokens(&self, text: &str) -> usize;
    /// The most tokens of a text the model sees, if it is limited.
    fn max_tokens(&self) -> Option<usize>;
    /// Where the model was loaded from, if from a file or directory (an index records it, so
    /// that later commands find the same model).
    fn location(&self) -> Option<&Path> {
        None
    }
}

/// The fingerprint of a weights file: the first 16 hex digits of its SHA-256.
pub(crate) fn fingerprint(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    let digest = hasher.finalize();
    Ok(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
}

/// Where a model was loaded from, made absolute, and the name it goes by: a file's name without
/// its extension (`SmolLM2-135M-Instruct.Q4_1`), a directory's name (`all-minilm-l6-v2`), the
/// whole path when it has none.
pub(crate) fn located(path: &Path) -> (PathBuf, String) {
    let location = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let name = if location.is_file() {
        location.file_stem()
    } else {
        location.file_name()
    };
    let name = name.map_or_else(
        || location.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    (location, name)
}
