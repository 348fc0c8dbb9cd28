//! `claude-rust export`: write a model as a GGUF file that llama.cpp (and our own loader) runs,
//! with its tokenizer inside.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::prelude::*;
use claude_core::{Gpt, ModelFormat, model_file};
use claude_gguf::{GgufFile, Value};
use claude_inference::find_tokenizer;
use claude_tokenizer::Tokenizer;
use claude_tokenizer::gguf::gguf_metadata;

use super::quantize::same_file;

/// Arguments of `claude-rust export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The model: a checkpoint directory or model file (float or quantized to q8_0, q4_0 or
    /// q4_1), a llama2.c checkpoint or a GGUF file.
    #[arg(long, visible_alias = "model")]
    pub checkpoint: PathBuf,
    /// Output format: gguf.
    #[arg(long, default_value = "gguf")]
    pub format: String,
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
    /// Tokenizer directory to write into the file (default: the run's `tokenizer/` above the
    /// checkpoint; a GGUF input's own).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
}

/// Writes the GGUF file and says what is in it.
pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    if !args.format.eq_ignore_ascii_case("gguf") {
        bail!("--format {:?} is not one of: gguf", args.format);
    }
    let input = model_file(&args.checkpoint);
    if same_file(&input, &args.out) {
        bail!(
            "--out {} is the input: the input is never overwritten",
            args.out.display()
        );
    }
    let model = Gpt::load(&input, &Device::flex())?;
    let (arch, tokenizer_note) = write_gguf(
        &model,
        &args.checkpoint,
        args.tokenizer.as_deref(),
        &args.out,
    )?;
    let bytes = std::fs::metadata(&args.out)
        .with_context(|| format!("{}", args.out.display()))?
        .len();
    println!(
        "wrote {} (architecture {arch}, {:.1} MiB; {tokenizer_note})",
        args.out.display(),
        bytes as f64 / (1 << 20) as f64,
    );
    Ok(())
}

/// Writes `model`, read from `checkpoint`, as the GGUF file `out` with a tokenizer inside (from
/// `tokenizer`, else the input's own or its run's); returns the architecture written and a note
/// on the tokenizer for the user.
pub(crate) fn write_gguf(
    model: &Gpt,
    checkpoint: &Path,
    tokenizer: Option<&Path>,
    out: &Path,
) -> anyhow::Result<(&'static str, String)> {
    let input = model_file(checkpoint);
    let (mut metadata, tokenizer_note) = tokenizer_metadata(tokenizer, &input)?;
    metadata.push(("general.name".into(), model_name(checkpoint).into()));
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    }
    let arch = model.save_gguf(out, metadata)?;
    Ok((arch, tokenizer_note))
}

/// The tokenizer's `tokenizer.*` metadata, and a note on it for the user.
fn tokenizer_metadata(
    tokenizer: Option<&Path>,
    input: &Path,
) -> anyhow::Result<(Vec<(String, Value)>, String)> {
    if tokenizer.is_none() && ModelFormat::of(input)? == ModelFormat::Gguf {
        let file = GgufFile::open(input)?;
        let copied: Vec<(String, Value)> = file
            .metadata()
            .iter()
            .filter(|(key, _)| key.starts_with("tokenizer."))
            .map(|(key, value)| (key.to_string(), value.clone()))
            .collect();
        return Ok((copied, "tokenizer copied from the input".into()));
    }
    let dir = match tokenizer {
        Some(dir) => dir.to_path_buf(),
        None => match find_tokenizer(input) {
            Ok(dir) => dir,
            Err(_) => return Ok((Vec::new(), "no tokenizer found: none written".into())),
        },
    };
    let tokenizer =
        Tokenizer::load(&dir).with_context(|| format!("tokenizer {}", dir.display()))?;
    match gguf_metadata(&tokenizer) {
        Ok(metadata) => Ok((
            metadata,
            format!(
                "tokenizer: {} tokens from {}",
                tokenizer.vocab_size(),
                dir.display()
            ),
        )),
        Err(err @ claude_tokenizer::Error::InvalidArgument { .. })
            if matches!(tokenizer, Tokenizer::Char(_)) =>
        {
            Ok((Vec::new(), format!("no tokenizer written: {err}")))
        }
        Err(err) => Err(err).with_context(|| format!("tokenizer {}", dir.display())),
    }
}

/// `general.name`: the checkpoint directory's name, else the file's stem.
fn model_name(checkpoint: &Path) -> String {
    let name = if checkpoint.is_dir() {
        checkpoint.file_name()
    } else {
        checkpoint.file_stem()
    };
    name.map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "claude-rust".into())
}
