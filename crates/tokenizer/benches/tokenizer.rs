//! Tokenizer throughput: BPE training and GPT-2 encoding on all of `shared/data/text`.
//!
//! Run with `cargo bench -p claude-tokenizer --bench tokenizer` (set `CLAUDE_RUST_DATA` to use
//! another data directory; `BENCH_VOCABS=8192,32768` picks the training sizes). Compare side by
//! side with Hugging Face tokenizers and tiktoken: `python3 benches/compare_tokenizers.py`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use claude_files::shared_data_dir;
use claude_tokenizer::text_stream::{CutRule, split_for_parallel};
use claude_tokenizer::{BpeTrainer, Pattern, Tokenizer};

fn text_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable data directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "txt") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn main() {
    let data = shared_data_dir();
    let files = text_files(&data.join("text"));
    let corpus: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("UTF-8 corpus"))
        .collect();
    let mb = corpus.len() as f64 / 1e6;
    println!(
        "corpus: {} files, {mb:.1} MB, {} threads",
        files.len(),
        rayon::current_num_threads()
    );

    let vocabs = std::env::var("BENCH_VOCABS").unwrap_or_else(|_| "8192,32768".into());
    for vocab in vocabs
        .split(',')
        .map(|v| v.trim().parse::<usize>().expect("vocab size"))
    {
        let start = Instant::now();
        let bpe = BpeTrainer::new(vocab)
            .with_special_tokens(["<|endoftext|>"])
            .train_files(&files)
            .expect("training succeeds");
        let secs = start.elapsed().as_secs_f64();
        println!(
            "train  vocab {vocab:>6}: {secs:6.2} s  ({:.2} MB/s, {} merges)",
            mb / secs,
            bpe.merges().len()
        );
    }

    let gpt2 = Tokenizer::load(data.join("tokenizer/gpt2")).expect("GPT-2 tokenizer");
    let Tokenizer::Bpe(gpt2) = gpt2 else {
        unreachable!("GPT-2 files are BPE")
    };
    let start = Instant::now();
    let single = gpt2.encode(&corpus);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "encode gpt2, 1 thread:   {:6.2} MB/s  ({} tokens)",
        mb / secs,
        single.len()
    );

    let pieces = split_for_parallel(&corpus, 1 << 20, CutRule::Pattern(Pattern::Gpt2));
    let start = Instant::now();
    let batch = gpt2.encode_batch(&pieces);
    let secs = start.elapsed().as_secs_f64();
    let batch: Vec<u32> = batch.concat();
    println!(
        "encode gpt2, encode_batch ({} threads): {:6.2} MB/s  (ids identical: {})",
        rayon::current_num_threads(),
        mb / secs,
        batch == single
    );
}
