//! `claude-rust generate`: sample text from a checkpoint.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use claude_inference::{Sampler, SamplingParams, generate};
use claude_tensors::parse_device;
use claude_tokenizer::Tokenizer;
use claude_trainer::checkpoint::load_model;

/// Arguments of `claude-rust generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// A checkpoint directory or its model.safetensors.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Text to continue.
    #[arg(long, default_value = "\n")]
    pub prompt: String,
    /// Tokens to generate.
    #[arg(long, default_value_t = 500)]
    pub max_new_tokens: usize,
    /// Softmax temperature (0 = greedy).
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f32,
    /// Sample among the k most likely tokens (0 = all).
    #[arg(long, default_value_t = 200)]
    pub top_k: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1337)]
    pub seed: u64,
    /// Tokenizer directory (default: the run's `tokenizer/` beside `checkpoints/`).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Device: cpu, wgpu, cuda:N, ...
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

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

/// Prints the prompt and its continuation as tokens arrive.
pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    if !args.temperature.is_finite() || args.temperature < 0.0 {
        bail!(
            "--temperature must be a number >= 0, not {}",
            args.temperature
        );
    }
    let device = parse_device(&args.device)?;
    let (model, _) = load_model(&args.checkpoint, &device)?;
    let tokenizer_dir = match args.tokenizer {
        Some(dir) => dir,
        None => find_tokenizer(&args.checkpoint)?,
    };
    let tokenizer = Tokenizer::load(&tokenizer_dir)
        .with_context(|| format!("loading tokenizer from {}", tokenizer_dir.display()))?;
    let prompt = tokenizer.encode(&args.prompt)?;
    if prompt.is_empty() {
        bail!("the prompt is empty");
    }
    let mut sampler = Sampler::new(SamplingParams {
        temperature: args.temperature,
        top_k: args.top_k,
        seed: args.seed,
    });
    let mut out = std::io::stdout().lock();
    out.write_all(args.prompt.as_bytes())?;
    // Print whole characters only: a token may end inside a UTF-8 sequence.
    let mut pending: Vec<u32> = Vec::new();
    let mut failure = None;
    generate(
        &model,
        &prompt,
        args.max_new_tokens,
        &mut sampler,
        &device,
        |id| {
            pending.push(id);
            match tokenizer.decode_bytes(&pending) {
                Ok(bytes) if std::str::from_utf8(&bytes).is_ok() => {
                    pending.clear();
                    out.write_all(&bytes).and_then(|()| out.flush()).is_ok()
                }
                Ok(_) => true,
                Err(e) => {
                    failure = Some(e);
                    false
                }
            }
        },
    );
    if let Some(e) = failure {
        return Err(e.into());
    }
    writeln!(out)?;
    Ok(())
}
