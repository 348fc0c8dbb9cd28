//! Prompt processing and decoding speed of a model file, measured as llama.cpp's `llama-bench`
//! measures them, so the two print comparable numbers: `pp512` is one forward pass over 512
//! prompt tokens (tokens/s), `tg128` is 128 single-token decode steps on the KV cache after a
//! one-token prompt (tokens/s); each is repeated and the mean, spread and best repetition
//! printed. Loading is not timed.
//!
//! `cargo run --release -p claude-inference --example bench_gguf -- MODEL [PROMPT] [DECODE] [REPS]
//! [BATCH]` (`benches/gguf_vs_llama_cpp.sh` runs it beside llama-bench on the same file). With a
//! `BATCH` of more than one, `tg` decodes that many sequences together (each after its own
//! one-token prompt, as a server's batch of streams) and prints their aggregate tokens/s, as
//! llama.cpp's `llama-batched-bench` does for its parallel sequences. The key/value
//! cache holds f16, as llama-bench's and our CPU server's do. Set `CLAUDE_RUST_EXACT=1` for f32
//! activations on quantized weights, `CLAUDE_RUST_KV_CACHE=f32` for an f32 cache.

use std::time::Instant;

use burn::prelude::*;
use claude_core::{Gpt, KvCacheType, PackedArithmetic};
use claude_inference::greedy_token;
use claude_tensors::allocator::{self, Allocator};

/// The binary's allocator, so that this measures what `claude-rust` runs.
#[global_allocator]
static ALLOCATOR: Allocator = Allocator;

fn main() {
    allocator::keep_freed_pages();
    let mut args = std::env::args().skip(1);
    let model = args
        .next()
        .expect("usage: bench_gguf MODEL [PROMPT] [DECODE] [REPS] [BATCH]");
    let number = |arg: Option<String>, default: usize| {
        arg.map_or(default, |a| a.parse().expect("a whole number"))
    };
    let (prompt, decode, reps, batch) = (
        number(args.next(), 512),
        number(args.next(), 128),
        number(args.next(), 3),
        number(args.next(), 1).max(1),
    );
    // This thread runs the model: as one of rayon's, it does its share of every op.
    claude_tensors::threads::main_thread_joins_pool();
    let device = Device::flex();
    let mut model = Gpt::load(model.as_ref(), &device).expect("a model file");
    if std::env::var_os("CLAUDE_RUST_EXACT").is_some() {
        model.set_packed_arithmetic(PackedArithmetic::Exact);
    }
    model.set_kv_cache_type(match std::env::var("CLAUDE_RUST_KV_CACHE").as_deref() {
        Ok("f32") => KvCacheType::F32,
        _ => KvCacheType::F16,
    });
    let vocab = model.config().vocab_size;
    let ids_rows = |rows: usize, n: usize| -> Tensor<2, Int> {
        let ids: Vec<i32> = (0..rows * n)
            .map(|i| ((i * 7919 + 13) % vocab) as i32)
            .collect();
        Tensor::from_data(TensorData::new(ids, [rows, n]), &device)
    };
    let ids = |n: usize| ids_rows(1, n);
    // Warm up (allocations, thread pool).
    let _ = model.prefill(ids(8));

    let mut pp = Vec::new();
    for _ in 0..reps {
        let started = Instant::now();
        let (logits, _) = model.prefill(ids(prompt));
        // Reading the values waits for the device (`into_data` alone may not, on a GPU).
        std::hint::black_box(argmax_rows(logits));
        pp.push(prompt as f64 / started.elapsed().as_secs_f64());
    }
    let mut tg = Vec::new();
    for _ in 0..reps {
        let (logits, mut cache) = model.prefill(ids_rows(batch, 1));
        let mut next = argmax_rows(logits);
        let started = Instant::now();
        for _ in 0..decode {
            let tokens = Tensor::from_data(TensorData::new(next, [batch]), &device);
            next = argmax_rows(model.decode(tokens, &mut cache));
        }
        tg.push((batch * decode) as f64 / started.elapsed().as_secs_f64());
    }
    println!("claude-rust pp{prompt}: {}", mean_and_spread(&pp));
    match batch {
        1 => println!("claude-rust tg{decode}: {}", mean_and_spread(&tg)),
        _ => println!("claude-rust tg{decode} x{batch}: {}", mean_and_spread(&tg)),
    }
}

/// The most likely token of each row of a logits tensor, picked as our server picks it at
/// temperature 0.
fn argmax_rows(logits: Tensor<2>) -> Vec<i32> {
    let [_, vocab] = logits.dims();
    let values = logits.try_into_vec_as::<f32>().expect("float logits");
    (values.chunks_exact(vocab))
        .map(|row| greedy_token(row) as i32)
        .collect()
}

/// `mean ± standard deviation` tokens/s, as llama-bench prints them, then the best repetition
/// (on a shared machine, the one least disturbed by its neighbours).
fn mean_and_spread(values: &[f64]) -> String {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    let best = values.iter().copied().fold(0.0, f64::max);
    format!("{mean:.2} ± {:.2} tokens/s (best {best:.2})", var.sqrt())
}
