//! `claude-rust quantize`: pack a model's projections in 8 or 4 bits into a new model file.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::module::Module;
use burn::prelude::*;
use claude_core::{Gpt, MODEL_FILE, model_file};
use claude_quant::{GgmlType, RowFormat};

/// Formats `quantize` writes.
const FORMATS: &str = "int8, q8_0, q4_0, q4_1";

/// Arguments of `claude-rust quantize`.
#[derive(Debug, clap::Args)]
pub struct QuantizeArgs {
    /// The float model: a checkpoint directory or its model.safetensors (or a llama2.c file).
    #[arg(long, visible_alias = "model")]
    pub checkpoint: PathBuf,
    /// Format: int8 (one scale per output channel), q8_0, q4_0 or q4_1 (GGML's blocks of 32).
    #[arg(long)]
    pub format: String,
    /// Output model file (a directory gets model.safetensors inside). Inside the run directory
    /// (e.g. out/run/q4_0/) generate and serve find the run's tokenizer.
    #[arg(long)]
    pub out: PathBuf,
    /// Quantize the token table too (also the output head of a tied model); by default
    /// embeddings and norms stay float.
    #[arg(long)]
    pub embeddings: bool,
}

/// Quantizes, writes the new file atomically and reports its size per weight.
pub fn run(args: QuantizeArgs) -> anyhow::Result<()> {
    let format = parse_format(&args.format)?;
    let input = model_file(&args.checkpoint);
    let out = output_file(&args.out);
    if same_file(&input, &out) {
        bail!(
            "--out {} is the input: the input is never overwritten",
            out.display()
        );
    }
    let device = Device::flex();
    let mut model = Gpt::load(&input, &device)?;
    let weights = model.num_params();
    model
        .quantize(format, args.embeddings)
        .with_context(|| format!("{}", input.display()))?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    }
    model.save(&out)?;
    let bytes = std::fs::metadata(&out)
        .with_context(|| format!("{}", out.display()))?
        .len();
    println!(
        "wrote {} ({} packed tensors in {}, {:.1} MiB, {:.2} bytes per weight)",
        out.display(),
        model.packed_tensor_names().len(),
        format.name(),
        bytes as f64 / (1 << 20) as f64,
        bytes as f64 / weights as f64
    );
    Ok(())
}

/// One of [`FORMATS`].
fn parse_format(text: &str) -> anyhow::Result<RowFormat> {
    match text.parse::<RowFormat>() {
        Ok(format @ RowFormat::Int8) => Ok(format),
        Ok(format @ RowFormat::Ggml(GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q4_1)) => {
            Ok(format)
        }
        _ => bail!("--format {text:?} is not one of {FORMATS}"),
    }
}

/// The model file `--out` names.
fn output_file(out: &Path) -> PathBuf {
    if out.is_dir() || out.extension().is_none() {
        out.join(MODEL_FILE)
    } else {
        out.to_path_buf()
    }
}

/// Whether two paths name the same existing file.
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
