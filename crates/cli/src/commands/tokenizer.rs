//! `claude-rust tokenizer train|encode|decode`.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use claude_tokenizer::text_stream::decode_utf8;
use claude_tokenizer::{AllowedSpecial, BpeTrainer, CharTokenizer, Pattern, Tokenizer, Utf8Policy};

/// The tokenizer subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum TokenizerCommand {
    /// Learn a tokenizer from text files and save it as vocab.json + merges.txt.
    Train(TrainArgs),
    /// Print the ids of a text (a file, or all of stdin) on one line.
    Encode(EncodeArgs),
    /// Turn ids (space separated, or JSON arrays) back into text.
    Decode(DecodeArgs),
}

/// Which kind of tokenizer to train.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Kind {
    /// Byte-level BPE (GPT-2 style).
    Bpe,
    /// One token per character of the corpus (nanoGPT's shakespeare_char).
    Char,
}

/// Arguments of `tokenizer train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Text files to learn from.
    #[arg(long, num_args = 1.., required = true)]
    input: Vec<PathBuf>,
    /// Vocabulary size, 256 byte tokens and special tokens included (BPE only).
    #[arg(long)]
    vocab_size: Option<usize>,
    /// A special token, e.g. "<|endoftext|>" (repeatable).
    #[arg(long = "special")]
    special: Vec<String>,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Tokenizer kind.
    #[arg(long, value_enum, default_value = "bpe")]
    kind: Kind,
    /// Pre-tokenization pattern: gpt2 or gpt4.
    #[arg(long, default_value = "gpt2")]
    pattern: Pattern,
    /// What to do with invalid UTF-8: error, replace or skip.
    #[arg(long, default_value = "error")]
    invalid_utf8: Utf8Policy,
}

/// Output format of `tokenizer encode`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// Ids separated by spaces.
    Text,
    /// A JSON array.
    Json,
}

/// Arguments of `tokenizer encode`.
#[derive(Debug, clap::Args)]
pub struct EncodeArgs {
    /// Tokenizer directory (ours, Hugging Face's or GPT-2's files).
    #[arg(long)]
    tokenizer: PathBuf,
    /// Text file (default: stdin), read byte for byte as one text.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Encode each line separately (one output line per input line).
    #[arg(long)]
    lines: bool,
    /// Turn special-token text such as <|endoftext|> into its id.
    #[arg(long)]
    allow_special: bool,
}

/// Arguments of `tokenizer decode`.
#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// Tokenizer directory.
    #[arg(long)]
    tokenizer: PathBuf,
    /// File of ids (default: stdin).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Decode each line separately, printing one line per input line.
    #[arg(long)]
    lines: bool,
}

/// Runs a tokenizer subcommand.
pub fn run(command: TokenizerCommand) -> anyhow::Result<()> {
    match command {
        TokenizerCommand::Train(args) => train(args),
        TokenizerCommand::Encode(args) => encode(args),
        TokenizerCommand::Decode(args) => decode(args),
    }
}

fn train(args: TrainArgs) -> anyhow::Result<()> {
    let start = Instant::now();
    let tokenizer = match args.kind {
        Kind::Bpe => {
            let Some(vocab_size) = args.vocab_size else {
                bail!("--vocab-size is required for a BPE tokenizer");
            };
            let trainer = BpeTrainer::new(vocab_size)
                .with_special_tokens(args.special)
                .with_pattern(args.pattern)
                .with_utf8_policy(args.invalid_utf8)
                .with_progress(std::io::stderr().is_terminal());
            Tokenizer::Bpe(trainer.train_files(&args.input)?)
        }
        Kind::Char => {
            if !args.special.is_empty() {
                bail!("--special is not supported by the character tokenizer");
            }
            Tokenizer::Char(CharTokenizer::from_files(&args.input, args.invalid_utf8)?)
        }
    };
    tokenizer.save(&args.out)?;
    println!(
        "trained a {}-token tokenizer in {:.1} s, saved to {}",
        tokenizer.vocab_size(),
        start.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}

fn load(dir: &Path) -> anyhow::Result<Tokenizer> {
    Tokenizer::load(dir).with_context(|| format!("loading tokenizer from {}", dir.display()))
}

/// Reads a file, or all of stdin, as raw bytes; returns them with a name for messages.
fn read_input(input: Option<&Path>) -> anyhow::Result<(Vec<u8>, PathBuf)> {
    match input {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Ok((bytes, path.to_path_buf()))
        }
        None => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("reading stdin")?;
            Ok((bytes, PathBuf::from("<stdin>")))
        }
    }
}

/// Splits text into lines without their `\n`; a final newline does not start another line.
fn lines_of(text: &str) -> Vec<&str> {
    text.strip_suffix('\n').map_or_else(
        || {
            if text.is_empty() {
                Vec::new()
            } else {
                text.split('\n').collect()
            }
        },
        |body| body.split('\n').collect(),
    )
}

fn encode(args: EncodeArgs) -> anyhow::Result<()> {
    let tokenizer = load(&args.tokenizer)?;
    let (bytes, name) = read_input(args.input.as_deref())?;
    let text = decode_utf8(bytes, &name, 0, Utf8Policy::Error)?;
    let allowed = if args.allow_special {
        AllowedSpecial::All
    } else {
        AllowedSpecial::None
    };
    let texts = if args.lines {
        lines_of(&text)
    } else {
        vec![text.as_str()]
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for text in texts {
        let ids = tokenizer.encode_with_special(text, allowed)?;
        match args.format {
            Format::Json => serde_json::to_writer(&mut out, &ids)?,
            Format::Text => {
                let line: Vec<String> = ids.iter().map(u32::to_string).collect();
                out.write_all(line.join(" ").as_bytes())?;
            }
        }
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Parses one line of ids: space-separated numbers or a JSON array.
fn parse_ids(line: &str, line_no: usize, name: &Path) -> anyhow::Result<Vec<u32>> {
    let trimmed = line.trim();
    if trimmed.starts_with('[') {
        return serde_json::from_str(trimmed).with_context(|| {
            format!(
                "{}:{line_no}: not a JSON array of token ids",
                name.display()
            )
        });
    }
    trimmed
        .split_whitespace()
        .map(|word| {
            word.parse::<u32>().with_context(|| {
                format!("{}:{line_no}: {word:?} is not a token id", name.display())
            })
        })
        .collect()
}

fn decode(args: DecodeArgs) -> anyhow::Result<()> {
    let tokenizer = load(&args.tokenizer)?;
    let (bytes, name) = read_input(args.input.as_deref())?;
    let text = decode_utf8(bytes, &name, 0, Utf8Policy::Error)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut all = Vec::new();
    for (index, line) in lines_of(&text).into_iter().enumerate() {
        let ids = parse_ids(line, index + 1, &name)?;
        if args.lines {
            out.write_all(&tokenizer.decode_bytes(&ids)?)?;
            out.write_all(b"\n")?;
        } else {
            all.extend(ids);
        }
    }
    if !args.lines {
        out.write_all(&tokenizer.decode_bytes(&all)?)?;
    }
    out.flush()?;
    Ok(())
}
