//! `claude-rust generate`: stream a continuation of a prompt from a checkpoint.

use std::io::Write;

use anyhow::bail;
use claude_inference::{OverflowPolicy, SamplingParams, SequenceRequest};

use super::model_args::{ChatTemplateArgs, ModelArgs};

/// Arguments of `claude-rust generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// The model, its tokenizer, device and context.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Text to continue.
    #[arg(long, default_value = "\n", conflicts_with = "chat")]
    pub prompt: String,
    /// A user message to answer, rendered with the chat template (see --chat-template): prints
    /// only the reply.
    #[arg(long)]
    pub chat: Option<String>,
    /// The chat template (`--chat-template`).
    #[command(flatten)]
    pub chat_template: ChatTemplateArgs,
    /// Tokens to generate.
    #[arg(long, default_value_t = 500)]
    pub max_new_tokens: usize,
    /// Softmax temperature (0 = greedy).
    #[arg(long, default_value_t = SamplingParams::NANOGPT.temperature)]
    pub temperature: f32,
    /// Sample among the k most likely tokens (0 = all).
    #[arg(long, default_value_t = SamplingParams::NANOGPT.top_k)]
    pub top_k: usize,
    /// Nucleus sampling: the smallest set of tokens reaching this probability (1 = off).
    #[arg(long, default_value_t = SamplingParams::NANOGPT.top_p)]
    pub top_p: f32,
    /// Drop tokens less likely than this fraction of the most likely one (0 = off).
    #[arg(long, default_value_t = SamplingParams::NANOGPT.min_p)]
    pub min_p: f32,
    /// Penalise tokens already seen (CTRL rule; 1 = off).
    #[arg(long, default_value_t = SamplingParams::NANOGPT.repetition_penalty)]
    pub repetition_penalty: f32,
    /// Stop before this text (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    /// When the context fills: `sliding` keeps the last half of it, `reject` refuses.
    #[arg(long, default_value = "sliding")]
    pub context_overflow: OverflowPolicy,
    /// Random seed.
    #[arg(long, default_value_t = SamplingParams::NANOGPT.seed)]
    pub seed: u64,
}

/// Prints the prompt and its continuation as tokens arrive.
pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let sampling = SamplingParams {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        min_p: args.min_p,
        repetition_penalty: args.repetition_penalty,
        seed: args.seed,
        ..SamplingParams::NANOGPT
    };
    if let Err(bad) = sampling.validate() {
        bail!("--{}: {bad}", bad.field.replace('_', "-"));
    }
    let model = args.model.path()?;
    let loaded = args.model.load_for_this_thread(&model)?;
    let generator = loaded.generator.with_overflow(args.context_overflow);
    let mut stop = args.stop;
    let (prompt, echo) = match &args.chat {
        Some(message) => {
            let template = args.chat_template.choose(loaded.chat_template);
            let text = template.render(&[("user".to_string(), message.clone())])?;
            stop.extend(template.stop_sequences());
            (template.encode(generator.tokenizer(), &text)?, "")
        }
        None => (
            generator.tokenizer().encode(&args.prompt)?,
            args.prompt.as_str(),
        ),
    };
    let request = SequenceRequest {
        prompt,
        max_new_tokens: args.max_new_tokens,
        sampling,
        stop,
        ..Default::default()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(echo.as_bytes())?;
    let mut write_error = None;
    generator.generate(request, |event| {
        let written = out
            .write_all(event.text.as_bytes())
            .and_then(|()| out.flush());
        match written {
            Ok(()) => true,
            Err(e) => {
                write_error = Some(e);
                false
            }
        }
    })?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    writeln!(out)?;
    Ok(())
}
