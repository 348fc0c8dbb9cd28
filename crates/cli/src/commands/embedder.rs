//! The embedder a command names: a sentence-transformers model directory (all-MiniLM-L6-v2 and
//! its kin), or, as a fallback for users without one, any of our language models (a checkpoint,
//! a quantized model, a GGUF file) mean-pooled.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use claude_inference::Generator;
use claude_retrieval::{DocumentIndex, ModelEmbedder, SentenceEmbedder, TextEmbedder};
use claude_tensors::parse_device;

/// Whether `path` is a sentence-transformers model directory.
fn is_sentence_model(path: &Path) -> bool {
    path.join("config.json").is_file()
        && ["modules.json", "sentence_bert_config.json", "1_Pooling"]
            .iter()
            .any(|name| path.join(name).exists())
}

/// The embedder a command was given, else the one `index` was built with (`None`: neither).
pub fn embedder_path(
    given: Option<&Path>,
    index: Option<&DocumentIndex>,
) -> anyhow::Result<Option<PathBuf>> {
    match (given, index) {
        (Some(path), _) => Ok(Some(path.to_path_buf())),
        (None, Some(index)) => (index.manifest().embedder_location.clone())
            .context("the index does not say where its embedder is; pass --embedding-model")
            .map(Some),
        (None, None) => Ok(None),
    }
}

/// Loads the embedder at `path` on `device` (a device string).
pub fn load_embedder(path: &Path, device: &str) -> anyhow::Result<Arc<dyn TextEmbedder>> {
    let device = parse_device(device)?;
    let loading = || format!("loading the embedder {}", path.display());
    if is_sentence_model(path) {
        let embedder = SentenceEmbedder::load(path, &device).with_context(loading)?;
        return Ok(Arc::new(embedder));
    }
    let generator = Generator::load(path, None, &device).with_context(|| {
        format!(
            "{} is neither a sentence-transformers model directory (config.json with \
             modules.json, sentence_bert_config.json or 1_Pooling/) nor a model file we read",
            path.display()
        )
    })?;
    let (model, tokenizer) = generator.into_parts();
    let embedder = ModelEmbedder::new(model, tokenizer, device, path).with_context(loading)?;
    Ok(Arc::new(embedder))
}
