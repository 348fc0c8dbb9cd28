//! The real server on a free loopback port, spoken to over HTTP: the OpenAI endpoints (plain and
//! streaming), the page, health and metrics, every kind of bad input, a panicking request,
//! disconnects, a full queue, and a bounded load test.

use std::time::{Duration, Instant};

use burn::nn::EmbeddingConfig;
use burn::prelude::*;
use claude_core::{ModelConfig, PositionEmbedding};
use claude_inference::engine::{EngineConfig, spawn_engine};
use claude_inference::{Generator, OverflowPolicy};
use claude_server::{AppState, ServerConfig, router};
use claude_tokenizer::{CharTokenizer, Tokenizer};
use futures_util::StreamExt;
use serde_json::{Value, json};

const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,:!?'\n";
const MODEL: &str = "tiny-shakespeare";
const CONTEXT: usize = 128;

/// Knobs of one test server.
struct Setup {
    api_key: Option<String>,
    engine: EngineConfig,
    /// Shrink the position table so that prompts longer than this panic inside the model.
    broken_positions: Option<usize>,
    max_tokens_cap: usize,
    overflow: OverflowPolicy,
    /// The model's context length.
    context: usize,
    /// Serve all-MiniLM-L6-v2 on `/v1/embeddings` as `minilm`.
    embedder: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            api_key: None,
            engine: EngineConfig::default(),
            broken_positions: None,
            max_tokens_cap: 100,
            overflow: OverflowPolicy::Reject,
            context: CONTEXT,
            embedder: false,
        }
    }
}

