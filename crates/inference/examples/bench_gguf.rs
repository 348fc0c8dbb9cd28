//! Prompt processing and decoding speed of a model file, measured as llama.cpp's `llama-bench`
//! measures them, so the two print comparable numbers: `pp512` is one forward pass over 512
//! prompt tokens (tokens/s), `tg128` is 128 single-token decode steps on the KV cache after a
//! one-token prompt (tokens/s); each is repeated and the mean and spread printed. Loading is not
//! timed.
//!
//! `cargo run --release -p claude-inference --example bench_gguf -- MODEL [PROMPT] [DECODE] [REPS]`
//! (`benches/gguf_vs_llama_cpp.sh` runs it beside llama-bench on the same file). The key/value
//! cache holds f16, as llama-bench's and our CPU server's do. Set `CLAUDE_RUST_EXACT=1` for f32
//! activations on quantized weights, `CLAUDE_RUST_KV_CACHE=f32` for an f32 cache.

use std::time::Instant;

use burn::prelude::*;
use claude_core::{Gpt, KvCacheType, PackedArithmetic};

fn main() {
    let mut args = std::env::args().skip(1);
    let model = args
        .next()
        .expect("usage: bench_gguf MODEL [PROMPT] [DECODE] [REPS]");
    let number = |arg: Option<String>, default: usize| {
        arg.map_or(default, |a| a.parse().expect("a whole number"))
    };
    let (prompt, decode, reps) = (
        number(args.next(), 512),
        number(args.next(), 128),
        number(args.next(), 3),
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
    let ids = |n: usize| -> Tensor<2, Int> {
        let ids: Vec<i32> = (0..n).map(|i| ((i * 7919 + 13) % vocab) as i32).collect();
        Tensor::from_data(TensorData::new(ids, [1, n]), &device)
    };
    // Warm up (allocations, thread pool).
    let _ = model.prefill(ids(8));

    let mut pp = Vec::new();
    for _ in 0..reps {
        let started = Instant::now();
        let (logits, _) = model.prefill(ids(prompt));
        // Reading the values waits for the device (`into_data` alone may not, on a GPU).
        std::hint::black_box(argmax(logits));
        pp.push(prompt as f64 / started.elapsed().as_secs_f64());
    }
    let mut tg = Vec::new();
    for _ in 0..reps {
        let (logits, mut cache) = model.prefill(ids(1));
        let mut next = argmax(logits);
        let started = Instant::now();
        for _ in 0..decode {
            let token = Tensor::from_data(TensorData::new(vec![next], [1]), &device);
            next = argmax(model.decode(token, &mut cache));
        }
        tg.push(decode as f64 / started.elapsed().as_secs_f64());
    }
    println!("claude-rust pp{prompt}: {}", mean_and_spread(&pp));
    println!("claude-rust tg{decode}: {}", mean_and_spread(&tg));
}

/// The most likely token of a one-row logits tensor.
fn argmax(logits: Tensor<2>) -> i32 {
    let row = logits.try_into_vec_as::<f32>().expect("float logits");
    let best = (0..row.len()).fold(0, |best, i| if row[i] > row[best] { i } else { best });
    best as i32
}

/// `mean ± standard deviation` tokens/s, as llama-bench prints them.
fn mean_and_spread(values: &[f64]) -> String {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    format!("{mean:.2} ± {:.2} tokens/s", var.sqrt())
}
