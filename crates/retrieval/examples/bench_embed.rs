//! Sentence embedding throughput: the first `N` non-empty lines of a text file (default 512 of
//! wikitext-2) embedded in batches, after one warm-up pass; prints texts/s and tokens/s.
//! `benches/embed.sh` runs it beside sentence-transformers on the same texts.
//!
//! `cargo run --release -p claude-retrieval --example bench_embed -- MODEL_DIR [TEXT_FILE] [N]`

use std::time::Instant;

use burn::prelude::*;
use claude_retrieval::SentenceEmbedder;
use claude_tensors::allocator::{self, Allocator};

/// The binary's allocator, so that this measures what `claude-rust` runs.
#[global_allocator]
static ALLOCATOR: Allocator = Allocator;

fn main() {
    allocator::keep_freed_pages();
    let mut args = std::env::args().skip(1);
    let model = args
        .next()
        .expect("usage: bench_embed MODEL_DIR [TEXT_FILE] [N]");
    let file = args.next().unwrap_or_else(|| {
        let data = claude_files::shared_data_dir();
        data.join("eval/wikitext-2-raw-test.txt")
            .display()
            .to_string()
    });
    let n: usize = args.next().map_or(512, |n| n.parse().expect("a number"));
    // This thread runs the model: as one of rayon's, it does its share of every op.
    claude_tensors::threads::main_thread_joins_pool();
    let text = std::fs::read_to_string(&file).expect("a text file");
    let texts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(n)
        .collect();
    let embedder = SentenceEmbedder::load(model.as_ref(), &Device::flex()).expect("a model");
    let _ = embedder.embed(&texts[..texts.len().min(32)]);
    let started = Instant::now();
    let embeddings = embedder.embed(&texts);
    let seconds = started.elapsed().as_secs_f64();
    let tokens: usize = embeddings.iter().map(|e| e.tokens).sum();
    println!(
        "claude-rust: {} texts, {tokens} tokens in {seconds:.2} s: {:.1} texts/s, {:.0} tokens/s",
        texts.len(),
        texts.len() as f64 / seconds,
        tokens as f64 / seconds
    );
}
