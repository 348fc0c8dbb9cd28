//! `claude-rust export`: write a model as a GGUF file that llama.cpp (and our own loader) runs,
//! with its tokenizer inside: a GGUF input's own `tokenizer.*` metadata, a Hugging Face folder's
//! `tokenizer.json` (with its chat template, and `config.json`'s special ids where the tokenizer
//! names none, as llama.cpp's converter takes them), or the run's BPE tokenizer directory. The
//! vocabulary is padded to the model's token table, as llama.cpp needs one token per row.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::prelude::*;
use claude_core::{Gpt, ModelFormat, model_file};
use claude_gguf::{GgufFile, Value};
use claude_inference::{find_tokenizer, hf_folder};
use claude_tokenizer::Tokenizer;
use claude_tokenizer::gguf::{TOKENS_KEY, gguf_metadata, pad_gguf_vocabulary};

use claude_finetune::Origin;

use super::quantize::{parse_scheme, same_file};

/// Arguments of `claude-rust export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The model: a checkpoint directory or model file (float or quantized to q8_0, q4_0 or
    /// q4_1), a llama2.c checkpoint, a GGUF file or a Hugging Face model folder; or a
    /// `claude-rust finetune` checkpoint (its adapters are merged into the base it names).
    #[arg(long, visible_alias = "model")]
    pub checkpoint: PathBuf,
    /// Quantize the weights first (decoding quantized ones): a format of `claude-rust quantize`
    /// (q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, int8) or llama.cpp's mixtures q4_k_m,
    /// q5_k_m. Default: the weights as they are.
    #[arg(long)]
    pub quant: Option<String>,
    /// Output format: gguf.
    #[arg(long, default_value = "gguf")]
    pub format: String,
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
    /// Tokenizer directory to write into the file (default: the run's `tokenizer/` above the
    /// checkpoint; a GGUF input's or a Hugging Face folder's own).
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
    let device = Device::flex();
    // A fine-tuning checkpoint: its adapters merged into the base, whose tokenizer it keeps.
    let (mut model, source) = match Origin::of_checkpoint(&args.checkpoint)? {
        Some(origin) => (
            origin.load_merged(&args.checkpoint, &device)?,
            origin.base.clone(),
        ),
        None => (Gpt::load(&input, &device)?, args.checkpoint.clone()),
    };
    if let Some(format) = &args.quant {
        let scheme = parse_scheme("--quant", format)?;
        model.dequantize(&device);
        model
            .quantize(scheme, false)
            .with_context(|| format!("--quant {format}"))?;
    }
    let (arch, tokenizer_note) = write_gguf(&model, &source, args.tokenizer.as_deref(), &args.out)?;
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
    let n_tokens = model.config().vocab_size;
    if metadata.iter().any(|(key, _)| key == TOKENS_KEY) {
        pad_gguf_vocabulary(&mut metadata, n_tokens)
            .with_context(|| format!("the model's token table has {n_tokens} rows"))?;
    }
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
    if tokenizer.is_none() && ModelFormat::of(input)? == ModelFormat::HfFolder {
        return hf_folder_metadata(input);
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

/// The tokenizer of the Hugging Face folder `dir` (its `tokenizer.json`) and its chat template,
/// as `tokenizer.*` metadata; BOS, EOS, unknown and padding ids the tokenizer does not name come
/// from `config.json`, as llama.cpp's converter takes them.
fn hf_folder_metadata(dir: &Path) -> anyhow::Result<(Vec<(String, Value)>, String)> {
    let read = hf_folder::read(dir)?;
    let mut metadata = read.tokenizer.gguf_metadata();
    let n_tokens = read.tokenizer.vocab_size();
    let config_path = dir.join(claude_core::HF_CONFIG_FILE);
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&config_path)
            .with_context(|| format!("{}", config_path.display()))?,
    )
    .with_context(|| format!("{}", config_path.display()))?;
    for (field, key) in [
        ("bos_token_id", "tokenizer.ggml.bos_token_id"),
        ("eos_token_id", "tokenizer.ggml.eos_token_id"),
        ("unk_token_id", "tokenizer.ggml.unknown_token_id"),
        ("pad_token_id", "tokenizer.ggml.padding_token_id"),
    ] {
        // One id (a list, as Llama 3.1's EOS, is left out, as the converter leaves it).
        let id = config[field]
            .as_u64()
            .and_then(|id| u32::try_from(id).ok())
            .filter(|&id| (id as usize) < n_tokens);
        if let Some(id) = id
            && !metadata.iter().any(|(k, _)| k == key)
        {
            metadata.push((key.to_string(), id.into()));
        }
    }
    let template = read.chat_template.as_ref().and_then(|t| t.jinja_source());
    if let Some(source) = template {
        metadata.push(("tokenizer.chat_template".into(), source.into()));
    }
    let note = format!(
        "tokenizer: {n_tokens} tokens from {}{}",
        read.path.display(),
        if template.is_some() {
            ", with its chat template"
        } else {
            ""
        }
    );
    Ok((metadata, note))
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
