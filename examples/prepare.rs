//! Prepare a corpus for training: learn a byte-level BPE tokenizer from raw text, then encode the
//! text into `train.bin` / `val.bin` (little-endian u32 ids with JSON sidecars).
//!
//! Run with: `cargo run --release --example prepare [-- CORPUS OUT_DIR VOCAB_SIZE]`
//!
//! Defaults: tinyshakespeare from `$CLAUDE_RUST_DATA` (else `../shared/data`), `out/shakespeare-bpe`,
//! 2048 tokens. Expected output on tinyshakespeare, in about a second:
//!
//! ```text
//! tokenizer: 2048 tokens, saved to out/shakespeare-bpe/tokenizer
//! train.bin: 301... tokens, val.bin: 33... tokens (3.3 bytes per token)
//! ```

use std::path::PathBuf;

use claude_rust::files::shared_data_dir;
use claude_rust::tokenizer::data::{PrepareOptions, TokenFile, prepare};
use claude_rust::tokenizer::{BpeTrainer, END_OF_TEXT, Tokenizer};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let corpus = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| shared_data_dir().join("text/tinyshakespeare.txt"));
    let out = PathBuf::from(args.next().unwrap_or_else(|| "out/shakespeare-bpe".into()));
    let vocab_size: usize = args.next().map_or(Ok(2048), |v| v.parse())?;

    // 1. Learn merges from the corpus (streamed, counted in parallel).
    let bpe = BpeTrainer::new(vocab_size)
        .with_special_tokens([END_OF_TEXT])
        .train_files(std::slice::from_ref(&corpus))?;
    let tokenizer = Tokenizer::Bpe(bpe);
    tokenizer.save(out.join("tokenizer"))?;
    println!(
        "tokenizer: {} tokens, saved to {}",
        tokenizer.vocab_size(),
        out.join("tokenizer").display()
    );

    // 2. Encode the last 10% of the text as validation data, the rest as training data.
    let report = prepare(&tokenizer, &[corpus], &out, &PrepareOptions::default())?;

    // 3. Read it back the way the trainer does: memory-mapped, checked against the tokenizer.
    let train = TokenFile::open(&report.train_path)?;
    train.expect_tokenizer(&tokenizer)?;
    println!(
        "train.bin: {} tokens, val.bin: {} tokens ({:.1} bytes per token)",
        report.train_tokens,
        report.val_tokens,
        report.bytes as f64 / (report.train_tokens + report.val_tokens) as f64
    );
    Ok(())
}
