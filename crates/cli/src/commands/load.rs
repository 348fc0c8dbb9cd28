//! Loading a checkpoint and its tokenizer into a [`Generator`] (shared by `generate` and `serve`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use claude_inference::Generator;
use claude_tensors::parse_device;
use claude_tokenizer::Tokenizer;
use claude_trainer::checkpoint::load_model;

/// The run directory's tokenizer for a checkpoint at `<out>/checkpoints/<name>[/model.safetensors]`.
fn find_tokenizer(checkpoint: &Path) -> anyhow::Result<PathBuf> {
    for dir in checkpoint.ancestors().skip(1) {
        let candidate = dir.join("tokenizer");
        if candidate.is_dir() {
            return Ok(candidate);
        }
    }
    bail!(
        "no tokenizer/ directory above {}; pass --tokenizer",
        checkpoint.display()
    )
}

/// The model of `checkpoint` on `device` with its tokenizer (`tokenizer`, or the run's
/// `tokenizer/` directory).
pub fn load_generator(
    checkpoint: &Path,
    tokenizer: Option<&Path>,
    device: &str,
) -> anyhow::Result<Generator> {
    let device = parse_device(device)?;
    let (model, _) = load_model(checkpoint, &device)?;
    let tokenizer_dir = match tokenizer {
        Some(dir) => dir.to_path_buf(),
        None => find_tokenizer(checkpoint)?,
    };
    let tokenizer = Tokenizer::load(&tokenizer_dir)
        .with_context(|| format!("loading tokenizer from {}", tokenizer_dir.display()))?;
    Ok(Generator::new(model, tokenizer, device))
}
