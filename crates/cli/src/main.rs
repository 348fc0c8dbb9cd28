//! `claude-rust`: the command line of the claude-rust LLM stack.
//!
//! Thin by design: each subcommand parses its arguments and calls a library crate.

use clap::{Parser, Subcommand};
use claude_cli::commands;
use claude_tensors::allocator::{self, Allocator};

/// mimalloc, keeping freed pages for reuse (see [`claude_tensors::allocator`]).
#[global_allocator]
static ALLOCATOR: Allocator = Allocator;

/// A pure-Rust LLM stack: tokenize, prepare data, train, generate, serve.
#[derive(Debug, Parser)]
#[command(name = "claude-rust", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train, or encode and decode with, a tokenizer.
    #[command(subcommand)]
    Tokenizer(commands::tokenizer::TokenizerCommand),
    /// Encode text files into train.bin / val.bin token files.
    Prepare(commands::prepare::PrepareArgs),
    /// Train a GPT from a config file.
    Train(commands::train::TrainArgs),
    /// Fine-tune a pretrained model on chat data: full, LoRA or QLoRA.
    Finetune(commands::finetune::FinetuneArgs),
    /// Generate text from a checkpoint.
    Generate(commands::generate::GenerateArgs),
    /// Serve a checkpoint over an OpenAI-compatible HTTP API.
    Serve(commands::serve::ServeArgs),
    /// A model's perplexity on a text file, as llama.cpp's llama-perplexity computes it.
    Perplexity(commands::perplexity::PerplexityArgs),
    /// Sentence vectors of texts with a sentence-transformers model (JSON lines).
    Embed(commands::embed::EmbedArgs),
    /// Index documents for retrieval, change an index, query it.
    #[command(subcommand)]
    Index(commands::index::IndexCommand),
    /// Pack a model's weights in 8 or 4 bits (int8, q8_0, q4_0, q4_1) into a new model file.
    Quantize(commands::quantize::QuantizeArgs),
    /// Write a model as a GGUF file for llama.cpp, with its tokenizer.
    Export(commands::export::ExportArgs),
}

fn main() -> std::process::ExitCode {
    allocator::keep_freed_pages();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Tokenizer(command) => commands::tokenizer::run(command),
        Command::Prepare(args) => commands::prepare::run(args),
        Command::Train(args) => commands::train::run(args).map(|_| ()),
        Command::Finetune(args) => commands::finetune::run(args),
        Command::Generate(args) => commands::generate::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Perplexity(args) => commands::perplexity::run(args),
        Command::Quantize(args) => commands::quantize::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Embed(args) => commands::embed::run(args),
        Command::Index(command) => commands::index::run(command),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
