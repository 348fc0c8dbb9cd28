//! `claude-rust quantize`: pack a model's projections in 8 to 4 bits (one format, or llama.cpp's
//! K-quant mixtures) into a new model file: ours, or a GGUF file llama.cpp runs.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::module::Module;
use burn::prelude::*;
use claude_core::{Gpt, MODEL_FILE, QuantScheme, QuantizeError, model_file};

use super::export::write_gguf;

/// Arguments of `claude-rust quantize`.
#[derive(Debug, clap::Args)]
pub struct QuantizeArgs {
    /// The float model: a checkpoint directory or its model.safetensors, a float GGUF file, a
    /// llama2.c file, or a Hugging Face model folder (config.json, safetensors and
    /// tokenizer.json).
    #[arg(long, visible_alias = "model")]
    pub checkpoint: PathBuf,
    /// Format: int8 (one scale per output channel); GGML's q8_0, q4_0, q4_1, q5_0, q5_1 (blocks
    /// of 32) or q4_k, q5_k, q6_k (blocks of 256); or llama.cpp's mixtures q4_k_m, q5_k_m.
    #[arg(long)]
    pub format: String,
    /// Output model file: a `.gguf` file (with the input's tokenizer inside, for llama.cpp and
    /// for us), else our model file (a directory gets model.safetensors inside; inside the run
    /// directory, e.g. out/run/q4_0/, generate and serve find the run's tokenizer).
    #[arg(long)]
    pub out: PathBuf,
    /// Quantize a model that is already quantized (its weights are decoded first, so the
    /// rounding compounds), as llama-quantize's --allow-requantize.
    #[arg(long)]
    pub allow_requantize: bool,
    /// Quantize the token table too (also the output head of a tied model); by default
    /// embeddings and norms stay float.
    #[arg(long)]
    pub embeddings: bool,
}

/// Quantizes, writes the new file atomically and reports its size per weight.
pub fn run(args: QuantizeArgs) -> anyhow::Result<()> {
    let scheme = parse_scheme("--format", &args.format)?;
    let input = model_file(&args.checkpoint);
    let gguf_out = args
        .out
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("gguf"));
    let out = if gguf_out {
        args.out.clone()
    } else {
        output_file(&args.out)
    };
    if same_file(&input, &out) {
        bail!(
            "--out {} is the input: the input is never overwritten",
            out.display()
        );
    }
    let device = Device::flex();
    let mut model = Gpt::load(&input, &device)?;
    let weights = model.num_params();
    if args.allow_requantize {
        model.dequantize(&device);
    }
    if let Err(err) = model.quantize(scheme, args.embeddings) {
        let hint = match err {
            QuantizeError::AlreadyQuantized(_) => " (--allow-requantize quantizes it again)",
            _ => "",
        };
        bail!("{}: {err}{hint}", input.display());
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    }
    let note = if gguf_out {
        let (arch, tokenizer) = write_gguf(&model, &args.checkpoint, None, &out)?;
        format!("architecture {arch}, {tokenizer}; ")
    } else {
        model.save(&out)?;
        String::new()
    };
    let bytes = std::fs::metadata(&out)
        .with_context(|| format!("{}", out.display()))?
        .len();
    println!(
        "wrote {} ({note}{} packed tensors in {scheme}, {:.1} MiB, {:.2} bytes per weight)",
        out.display(),
        model.packed_tensor_names().len(),
        bytes as f64 / (1 << 20) as f64,
        bytes as f64 / weights as f64
    );
    Ok(())
}

/// One of [`QuantScheme::NAMES`], given as the command-line flag `flag`.
pub(super) fn parse_scheme(flag: &str, text: &str) -> anyhow::Result<QuantScheme> {
    text.parse::<QuantScheme>()
        .map_err(|_| anyhow::anyhow!("{flag} {text:?} is not one of {}", QuantScheme::NAMES))
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
