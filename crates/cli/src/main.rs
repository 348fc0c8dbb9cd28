//! `claude-rust`: the command line of the claude-rust LLM stack.
//!
//! Thin by design: each subcommand parses its arguments and calls a library crate.

mod commands;

use clap::{Parser, Subcommand};

/// A pure-Rust LLM stack: tokenize, prepare data, train, generate.
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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Tokenizer(command) => commands::tokenizer::run(command),
        Command::Prepare(args) => commands::prepare::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
