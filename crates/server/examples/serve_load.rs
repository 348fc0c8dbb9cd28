//! Load driver for any OpenAI-compatible server: N concurrent clients, each streaming greedy
//! completions, one after another for a number of rounds; prints the aggregate decode rate and
//! the time to first token.
//!
//! ```text
//! cargo run --release -p claude-server --example serve_load -- \
//!     --url http://127.0.0.1:8080 --clients 8 --tokens 128 --name ours
//! ```
//!
//! Every request is a raw completion (`/v1/completions`, temperature 0, streamed) of a different
//! story opening, with `max_tokens` = `--tokens`. Tokens are the streamed chunks that carry text
//! (our server and llama-server both send one chunk per token). Prints one line:
//!
//! ```text
//! NAME clients=N tokens=T wall=S aggregate=A tok/s per_stream=B tok/s ttft_mean=M ms ttft_max=X ms failed=F
//! ```
//!
//! The driver shares the machine with the server it measures, so it is built to cost little:
//! all clients run on one thread, and a chunk costs a line split and a small JSON parse. (A
//! Python client with a thread per stream used a tenth of a core at 8 streams on a 2-core
//! machine, time the server it measured lost, and the faster server lost the most.)

use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};

/// The prompts, one per client (wrapping), shifted by one each round.
const OPENINGS: [&str; 8] = [
    "Once upon a time, in a village by the sea, there lived",
    "The old lighthouse keeper had a secret that nobody in town",
    "On the first day of winter, the children found a map",
    "Deep in the forest, a small fox was looking for",
    "The spaceship landed quietly behind the school, and",
    "My grandmother always told me a story about a dragon who",
    "In the middle of the desert stood a tower made of",
    "The robot woke up in an empty city and decided to",
];

/// Command-line options.
#[derive(Parser, Debug)]
struct Options {
    /// The server's base address, e.g. `http://127.0.0.1:8080`.
    #[arg(long)]
    url: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// `max_tokens` of each request.
    #[arg(long, default_value_t = 128)]
    tokens: usize,
    /// Requests each client sends, one after another.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// The `model` field of the requests (left out when empty).
    #[arg(long, default_value = "")]
    model: String,
    /// The name the result line starts with.
    #[arg(long, default_value = "server")]
    name: String,
}

/// What one streamed request gave.
#[derive(Debug, Default, Clone, Copy)]
struct Outcome {
    /// From sending the request to the first chunk with text.
    first_token: Option<Duration>,
    /// Chunks with text.
    tokens: usize,
    /// Whether the server answered 200 and the stream could be read to its end.
    ok: bool,
}

/// Streams one completion.
async fn one_request(client: &reqwest::Client, options: &Options, prompt: &str) -> Outcome {
    let mut body = json!({
        "prompt": prompt,
        "max_tokens": options.tokens,
        "temperature": 0,
        "stream": true,
    });
    if !options.model.is_empty() {
        body["model"] = json!(options.model);
    }
    let url = format!("{}/v1/completions", options.url.trim_end_matches('/'));
    let sent = Instant::now();
    let Ok(mut response) = client.post(url).json(&body).send().await else {
        return Outcome::default();
    };
    if !response.status().is_success() {
        return Outcome::default();
    }
    let mut outcome = Outcome::default();
    let mut pending = Vec::new();
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(_) => {
                return Outcome {
                    ok: false,
                    ..outcome
                };
            }
        };
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|&byte| byte == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            match event_carries_text(&line) {
                Event::Text => {
                    outcome.tokens += 1;
                    outcome.first_token.get_or_insert_with(|| sent.elapsed());
                }
                Event::Done => {
                    return Outcome {
                        ok: true,
                        ..outcome
                    };
                }
                Event::Other => {}
            }
        }
    }
    Outcome {
        ok: true,
        ..outcome
    }
}

/// One line of a server-sent event stream, as the driver counts it.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    /// A `data:` chunk whose first choice has non-empty text: one token.
    Text,
    /// `data: [DONE]`.
    Done,
    /// Anything else (blank lines, comments, chunks without text).
    Other,
}

/// Classifies one line of the stream.
fn event_carries_text(line: &[u8]) -> Event {
    let line = line.trim_ascii();
    let Some(data) = line.strip_prefix(b"data:") else {
        return Event::Other;
    };
    let data = data.trim_ascii();
    if data == b"[DONE]" {
        return Event::Done;
    }
    let Ok(chunk) = serde_json::from_slice::<Value>(data) else {
        return Event::Other;
    };
    let text = chunk["choices"][0]["text"].as_str().unwrap_or("");
    if text.is_empty() {
        Event::Other
    } else {
        Event::Text
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let options = Options::parse();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.clients)
        .build()
        .expect("an HTTP client");
    let started = Instant::now();
    let clients = (0..options.clients).map(|index| {
        let (client, options) = (&client, &options);
        async move {
            let mut outcomes = Vec::with_capacity(options.rounds);
            for round in 0..options.rounds {
                let prompt = OPENINGS[(index + round) % OPENINGS.len()];
                outcomes.push(one_request(client, options, prompt).await);
            }
            outcomes
        }
    });
    let outcomes: Vec<Outcome> = futures_util::future::join_all(clients)
        .await
        .into_iter()
        .flatten()
        .collect();
    let wall = started.elapsed().as_secs_f64();
    println!("{}", summary(&options, &outcomes, wall));
}

/// The result line.
fn summary(options: &Options, outcomes: &[Outcome], wall: f64) -> String {
    let ok: Vec<&Outcome> = outcomes.iter().filter(|outcome| outcome.ok).collect();
    let tokens: usize = ok.iter().map(|outcome| outcome.tokens).sum();
    let firsts: Vec<f64> = ok
        .iter()
        .filter_map(|outcome| outcome.first_token)
        .map(|first| first.as_secs_f64() * 1e3)
        .collect();
    let aggregate = if wall > 0.0 {
        tokens as f64 / wall
    } else {
        0.0
    };
    let per_stream = aggregate / options.clients.max(1) as f64;
    let (ttft_mean, ttft_max) = if firsts.is_empty() {
        (f64::NAN, f64::NAN)
    } else {
        let max = firsts.iter().copied().fold(f64::MIN, f64::max);
        (firsts.iter().sum::<f64>() / firsts.len() as f64, max)
    };
    format!(
        "{} clients={} tokens={tokens} wall={wall:.2} aggregate={aggregate:.1} tok/s \
         per_stream={per_stream:.1} tok/s ttft_mean={ttft_mean:.0} ms ttft_max={ttft_max:.0} ms \
         failed={}",
        options.name,
        options.clients,
        outcomes.len() - ok.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_chunks_with_text() {
        let chunk = br#"data: {"choices":[{"text":" fox","index":0}]}"#;
        assert_eq!(event_carries_text(chunk), Event::Text);
        let empty = br#"data: {"choices":[{"text":"","finish_reason":"length"}]}"#;
        assert_eq!(event_carries_text(empty), Event::Other);
        assert_eq!(event_carries_text(b"data: [DONE]\n"), Event::Done);
        assert_eq!(event_carries_text(b"\n"), Event::Other);
        assert_eq!(event_carries_text(b": keep-alive\n"), Event::Other);
    }
}
