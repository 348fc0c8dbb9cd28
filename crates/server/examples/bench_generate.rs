//! Generation speed, printed side by side: decode tokens/s at batch 1 with and without the KV
//! cache (500 new tokens), time to first token, and aggregate tokens/s of 1, 8 and 32 concurrent
//! streaming clients against the real server on loopback.
//!
//! `cargo run --release -p claude-server --example bench_generate` (for a GPU, build with
//! `--features claude-tensors/wgpu` and set `CLAUDE_RUST_BENCH_DEVICE=wgpu`). The model is a
//! randomly initialised 4-layer, 128-wide character model with a 512-token context (speed does not depend on the weights);
//! `CLAUDE_RUST_BENCH_CHECKPOINT=<path>` benchmarks a model file instead (a checkpoint with its
//! run's `tokenizer/`, or a GGUF file with its own), without the uncached loop;
//! `CLAUDE_RUST_BENCH_NEW_TOKENS` changes the 500 new tokens of the batch-1 runs.

use std::time::{Duration, Instant};

use burn::prelude::*;
use claude_core::ModelConfig;
use claude_inference::engine::{EngineConfig, spawn_engine};
use claude_inference::{
    Generator, OverflowPolicy, Sampler, SamplingParams, SequenceRequest, generate_uncached,
};
use claude_server::{AppState, ServerConfig, router};
use claude_tensors::allocator::{self, Allocator};
use claude_tokenizer::{CharTokenizer, Tokenizer};
use serde_json::json;

const NEW_TOKENS: usize = 500;

/// New tokens of the batch-1 runs.
fn new_tokens() -> usize {
    std::env::var("CLAUDE_RUST_BENCH_NEW_TOKENS")
        .map_or(NEW_TOKENS, |n| n.parse().expect("a number"))
}
const PROMPT: &str = "ROMEO:\nBut soft, what light";

fn device() -> Device {
    let spec = std::env::var("CLAUDE_RUST_BENCH_DEVICE").unwrap_or_else(|_| "cpu".into());
    claude_tensors::parse_device(&spec).expect("a compiled device")
}

fn generator(device: &Device) -> Generator {
    if let Ok(dir) = std::env::var("CLAUDE_RUST_BENCH_CHECKPOINT") {
        return Generator::load(dir.as_ref(), None, device)
            .expect("a checkpoint and its tokenizer");
    }
    let text =
        std::fs::read_to_string(claude_files::shared_data_dir().join("text/tinyshakespeare.txt"))
            .unwrap_or_else(|_| PROMPT.to_string());
    let tokenizer = Tokenizer::Char(CharTokenizer::from_texts(&[text]));
    device.seed(0);
    let model = ModelConfig {
        vocab_size: tokenizer.vocab_size(),
        context_length: 512,
        n_layer: 4,
        n_head: 4,
        d_model: 128,
        ..ModelConfig::default()
    }
    .init(device);
    Generator::new(model, tokenizer, device.clone())
}

fn sampling() -> SamplingParams {
    SamplingParams {
        temperature: 0.8,
        top_k: 200,
        seed: 7,
        ..SamplingParams::default()
    }
}

/// The binary's allocator, so that this measures what `claude-rust` runs.
#[global_allocator]
static ALLOCATOR: Allocator = Allocator;

fn main() {
    allocator::keep_freed_pages();
    let device = device();
    let generator = generator(&device).with_overflow(OverflowPolicy::SlidingWindow);
    let prompt = generator
        .tokenizer()
        .encode(PROMPT)
        .expect("prompt in vocabulary");
    println!(
        "model: context {}, {} float parameters; prompt {} tokens; {} new tokens",
        generator.context_length(),
        burn::module::Module::num_params(generator.model()),
        prompt.len(),
        new_tokens()
    );

    // Batch 1, cached: time to first token and decode rate.
    let request = SequenceRequest {
        prompt: prompt.clone(),
        max_new_tokens: new_tokens(),
        sampling: sampling(),
        stop: Vec::new(),
        ..Default::default()
    };
    generator
        .generate(request.clone(), |_| true)
        .expect("warm-up");
    let start = Instant::now();
    let mut first = None;
    let done = generator
        .generate(request, |_| {
            first.get_or_insert_with(|| start.elapsed());
            true
        })
        .expect("generate");
    let total = start.elapsed();
    let ttft = first.expect("a first token");
    let decode_rate = (done.tokens.len() - 1) as f64 / (total - ttft).as_secs_f64();

    println!("{:<44} {:>12}", "batch 1", "tokens/s");
    println!("{:<44} {:>12.1}", "decode with KV cache", decode_rate);
    // Batch 1, uncached (the built-in model only): every token re-runs the whole window.
    if std::env::var_os("CLAUDE_RUST_BENCH_CHECKPOINT").is_none() {
        let start = Instant::now();
        let tokens = generate_uncached(
            generator.model(),
            &prompt,
            new_tokens(),
            &mut Sampler::new(sampling()),
            &device,
        );
        let uncached_rate = tokens.len() as f64 / start.elapsed().as_secs_f64();
        println!(
            "{:<44} {:>12.1}",
            "decode without cache (full window)", uncached_rate
        );
    }
    println!(
        "{:<44} {:>12.2}",
        "time to first token (ms)",
        ttft.as_secs_f64() * 1e3
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(concurrent(generator));
}

/// Aggregate tokens/s with N concurrent streaming clients through the HTTP server.
async fn concurrent(generator: Generator) {
    let context = generator.context_length();
    let tokenizer = generator.tokenizer().clone();
    let (engine, _thread) = spawn_engine(
        generator,
        EngineConfig {
            max_batch: 32,
            queue_capacity: 64,
            request_timeout: Duration::from_secs(600),
        },
    );
    let mut config = ServerConfig::new("bench", context);
    config.max_tokens_cap = 1024;
    config.overflow = OverflowPolicy::SlidingWindow;
    let state = AppState::new(config, tokenizer, engine);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/v1/completions",
        listener.local_addr().expect("address")
    );
    tokio::spawn(async move { axum::serve(listener, router(state)).await });

    let per_client = 128;
    println!(
        "{:<44} {:>12} {:>12}",
        "concurrent clients (128 tokens each)", "tokens/s", "TTFT ms"
    );
    for clients in [1usize, 8, 32] {
        let start = Instant::now();
        let tasks: Vec<_> =
            (0..clients)
                .map(|i| {
                    let url = url.clone();
                    tokio::spawn(async move {
                        let sent = Instant::now();
                        let mut response = reqwest::Client::new()
                        .post(&url)
                        .json(&json!({"model": "bench", "prompt": PROMPT, "max_tokens": per_client,
                                      "temperature": 0.8, "seed": i, "stream": true}))
                        .send()
                        .await
                        .expect("request");
                        let mut ttft = None;
                        while let Some(chunk) = response.chunk().await.expect("body") {
                            if ttft.is_none() && !chunk.is_empty() {
                                ttft = Some(sent.elapsed());
                            }
                        }
                        ttft.unwrap_or_default()
                    })
                })
                .collect();
        let mut ttft_sum = Duration::ZERO;
        for task in tasks {
            ttft_sum += task.await.expect("client");
        }
        let rate = (clients * per_client) as f64 / start.elapsed().as_secs_f64();
        let ttft = ttft_sum.as_secs_f64() * 1e3 / clients as f64;
        println!(
            "{:<44} {:>12.1} {:>12.1}",
            format!("{clients} clients"),
            rate,
            ttft
        );
    }
}
