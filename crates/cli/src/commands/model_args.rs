//! The arguments that name a model to run and where: shared by `generate`, `serve` and
//! `perplexity`.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::hub::{HUB_PREFIX, fetch_model};
use claude_core::{KvCacheType, PackedArithmetic};
use claude_inference::{ChatTemplate, Generator};
use claude_tensors::{DeviceSpec, parse_device};

/// Which model to load, with which tokenizer, on which device, within which context.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    /// The model: a checkpoint directory or its model.safetensors, a GGUF file (Llama family;
    /// quantized weights stay packed), a llama2.c checkpoint, a Hugging Face model folder
    /// (config.json, safetensors weights, tokenizer.json), or hf:OWNER/REPO[:FILE or quant] from
    /// the Hugging Face hub (a GGUF file, else the repository's model folder; downloaded into its
    /// cache; HF_ENDPOINT and HF_HOME honoured).
    /// (`serve` may go without one to serve embeddings only.)
    #[arg(long = "model", visible_alias = "checkpoint")]
    pub path: Option<PathBuf>,
    /// Tokenizer directory (default: a GGUF file's or a Hugging Face folder's own, else the
    /// run's `tokenizer/` beside `checkpoints/`).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Device: cpu, wgpu, cuda:N, ...
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Cap the context at this many tokens, as llama.cpp's -c (default: the model's own, 8192
    /// for SmolLM2). Key/value memory grows with each sequence up to it.
    #[arg(long)]
    pub ctx_size: Option<usize>,
    /// Multiply quantized weights with f32 activations (exact, slower) instead of llama.cpp's
    /// 8-bit activations.
    #[arg(long)]
    pub exact: bool,
    /// Our GPU kernels (packed mat-vec, fused attention) on a GPU device: on, or off to run
    /// burn's ops instead (for comparisons; also CLAUDE_RUST_KERNELS=off).
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    pub kernels: String,
    /// What the key/value cache holds: f16 (half the memory, as llama.cpp's default) or f32
    /// (default: f16 on the CPU; f32 on a GPU, whose attention kernel reads f32).
    #[arg(long, value_enum)]
    pub kv_cache: Option<KvCacheArg>,
    /// LoRA adapters to apply at load, kept beside the weights (repeatable): a PEFT folder
    /// (adapter_config.json + adapter_model.safetensors, e.g. a finetune checkpoint's
    /// `adapter/`) or a llama.cpp GGUF LoRA file, made for this model.
    #[arg(long)]
    pub lora: Vec<PathBuf>,
}

impl ModelArgs {
    /// The model and its tokenizer, ready to generate on the calling thread, which joins
    /// rayon's pool (see [`claude_tensors::threads::main_thread_joins_pool`]): call it from the
    /// thread that then runs the model, first thing.
    pub fn load_for_this_thread(&self, model: &Path) -> anyhow::Result<LoadedModel> {
        claude_tensors::threads::main_thread_joins_pool();
        self.load(model)
    }

    /// The model's local path, which most commands require: a name on the hub is fetched
    /// first (or found in its cache). Resolve it once, then [`load`](Self::load) it.
    pub fn path(&self) -> anyhow::Result<PathBuf> {
        resolve_model(self.path.as_deref().context("--model is required")?)
    }

    /// The model at `model` (from [`path`](Self::path)), read once
    /// ([`claude_inference::open_limited`], within `--ctx-size`):
    /// its generator, ready to generate, and its chat template.
    pub fn load(&self, model: &Path) -> anyhow::Result<LoadedModel> {
        if self.kernels == "off" {
            claude_tensors::shaders::set_enabled(false);
        }
        let device = parse_device(&self.device)?;
        // The cap applies as the model is built, so its position tables fit the cap.
        let mut opened = claude_inference::open_limited(
            model,
            self.tokenizer.as_deref(),
            &device,
            self.ctx_size,
        )?;
        for adapter in &self.lora {
            let (format, count) = opened.model.load_adapter(adapter, &device)?;
            eprintln!(
                "applied {count} LoRA adapters ({format:?}) from {}",
                adapter.display()
            );
        }
        let chat_template = opened.chat_template.clone();
        let arithmetic = if self.exact {
            PackedArithmetic::Exact
        } else {
            PackedArithmetic::Fast
        };
        let generator = opened
            .into_generator(&device)
            .with_packed_arithmetic(arithmetic)
            .with_kv_cache_type(self.kv_cache_type()?);
        Ok(LoadedModel {
            generator,
            chat_template,
        })
    }

    /// The `--kv-cache` named, else f16 on the CPU and f32 on a GPU.
    fn kv_cache_type(&self) -> anyhow::Result<KvCacheType> {
        Ok(match self.kv_cache {
            Some(KvCacheArg::F16) => KvCacheType::F16,
            Some(KvCacheArg::F32) => KvCacheType::F32,
            None => match self.device.parse::<DeviceSpec>()? {
                DeviceSpec::Cpu => KvCacheType::F16,
                DeviceSpec::Wgpu(_) | DeviceSpec::Cuda(_) => KvCacheType::F32,
            },
        })
    }
}

/// `--kv-cache`: what the key/value cache holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KvCacheArg {
    /// 16-bit floats.
    F16,
    /// 32-bit floats.
    F32,
}

/// A model's local path: a name on the hub (`hf:OWNER/REPO...`) is fetched first (or found in
/// its cache); anything else is a path already.
pub fn resolve_model(path: &Path) -> anyhow::Result<PathBuf> {
    match path.to_str() {
        Some(name) if name.starts_with(HUB_PREFIX) => Ok(fetch_model(name)?),
        _ => Ok(path.to_path_buf()),
    }
}

/// A model loaded for a command: its generator and its chat template (the model file's own,
/// else the one default rule's; see [`claude_inference::open`]).
pub struct LoadedModel {
    /// The generator.
    pub generator: Generator,
    /// The chat template.
    pub chat_template: ChatTemplate,
}

/// The chat template a command uses: the model's own, or the one named.
#[derive(Debug, clap::Args)]
pub struct ChatTemplateArgs {
    /// Chat prompt format: plain (ROLE:\ntext) or chatml (default: the model file's own Jinja
    /// template; else chatml where the tokenizer has ChatML's markers as special tokens; else
    /// plain).
    #[arg(long)]
    pub chat_template: Option<ChatTemplate>,
}

impl ChatTemplateArgs {
    /// The template named on the command line, else the loaded model's `own`.
    pub fn choose(&self, own: ChatTemplate) -> ChatTemplate {
        self.chat_template.clone().unwrap_or(own)
    }
}
