//! Tokens per second with and without a JSON-schema constraint, and what the constraint costs
//! on its own: building the vocabulary index, compiling the schema, one mask per token.
//!
//! ```text
//! cargo run --release -p claude-inference --example constraint_speed [MODEL.gguf] [VOCAB.gguf...]
//! ```
//!
//! The first file (default: SmolLM2-135M-Instruct Q4_1) generates; the others only have their
//! tokenizer indexed and masked.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use burn::prelude::*;
use claude_inference::{
    CompiledConstraint, Constraint, ConstraintCompiler, Generator, SamplingParams, SequenceRequest,
    open,
};
use claude_tokenizer::{AllowedSpecial, Tokenizer};
use serde_json::json;

const RUNS: usize = 3;
const MAX_NEW_TOKENS: usize = 64;

fn schema() -> Constraint {
    Constraint::JsonSchema(json!({
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "color": {"enum": ["red", "green", "blue"]},
            "hobbies": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["name", "age", "color", "hobbies"],
        "additionalProperties": false
    }))
}

/// Index build and schema compile times, and the mean time of one mask (computed and applied)
/// plus one token consumed while replaying `tokens`.
fn constraint_costs(tokenizer: &Tokenizer, tokens: &[u32]) -> (ConstraintCompiler, String) {
    let start = Instant::now();
    let compiler = ConstraintCompiler::new(tokenizer).expect("a usable vocabulary");
    let build = start.elapsed();
    let start = Instant::now();
    let compiled = compiler.compile(&schema()).expect("a supported schema");
    let compile = start.elapsed();
    let per_token = replay(&compiled, tokens, tokenizer.vocab_size());
    let line = format!(
        "vocabulary {}: index built in {:.0} ms, schema compiled in {:.1} ms, mask + consume \
         {:.0} us/token over {} tokens",
        tokenizer.vocab_size(),
        build.as_secs_f64() * 1e3,
        compile.as_secs_f64() * 1e3,
        per_token.as_secs_f64() * 1e6,
        tokens.len(),
    );
    (compiler, line)
}

fn replay(compiled: &CompiledConstraint, tokens: &[u32], vocab: usize) -> Duration {
    let mut matcher = compiled.matcher();
    let mut logits = vec![0.0f32; vocab];
    let start = Instant::now();
    let mut steps = 0u32;
    for &token in tokens {
        if !matcher.mask(&mut logits) || !matcher.consume(token) {
            break;
        }
        steps += 1;
    }
    start.elapsed() / steps.max(1)
}

/// Decode speed: tokens after the first per second from the first token on (the prefill, the
/// same for both requests, is left out: the constrained text is shorter).
fn tokens_per_second(generator: &Generator, request: &SequenceRequest) -> (f64, String) {
    let mut first = None;
    let completion = generator
        .generate(request.clone(), |_| {
            first.get_or_insert_with(Instant::now);
            true
        })
        .unwrap();
    let elapsed = first.expect("a token").elapsed().as_secs_f64();
    let rate = (completion.tokens.len() - 1) as f64 / elapsed;
    (rate, completion.text)
}

fn main() {
    let mut paths: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        paths.push(
            claude_files::shared_data_dir()
                .join("models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf"),
        );
    }
    let device = Device::flex();
    let generator = open(&paths[0], None, &device)
        .unwrap()
        .into_generator(&device);
    let tokenizer = generator.tokenizer();
    let chat = "<|im_start|>user\nDescribe a person as JSON: name, age, favourite color and \
                hobbies.<|im_end|>\n<|im_start|>assistant\n";
    let prompt = tokenizer
        .encode_with_special(chat, AllowedSpecial::All)
        .unwrap();
    let plain = SequenceRequest {
        prompt,
        max_new_tokens: MAX_NEW_TOKENS,
        sampling: SamplingParams {
            temperature: 0.0,
            ..SamplingParams::default()
        },
        ..Default::default()
    };
    let compiler = ConstraintCompiler::new(tokenizer).unwrap();
    let constrained = SequenceRequest {
        constraint: Some(compiler.compile(&schema()).unwrap()),
        ..plain.clone()
    };
    println!("{}", paths[0].display());
    let mut json_text = String::new();
    for run in 1..=RUNS {
        let (free, _) = tokens_per_second(&generator, &plain);
        let (masked, text) = tokens_per_second(&generator, &constrained);
        println!("run {run}: {free:.1} decode tokens/s unconstrained, {masked:.1} with the schema");
        json_text = text;
    }
    println!("constrained output: {json_text}");
    let replayed = tokenizer
        .encode_with_special(&json_text, AllowedSpecial::None)
        .unwrap();
    println!("  {}", constraint_costs(tokenizer, &replayed).1);
    for path in &paths[1..] {
        let tokenizer = Tokenizer::from_gguf(path).unwrap();
        let tokens = tokenizer
            .encode_with_special(&json_text, AllowedSpecial::None)
            .unwrap();
        println!("{}", path.display());
        println!("  {}", constraint_costs(&tokenizer, &tokens).1);
    }
}