/// Starts a server and returns its base URL.
async fn start(setup: Setup) -> String {
    let device = Device::flex();
    device.seed(1);
    let tokenizer = Tokenizer::Char(CharTokenizer::new(ALPHABET.chars()));
    let mut model = ModelConfig {
        vocab_size: tokenizer.vocab_size(),
        context_length: setup.context,
        n_layer: 2,
        n_head: 2,
        d_model: 32,
        ..ModelConfig::default()
    }
    .init(&device);
    if let Some(len) = setup.broken_positions {
        model.wpe = PositionEmbedding::Learned(EmbeddingConfig::new(len, 32).init(&device));
    }
    let generator = Generator::new(model, tokenizer.clone(), device).with_overflow(setup.overflow);
    let (engine, _thread) = spawn_engine(generator, setup.engine);
    let mut config = ServerConfig::new(MODEL, setup.context);
    config.api_key = setup.api_key;
    config.max_tokens_cap = setup.max_tokens_cap;
    config.body_limit = 4096;
    config.overflow = setup.overflow;
    let mut state = AppState::new(config, tokenizer, engine);
    if setup.embedder {
        let dir = claude_files::shared_data_dir().join("models/all-minilm-l6-v2");
        let embedder = claude_retrieval::SentenceEmbedder::load(&dir, &Device::flex()).unwrap();
        state = state.with_embedder("minilm", std::sync::Arc::new(embedder));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    url
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// Posts `body` as JSON to `path`.
async fn send(url: &str, path: &str, body: Value) -> reqwest::Response {
    let request = client().post(format!("{url}{path}")).json(&body);
    request.send().await.unwrap()
}

async fn post(url: &str, path: &str, body: Value) -> (u16, Value) {
    let response = send(url, path, body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Posts a streaming request: the status and the `data:` payloads of its Server-Sent Events.
async fn post_stream(url: &str, path: &str, body: Value) -> (u16, Vec<String>) {
    let response = send(url, path, body).await;
    let status = response.status().as_u16();
    (status, sse_data(&response.text().await.unwrap()))
}

/// The status of `GET /health`.
/// GETs `path` and parses the JSON answer.
async fn get_json(url: &str, path: &str) -> Value {
    let response = client().get(format!("{url}{path}")).send().await.unwrap();
    response.json().await.unwrap()
}

async fn health_status(url: &str) -> u16 {
    let response = client().get(format!("{url}/health")).send().await.unwrap();
    response.status().as_u16()
}

async fn post_raw(url: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    let response = client()
        .post(format!("{url}{path}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The `data:` payloads of an SSE body, in order.
fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| {
            event
                .lines()
                .find_map(|line| line.strip_prefix("data:").map(|d| d.trim().to_string()))
        })
        .collect()
}

async fn metric(url: &str, name: &str) -> f64 {
    let text = client()
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} missing from\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn completions_answer_in_openai_format() {
    let url = start(Setup::default()).await;
    let (status, body) = post(
        &url,
        "/v1/completions",
        json!({"model": MODEL, "prompt": "ROMEO:", "max_tokens": 12, "temperature": 0}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "text_completion");
    assert_eq!(body["model"], MODEL);
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(body["usage"]["prompt_tokens"], 6);
    assert_eq!(body["usage"]["completion_tokens"], 12);
    assert_eq!(body["usage"]["total_tokens"], 18);
    let text = body["choices"][0]["text"].as_str().unwrap();
    assert_eq!(text.chars().count(), 12);

    // Greedy decoding is deterministic, and token-id prompts are accepted.
    let ids = Tokenizer::Char(CharTokenizer::new(ALPHABET.chars()))
        .encode("ROMEO:")
        .unwrap();
    let (_, again) = post(
        &url,
        "/v1/completions",
        json!({"model": MODEL, "prompt": ids, "max_tokens": 12, "temperature": 0}),
    )
    .await;
    assert_eq!(again["choices"][0]["text"], text);
}

/// Log probabilities in both of OpenAI's forms, whole and streamed: one entry per generated
/// character (the model's tokens), the greedy choice first among the alternatives.
#[tokio::test]
async fn logprobs_come_in_both_forms_whole_and_streamed() {
    let url = start(Setup::default()).await;
    let completion = json!({"model": MODEL, "prompt": "ROMEO:", "max_tokens": 6,
                            "temperature": 0, "logprobs": 2});
    let (status, body) = post(&url, "/v1/completions", completion.clone()).await;
    assert_eq!(status, 200, "{body}");
    let text = body["choices"][0]["text"].as_str().unwrap();
    let logprobs = &body["choices"][0]["logprobs"];
    let tokens: Vec<&str> = (logprobs["tokens"].as_array().unwrap().iter())
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(tokens.concat(), text);
    assert_eq!(logprobs["text_offset"], json!([0, 1, 2, 3, 4, 5]));
    for (at, top) in logprobs["top_logprobs"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let top = top.as_object().unwrap();
        assert!(top.len() <= 2 && top.contains_key(tokens[at]), "{top:?}");
        let chosen = logprobs["token_logprobs"][at].as_f64().unwrap();
        assert!(chosen <= 0.0 && top.values().all(|l| l.as_f64().unwrap() <= chosen + 1e-6));
    }
    let mut streamed = completion;
    streamed["stream"] = json!(true);
    let (_, chunks) = post_stream(&url, "/v1/completions", streamed).await;
    let streamed_tokens: Vec<String> = (chunks.iter())
        .filter_map(|c| serde_json::from_str::<Value>(c).ok())
        .flat_map(|c| {
            let tokens = c["choices"][0]["logprobs"]["tokens"].clone();
            tokens.as_array().cloned().unwrap_or_default()
        })
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    assert_eq!(streamed_tokens, tokens);

    let chat = chat_request(
        &[("user", "hi")],
        json!({"max_tokens": 4, "temperature": 0, "logprobs": true, "top_logprobs": 3}),
    );
    let (status, body) = post(&url, "/v1/chat/completions", chat).await;
    assert_eq!(status, 200, "{body}");
    let content = body["choices"][0]["logprobs"]["content"]
        .as_array()
        .unwrap();
    let reply = body["choices"][0]["message"]["content"].as_str().unwrap();
    // Every generated token is listed: those of the stop sequence that ended the turn (`\n\n`
    // for the plain template) too, though the reply leaves that text out.
    let joined: String = content
        .iter()
        .map(|e| e["token"].as_str().unwrap())
        .collect();
    assert!(joined.starts_with(reply), "{joined:?} vs {reply:?}");
    for entry in content {
        assert_eq!(entry["top_logprobs"].as_array().unwrap().len(), 3);
        assert_eq!(entry["top_logprobs"][0]["token"], entry["token"]);
    }
}

#[tokio::test]
async fn streaming_chat_sends_chunks_then_done() {
    let url = start(Setup::default()).await;
    let plain = post(
        &url,
        "/v1/chat/completions",
        json!({"model": MODEL, "messages": [{"role": "user", "content": "Hi"}],
               "max_tokens": 20, "temperature": 0}),
    )
    .await;
    assert_eq!(plain.0, 200, "{}", plain.1);
    assert_eq!(plain.1["object"], "chat.completion");
    assert_eq!(plain.1["choices"][0]["message"]["role"], "assistant");

    let response = client()
        .post(format!("{url}/v1/chat/completions"))
        .json(
            &json!({"model": MODEL, "messages": [{"role": "user", "content": "Hi"}],
                      "max_tokens": 20, "temperature": 0, "stream": true,
                      "stream_options": {"include_usage": true}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let data = sse_data(&response.text().await.unwrap());
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    // Streaming and non-streaming agree on the text (greedy).
    assert_eq!(
        streamed,
        plain.1["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
    );
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str())
        .expect("a finish_reason");
    assert!(finish == "length" || finish == "stop", "{finish}");
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(
        usage["completion_tokens"],
        plain.1["usage"]["completion_tokens"]
    );
    assert!(
        chunks.last().unwrap()["choices"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn models_health_metrics_and_page() {
    let url = start(Setup::default()).await;
    let models = get_json(&url, "/v1/models").await;
    assert_eq!(models["data"][0]["id"], MODEL);
    let health = client().get(format!("{url}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let page = client()
        .get(format!("{url}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("/v1/chat/completions"),
        "the page talks to the chat endpoint"
    );
    // Max tokens is empty by default (the reply may use the rest of the context), and the page
    // tells when the server dropped old turns.
    let max_tokens_input = page
        .split("<input id=\"max_tokens\"")
        .nth(1)
        .and_then(|rest| rest.split('>').next())
        .expect("a max_tokens input");
    assert!(!max_tokens_input.contains("value="), "{max_tokens_input}");
    assert!(page.contains("truncated_messages"));
    post(
        &url,
        "/v1/completions",
        json!({"model": MODEL, "prompt": "a", "max_tokens": 5}),
    )
    .await;
    assert!(metric(&url, "claude_tokens_generated_total").await >= 5.0);
    assert_eq!(
        metric(&url, "claude_time_to_first_token_seconds_count").await,
        1.0
    );
    assert_eq!(metric(&url, "claude_queue_depth").await, 0.0);
    let text = client()
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("claude_requests_total{route=\"/v1/completions\",status=\"200\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn bad_input_gets_openai_errors_with_the_right_status() {
    let url = start(Setup::default()).await;
    let chat = "/v1/chat/completions";
    let msgs = json!([{"role": "user", "content": "hi"}]);
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("malformed JSON", b"{\"model\": ".to_vec(), 400, "JSON"),
        ("invalid UTF-8", b"{\"model\": \"\xff\xfe\"}".to_vec(), 400, "UTF-8"),
        ("missing messages", json!({"model": MODEL}).to_string().into_bytes(), 400, "messages"),
        ("wrong type", json!({"model": MODEL, "messages": 3}).to_string().into_bytes(), 400, "invalid type"),
        ("unknown field", json!({"model": MODEL, "messages": msgs, "logit_bias": {"1": 5}}).to_string().into_bytes(), 400, "`logit_bias`"),
        ("unknown message field", json!({"model": MODEL, "messages": [{"role": "user", "content": "x", "mood": "sad"}]}).to_string().into_bytes(), 400, "`mood`"),
        ("malformed tool", json!({"model": MODEL, "messages": msgs, "tools": [{"type": "function", "function": {"description": "no name"}}]}).to_string().into_bytes(), 400, "tools[0].function"),
        ("tools on a template without them", json!({"model": MODEL, "messages": msgs, "tools": [{"type": "function", "function": {"name": "f"}}]}).to_string().into_bytes(), 400, "does not take tools"),
        ("a tool result without its call", json!({"model": MODEL, "messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "call_9", "content": "r"}]}).to_string().into_bytes(), 400, "call_9"),
        ("a format on a model that cannot end one", json!({"model": MODEL, "messages": msgs, "response_format": {"type": "json_object"}}).to_string().into_bytes(), 400, "cannot be constrained"),
        ("unknown response format", json!({"model": MODEL, "messages": msgs, "response_format": {"type": "yaml"}}).to_string().into_bytes(), 400, "yaml"),
        ("top_logprobs without logprobs", json!({"model": MODEL, "messages": msgs, "top_logprobs": 3}).to_string().into_bytes(), 400, "top_logprobs"),
        ("too many top_logprobs", json!({"model": MODEL, "messages": msgs, "logprobs": true, "top_logprobs": 21}).to_string().into_bytes(), 400, "top_logprobs"),
        ("unknown model", json!({"model": "gpt-9", "messages": msgs}).to_string().into_bytes(), 404, "gpt-9"),
        ("empty messages", json!({"model": MODEL, "messages": []}).to_string().into_bytes(), 400, "messages"),
        ("negative temperature", json!({"model": MODEL, "messages": msgs, "temperature": -1}).to_string().into_bytes(), 400, "temperature"),
        ("absurd temperature", json!({"model": MODEL, "messages": msgs, "temperature": 1e9}).to_string().into_bytes(), 400, "temperature"),
        ("top_p above 1", json!({"model": MODEL, "messages": msgs, "top_p": 1.5}).to_string().into_bytes(), 400, "top_p"),
        ("negative max_tokens", json!({"model": MODEL, "messages": msgs, "max_tokens": -5}).to_string().into_bytes(), 400, "max_tokens"),
        ("absurd max_tokens", json!({"model": MODEL, "messages": msgs, "max_tokens": 1_000_000_000_000u64}).to_string().into_bytes(), 400, "max_tokens"),
        ("unknown role", json!({"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]}).to_string().into_bytes(), 400, "wizard"),
        ("character outside the vocabulary", json!({"model": MODEL, "messages": [{"role": "user", "content": "{}"}]}).to_string().into_bytes(), 400, "tokenize"),
        ("prompt longer than the context", json!({"model": MODEL, "messages": [{"role": "user", "content": "a".repeat(200)}]}).to_string().into_bytes(), 400, "context length"),
        ("prompt plus max_tokens too long", json!({"model": MODEL, "messages": [{"role": "user", "content": "a".repeat(100)}], "max_tokens": 90}).to_string().into_bytes(), 400, "context length"),
        ("oversized body", json!({"model": MODEL, "messages": [{"role": "user", "content": "a".repeat(5000)}]}).to_string().into_bytes(), 413, "larger"),
    ];
    for (what, body, status, needle) in cases {
        let (got, error) = post_raw(&url, chat, body).await;
        assert_eq!(got, status, "{what}: {error}");
        let message = error["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: {error}"));
        assert!(message.contains(needle), "{what}: {message}");
        assert!(error["error"]["type"].is_string(), "{what}: {error}");
    }
    let (status, _) = post(&url, "/v1/nothing", json!({})).await;
    assert_eq!(status, 404);
    // Still healthy.
    assert_eq!(health_status(&url).await, 200);
}

#[tokio::test]
async fn an_api_key_guards_the_api() {
    let url = start(Setup {
        api_key: Some("sesame".into()),
        ..Setup::default()
    })
    .await;
    let body = json!({"model": MODEL, "prompt": "a", "max_tokens": 2});
    let (status, error) = post(&url, "/v1/completions", body.clone()).await;
    assert_eq!(status, 401);
    assert_eq!(error["error"]["code"], "invalid_api_key");
    let wrong = client()
        .post(format!("{url}/v1/completions"))
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = client()
        .post(format!("{url}/v1/completions"))
        .bearer_auth("sesame")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    // Health stays open for probes.
    assert_eq!(health_status(&url).await, 200);
}

#[tokio::test]
async fn a_panic_in_one_request_does_not_take_the_server_down() {
    // A broken model: its position table has 8 rows, so a longer prompt panics inside burn.
    let url = start(Setup {
        broken_positions: Some(8),
        ..Setup::default()
    })
    .await;
    let (status, error) = post(
        &url,
        "/v1/completions",
        json!({"model": MODEL, "prompt": "a long prompt", "max_tokens": 3}),
    )
    .await;
    assert_eq!(status, 500, "{error}");
    assert_eq!(error["error"]["type"], "server_error");
    let (status, body) = post(
        &url,
        "/v1/completions",
        json!({"model": MODEL, "prompt": "ab", "max_tokens": 3}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(metric(&url, "claude_panics_total").await, 1.0);
}

#[tokio::test]
async fn a_disconnected_client_frees_its_slot() {
    let url = start(Setup {
        max_tokens_cap: 1_000_000,
        overflow: OverflowPolicy::SlidingWindow,
        ..Setup::default()
    })
    .await;
    let response = client()
        .post(format!("{url}/v1/completions"))
        .json(&json!({"model": MODEL, "prompt": "a", "max_tokens": 1_000_000, "stream": true}))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    body.next().await.unwrap().unwrap();
    assert_eq!(metric(&url, "claude_active_sequences").await, 1.0);
    drop(body);
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&url, "claude_active_sequences").await != 0.0 {
        assert!(Instant::now() < deadline, "the slot was never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Far fewer than the requested tokens were generated, and nothing more is.
    let generated = metric(&url, "claude_tokens_generated_total").await;
    assert!(generated < 1_000_000.0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        metric(&url, "claude_tokens_generated_total").await,
        generated
    );
}

#[tokio::test]
async fn a_full_queue_answers_429_with_retry_after() {
    let url = start(Setup {
        engine: EngineConfig {
            max_batch: 1,
            queue_capacity: 1,
            ..EngineConfig::default()
        },
        max_tokens_cap: 1_000_000,
        overflow: OverflowPolicy::SlidingWindow,
        ..Setup::default()
    })
    .await;
    let body = json!({"model": MODEL, "prompt": "a", "max_tokens": 1_000_000, "stream": true});
    let mut busy = None;
    let mut streams = Vec::new();
    for _ in 0..8 {
        let response = client()
            .post(format!("{url}/v1/completions"))
            .json(&body)
            .send();
        let response = tokio::time::timeout(Duration::from_millis(500), response).await;
        match response {
            Ok(Ok(r)) if r.status() == 429 => {
                busy = Some(r);
                break;
            }
            Ok(Ok(r)) => streams.push(r),
            // Queued behind the busy slot: its headers wait for its first token.
            Ok(Err(_)) | Err(_) => {}
        }
    }
    let busy = busy.expect("a 429 once the slot and the queue are taken");
    assert_eq!(busy.headers()["retry-after"], "1");
    let error: Value = busy.json().await.unwrap();
    assert_eq!(error["error"]["code"], "queue_full");
}

#[tokio::test]
async fn concurrent_clients_share_forward_passes() {
    let url = start(Setup::default()).await;
    let requests = (0..8).map(|_| {
        let url = url.clone();
        tokio::spawn(async move {
            post(
                &url,
                "/v1/completions",
                json!({"model": MODEL, "prompt": "a", "max_tokens": 40}),
            )
            .await
        })
    });
    for handle in requests.collect::<Vec<_>>() {
        let (status, body) = handle.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let tokens = metric(&url, "claude_tokens_generated_total").await;
    let steps = metric(&url, "claude_decode_steps_total").await;
    assert_eq!(tokens, 320.0);
    // Serialised, 8 x 39 = 312 decode steps would be needed.
    assert!(
        steps < 200.0,
        "{steps} decode steps for 320 tokens: not batched"
    );
}

/// Requests one load-test client sends at most.
const LOAD_TEST_REQUESTS_PER_CLIENT: u32 = 200;

/// The load test: 64 streaming clients at once for 8 seconds (`CLAUDE_RUST_LOAD_SECS` changes it)
/// and at most [`LOAD_TEST_REQUESTS_PER_CLIENT`] requests each, whichever ends first: every
/// request is answered or cleanly refused, and the server is healthy afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_test_64_clients_every_request_answered_or_refused() {
    let seconds: u64 = std::env::var("CLAUDE_RUST_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let clients = 64;
    let url = start(Setup {
        engine: EngineConfig {
            max_batch: 16,
            queue_capacity: 32,
            ..EngineConfig::default()
        },
        ..Setup::default()
    })
    .await;
    let end = Instant::now() + Duration::from_secs(seconds);
    let workers = (0..clients).map(|i| {
        let url = url.clone();
        tokio::spawn(async move {
            let (mut done, mut refused) = (0u32, 0u32);
            while Instant::now() < end && done + refused < LOAD_TEST_REQUESTS_PER_CLIENT {
                let response = client()
                    .post(format!("{url}/v1/chat/completions"))
                    .json(&json!({"model": MODEL, "stream": true, "max_tokens": 16,
                                  "messages": [{"role": "user", "content": format!("client {}", char::from(b'a' + (i % 26) as u8))}]}))
                    .send()
                    .await
                    .expect("a connection");
                match response.status().as_u16() {
                    200 => {
                        let data = sse_data(&response.text().await.unwrap());
                        assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
                        done += 1;
                    }
                    429 => {
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    other => panic!("status {other}: {}", response.text().await.unwrap()),
                }
            }
            (done, refused)
        })
    });
    let (mut done, mut refused) = (0, 0);
    for worker in workers.collect::<Vec<_>>() {
        let (d, r) = worker.await.expect("a client failed");
        done += d;
        refused += r;
    }
    println!("load test: {clients} clients, {seconds} s: {done} answered, {refused} refused (429)");
    assert!(done > 0);
    assert_eq!(health_status(&url).await, 200);
    assert_eq!(metric(&url, "claude_queue_depth").await, 0.0);
}

/// A short context, as the quick-start model's.
const SHORT_CONTEXT: usize = 64;

fn short_context() -> Setup {
    Setup {
        context: SHORT_CONTEXT,
        ..Setup::default()
    }
}

/// A chat request for `messages` (role, content), with `extra` fields merged in.
fn chat_request(messages: &[(&str, &str)], extra: Value) -> Value {
    let messages: Vec<Value> = messages
        .iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    let mut body = json!({"model": MODEL, "messages": messages, "temperature": 0});
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

/// The plain chat template's prompt for `messages`; with the character tokenizer, its length
/// in characters is its length in tokens.
fn plain_prompt(messages: &[(&str, &str)]) -> String {
    let turns: String = messages
        .iter()
        .map(|(role, text)| format!("{}:\n{text}\n\n", role.to_uppercase()))
        .collect();
    turns + "ASSISTANT:\n"
}

/// A conversation too long for a 64-token context: the system message takes 19 tokens, the
/// turns 28, 33, 18, 16 and 10, and the assistant's cue 11 (135 in all).
const LONG_CHAT: [(&str, &str); 6] = [
    ("system", "Be brief."),
    ("user", "aaaaaaaaaaaaaaaaaaaa"),
    ("assistant", "bbbbbbbbbbbbbbbbbbbb"),
    ("user", "cccccccccc"),
    ("assistant", "ddd"),
    ("user", "Hi"),
];

/// `LONG_CHAT` without its `dropped` oldest turns.
fn long_chat_without(dropped: usize) -> Vec<(&'static str, &'static str)> {
    let mut kept = vec![LONG_CHAT[0]];
    kept.extend_from_slice(&LONG_CHAT[1 + dropped..]);
    kept
}

#[tokio::test]
async fn a_long_chat_drops_its_oldest_turns_to_fit_the_context() {
    let url = start(short_context()).await;
    let chat = "/v1/chat/completions";
    assert!(plain_prompt(&LONG_CHAT).len() > SHORT_CONTEXT);

    // With max_tokens 8 the prompt may have 56 tokens: the three oldest turns go, no more.
    let (status, body) = post(
        &url,
        chat,
        chat_request(&LONG_CHAT, json!({"max_tokens": 8})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["truncated_messages"], 3, "{body}");
    let kept = plain_prompt(&long_chat_without(3)).len();
    assert_eq!(kept, 56);
    assert!(plain_prompt(&long_chat_without(2)).len() + 8 > SHORT_CONTEXT);
    assert_eq!(body["usage"]["prompt_tokens"], kept, "{body}");
    assert!(body["usage"]["completion_tokens"].as_u64().unwrap() <= 8);

    // Without max_tokens, turns go until a quarter of the context (16 tokens) is left for the
    // reply, which may then use all that is left.
    let (status, body) = post(&url, chat, chat_request(&LONG_CHAT, json!({}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["truncated_messages"], 4, "{body}");
    let kept = plain_prompt(&long_chat_without(4)).len();
    assert_eq!(body["usage"]["prompt_tokens"], kept, "{body}");
    assert!(plain_prompt(&long_chat_without(3)).len() + 16 > SHORT_CONTEXT);
    let completion = body["usage"]["completion_tokens"].as_u64().unwrap() as usize;
    assert!(completion <= SHORT_CONTEXT - kept, "{body}");

    // When no number of drops leaves 16 tokens, the fewest that leave one.
    let long_question = "x".repeat(30); // 38 tokens, with the cue 49
    let messages = [
        ("user", "aaaaaaaaaaaaaaaaaaaa"),
        ("assistant", "bbbbbbbbbbbbbbbbbbbb"),
        ("user", long_question.as_str()),
    ];
    let (status, body) = post(&url, chat, chat_request(&messages, json!({}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["truncated_messages"], 2, "{body}");
    assert_eq!(body["usage"]["prompt_tokens"], 49, "{body}");
    // ... and none when the whole conversation leaves one.
    let messages = [("user", "Hi"), ("user", long_question.as_str())];
    let (status, body) = post(&url, chat, chat_request(&messages, json!({}))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("truncated_messages").is_none(), "{body}");
    assert_eq!(body["usage"]["prompt_tokens"], 59, "{body}");

    // A conversation that fits is sent whole, and the field is absent.
    let (status, body) = post(
        &url,
        chat,
        chat_request(&long_chat_without(4), json!({"max_tokens": 8})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("truncated_messages").is_none(), "{body}");
}

#[tokio::test]
async fn a_long_streamed_chat_reports_the_dropped_turns_in_every_chunk() {
    let url = start(short_context()).await;
    let body = chat_request(
        &LONG_CHAT,
        json!({"max_tokens": 8, "stream": true, "stream_options": {"include_usage": true}}),
    );
    let (status, data) = post_stream(&url, "/v1/chat/completions", body).await;
    assert_eq!(status, 200);
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(chunks.len() >= 2, "{chunks:?}");
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk", "{chunk}");
        assert_eq!(chunk["truncated_messages"], 3, "{chunk}");
    }
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(
        usage["prompt_tokens"],
        plain_prompt(&long_chat_without(3)).len()
    );

    // The same conversation, fitting, streams without the field.
    let body = chat_request(
        &long_chat_without(3),
        json!({"max_tokens": 8, "stream": true}),
    );
    let (_, data) = post_stream(&url, "/v1/chat/completions", body).await;
    for chunk in &data[..data.len() - 1] {
        let chunk: Value = serde_json::from_str(chunk).unwrap();
        assert!(chunk.get("truncated_messages").is_none(), "{chunk}");
    }
}

#[tokio::test]
async fn a_latest_message_longer_than_the_context_is_still_refused() {
    let url = start(short_context()).await;
    let chat = "/v1/chat/completions";
    let long = "a".repeat(SHORT_CONTEXT);
    // (case, conversation as (role, content), extra request fields)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Value);
    let cases: Vec<Case> = vec![
        ("alone", vec![("user", long.as_str())], json!({})),
        (
            "after older turns",
            vec![
                ("system", "Be brief."),
                ("user", "Hi"),
                ("assistant", "Hello"),
                ("user", long.as_str()),
            ],
            json!({}),
        ),
        (
            "streamed",
            vec![
                ("user", "Hi"),
                ("assistant", "Hello"),
                ("user", long.as_str()),
            ],
            json!({"stream": true}),
        ),
        // The latest turn fits, but not with the room max_tokens asks for.
        (
            "with max_tokens",
            vec![("user", "Hi"), ("assistant", "Hello"), ("user", "Hi")],
            json!({"max_tokens": 60}),
        ),
    ];
    for (what, messages, extra) in cases {
        let (status, error) = post(&url, chat, chat_request(&messages, extra)).await;
        assert_eq!(status, 400, "{what}: {error}");
        assert_eq!(
            error["error"]["code"], "context_length_exceeded",
            "{what}: {error}"
        );
        let message = error["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("context length is 64"),
            "{what}: {message}"
        );
        if messages.len() > 1 {
            assert!(
                message.contains("earlier messages dropped"),
                "{what}: {message}"
            );
        }
    }
    assert_eq!(health_status(&url).await, 200);
}

#[tokio::test]
async fn a_chat_without_max_tokens_uses_the_rest_of_a_short_context() {
    // The quick-start situation: a 64-token model, a chat page sending no max_tokens.
    let url = start(short_context()).await;
    let messages = [("user", "ROMEO:")];
    let prompt = plain_prompt(&messages).len();
    let (status, body) = post(
        &url,
        "/v1/chat/completions",
        chat_request(&messages, json!({})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["usage"]["prompt_tokens"], prompt);
    let completion = body["usage"]["completion_tokens"].as_u64().unwrap() as usize;
    assert!((1..=SHORT_CONTEXT - prompt).contains(&completion), "{body}");
    assert!(body.get("truncated_messages").is_none(), "{body}");

    let request = chat_request(&messages, json!({"stream": true}));
    let (status, data) = post_stream(&url, "/v1/chat/completions", request).await;
    assert_eq!(status, 200);
    assert_eq!(data.last().unwrap(), "[DONE]");
    let streamed: String = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(String::from)
        })
        .collect();
    assert_eq!(
        streamed,
        body["choices"][0]["message"]["content"].as_str().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_answer_in_openai_format_as_floats_and_base64() {
    let url = start(Setup {
        embedder: true,
        ..Setup::default()
    })
    .await;
    let texts = ["A man is eating food.", "A man is eating a piece of bread."];
    let (status, floats) = post(
        &url,
        "/v1/embeddings",
        json!({"model": "minilm", "input": texts}),
    )
    .await;
    assert_eq!(status, 200, "{floats}");
    assert_eq!(floats["object"], "list");
    assert_eq!(floats["model"], "minilm");
    assert_eq!(floats["usage"]["prompt_tokens"], 19);
    let vector = |item: &Value| -> Vec<f32> {
        item["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect()
    };
    let data = floats["data"].as_array().unwrap();
    assert_eq!(
        (data[0]["index"].as_u64(), data[1]["index"].as_u64()),
        (Some(0), Some(1))
    );
    let (a, b) = (vector(&data[0]), vector(&data[1]));
    assert_eq!(a.len(), 384);
    let cosine: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    assert!((cosine - 0.7553).abs() < 1e-3, "{cosine}");
    // base64: the same values as little-endian f32 bytes; a single string works too.
    let (status, packed) = post(
        &url,
        "/v1/embeddings",
        json!({"model": "minilm", "input": texts[0], "encoding_format": "base64"}),
    )
    .await;
    assert_eq!(status, 200, "{packed}");
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(packed["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    let decoded: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(decoded, a);
    // The models list names the embedding model.
    let models = get_json(&url, "/v1/models").await;
    assert_eq!(models["data"][1]["id"], "minilm");

    let cases = [
        (json!({"model": "minilm", "input": []}), 400, "empty"),
        (
            json!({"model": "minilm", "input": "x", "encoding_format": "int8"}),
            400,
            "encoding_format",
        ),
        (
            json!({"model": "minilm", "input": "x", "dimensions": 100}),
            400,
            "384 dimensions",
        ),
        (json!({"model": "gpt-9", "input": "x"}), 404, "gpt-9"),
        (json!({"model": "minilm", "input": 3}), 400, "invalid"),
        (
            json!({"model": "minilm", "input": "x", "user": "me"}),
            400,
            "`user`",
        ),
    ];
    for (body, status, needle) in cases {
        let (got, error) = post(&url, "/v1/embeddings", body.clone()).await;
        assert_eq!(got, status, "{body}: {error}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");
    }
    // A server without an embedding model says how to start one.
    let plain = start(Setup::default()).await;
    let (got, error) = post(
        &plain,
        "/v1/embeddings",
        json!({"model": "minilm", "input": "x"}),
    )
    .await;
    assert_eq!(got, 400, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--embedding-model")
    );
}
