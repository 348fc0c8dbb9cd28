//! `claude-rust serve` end to end: train a tiny model, start the real binary on a free loopback
//! port, talk HTTP to it (a streaming chat completion, as curl would), and drive the chat page in
//! headless Chromium.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{bin, python_module_available, tiny_config};

/// Trains a tiny character model (context 32) for 20 steps and returns its last checkpoint.
fn tiny_checkpoint(dir: &Path) -> PathBuf {
    let config = tiny_config(dir, |c| {
        c.model.context_length = 32;
        c.schedule.decay_steps = Some(20);
        (c.train.max_steps, c.train.grad_accum) = (20, 1);
        (c.train.eval_interval, c.train.eval_iters) = (20, 1);
        c.train.checkpoint_interval = 20;
    });
    let out = dir.join("shakespeare");
    let status = bin()
        .args(["train", "--no-tui", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    out.join("checkpoints/step-00000020")
}

/// A running server, killed on drop.
pub struct Server {
    child: Child,
    /// `host:port`.
    pub address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `claude-rust serve` on `checkpoint` (any model file) on a free port.
pub fn serve(checkpoint: &Path, extra: &[&str]) -> Server {
    let model = ["--checkpoint", checkpoint.to_str().unwrap()];
    serve_with(&[&model[..], &["--context-overflow", "sliding"], extra].concat())
}

/// Starts `claude-rust serve ARGS` on a free port.
pub fn serve_with(args: &[&str]) -> Server {
    let mut child = bin()
        .arg("serve")
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .split("http://")
        .nth(1)
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .trim()
        .to_string();
    Server { child, address }
}

/// A plain HTTP/1.1 exchange: (status, body).
pub fn http(
    address: &str,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

#[test]
fn serve_streams_a_chat_completion_to_a_plain_http_client() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = tiny_checkpoint(dir.path());
    let server = serve(&checkpoint, &["--api-key", "sesame"]);
    let body = r#"{"model": "shakespeare", "stream": true, "max_tokens": 40,
                   "messages": [{"role": "user", "content": "Who art thou?"}]}"#;
    let (status, _) = http(&server.address, "POST", "/v1/chat/completions", &[], body);
    assert_eq!(status, 401);
    let auth = ["Authorization: Bearer sesame"];
    let (status, stream) = http(&server.address, "POST", "/v1/chat/completions", &auth, body);
    assert_eq!(status, 200, "{stream}");
    assert!(stream.contains("chat.completion.chunk"), "{stream}");
    assert!(stream.contains("\"finish_reason\":\""), "{stream}");
    let done = stream.find("data: [DONE]").expect("data: [DONE]");
    assert!(
        !stream[done..].contains("chat.completion.chunk"),
        "{stream}"
    );
    let (status, health) = http(&server.address, "GET", "/health", &[], "");
    assert_eq!(status, 200, "{health}");
}

/// The DOM of `url` after headless Chromium ran its scripts (15 s of virtual time); `None`
/// where Chromium is absent, unless `CLAUDE_RUST_REQUIRE_CHROMIUM` is set (CI installs it and
/// sets it).
pub fn page_dom(url: &str) -> Option<String> {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        assert!(
            std::env::var_os("CLAUDE_RUST_REQUIRE_CHROMIUM").is_none(),
            "CLAUDE_RUST_REQUIRE_CHROMIUM is set but /usr/bin/chromium is missing"
        );
        eprintln!("skipped: /usr/bin/chromium not installed");
        return None;
    }
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new("timeout")
        .arg("120")
        .arg(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=15000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        dom.contains("data-state=\"done\""),
        "page did not finish:\n{dom}"
    );
    Some(dom)
}

/// The chat page in headless Chromium: it loads the model list, sends `?prompt=` and streams
/// the reply.
#[test]
fn the_chat_page_streams_a_reply_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = tiny_checkpoint(dir.path());
    let server = serve(&checkpoint, &[]);
    let Some(dom) = page_dom(&format!("http://{}/?prompt=ROMEO", server.address)) else {
        return;
    };
    let reply = dom
        .rsplit("class=\"message assistant\"")
        .next()
        .and_then(|rest| rest.split_once('>'))
        .map(|(_, text)| text.split("</div>").next().unwrap_or(""))
        .unwrap_or("");
    assert!(!reply.is_empty(), "empty assistant reply:\n{dom}");
    assert!(
        dom.contains("finish_reason: "),
        "no finish reason shown:\n{dom}"
    );
}

/// Whether python3 can import the `openai` package; where it cannot, tests using it are
/// skipped unless `CLAUDE_RUST_REQUIRE_OPENAI` is set (CI installs it and sets it).
pub fn openai_client_available() -> bool {
    python_module_available("openai", "CLAUDE_RUST_REQUIRE_OPENAI")
}

/// Runs a Python `script` with `BASE_URL` set to the server's `/v1`; its standard output.
pub fn run_python(server: &Server, script: &str) -> String {
    run_python_for(server, script, 300)
}

/// [`run_python`] with a time limit of `seconds` (scripts of many requests on a real model, on
/// two cores shared with the other tests, need more than the default).
pub fn run_python_for(server: &Server, script: &str, seconds: u32) -> String {
    let output = Command::new("timeout")
        .args([&seconds.to_string(), "python3", "-c", script])
        .env("BASE_URL", format!("http://{}/v1", server.address))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The official OpenAI Python client against a GGUF model: `models.list` names it and the
/// embedding model, `chat.completions.create` (plain and streamed) answers with the model's chat
/// template, and `embeddings.create` (base64, the client's default, and float) gives
/// all-MiniLM-L6-v2's vectors.
/// Skipped where the `openai` package is absent unless `CLAUDE_RUST_REQUIRE_OPENAI` is set (CI
/// installs it and sets it).
#[test]
fn the_openai_python_client_chats_with_a_gguf_model() {
    if !openai_client_available() {
        return;
    }
    let model = claude_files::shared_data_dir()
        .join("models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf");
    let minilm = claude_files::shared_data_dir().join("models/all-minilm-l6-v2");
    let server = serve(
        &model,
        &[
            "--ctx-size",
            "2048",
            "--model-name",
            "smollm2",
            "--embedding-model",
            minilm.to_str().unwrap(),
        ],
    );
    let script = r#"
import os, openai
client = openai.OpenAI(base_url=os.environ["BASE_URL"], api_key="unused")
print("models:", [m.id for m in client.models.list().data])
question = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
reply = client.chat.completions.create(model="smollm2", messages=question, temperature=0, max_tokens=16)
print("reply:", reply.choices[0].message.content, reply.choices[0].finish_reason, reply.usage.completion_tokens)
stream = client.chat.completions.create(model="smollm2", messages=question, temperature=0, max_tokens=16, stream=True)
print("streamed:", "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices))
pair = client.embeddings.create(model="all-minilm-l6-v2", input=["A man is eating food.", "A man is eating a piece of bread."])
a, b = (d.embedding for d in pair.data)
one = client.embeddings.create(model="all-minilm-l6-v2", input="A man is eating food.", encoding_format="float")
print("embeddings:", len(a), round(sum(x * y for x, y in zip(a, b)), 4), pair.usage.prompt_tokens,
      max(abs(x - y) for x, y in zip(a, one.data[0].embedding)))
"#;
    let stdout = run_python(&server, script);
    assert!(
        stdout.contains("models: ['smollm2', 'all-minilm-l6-v2']"),
        "{stdout}"
    );
    // 384 values; the published cosine of this pair; 8 + 11 tokens; base64 decodes to the floats.
    assert!(stdout.contains("embeddings: 384 0.7553 19 0.0"), "{stdout}");
    let reply = stdout.lines().find(|l| l.starts_with("reply:")).unwrap();
    let streamed = stdout.lines().find(|l| l.starts_with("streamed:")).unwrap();
    assert!(reply.contains("Paris"), "{stdout}");
    assert!(streamed.contains("Paris"), "{stdout}");
}

/// `serve --embedder DIR` without a language model: embeddings in OpenAI's format, the model
/// list naming only the embedder, and generation requests refused by name.
#[test]
fn serve_answers_embeddings_alone() {
    let minilm = claude_files::shared_data_dir().join("models/all-minilm-l6-v2");
    let server = serve_with(&["--embedder", minilm.to_str().unwrap()]);
    let body = r#"{"model": "all-minilm-l6-v2", "input": ["A man is eating food."]}"#;
    let (status, reply) = http(&server.address, "POST", "/v1/embeddings", &[], body);
    assert_eq!(status, 200, "{reply}");
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["data"][0]["embedding"].as_array().unwrap().len(), 384);
    let (_, models) = http(&server.address, "GET", "/v1/models", &[], "");
    let models: serde_json::Value = serde_json::from_str(&models).unwrap();
    let ids: Vec<&str> = (models["data"].as_array().unwrap().iter())
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["all-minilm-l6-v2"]);
    let chat = r#"{"model": "all-minilm-l6-v2", "messages": [{"role": "user", "content": "hi"}]}"#;
    let (status, reply) = http(&server.address, "POST", "/v1/chat/completions", &[], chat);
    assert_eq!(status, 400, "{reply}");
    assert!(reply.contains("serves embeddings only"), "{reply}");
    let (status, health) = http(&server.address, "GET", "/health", &[], "");
    assert_eq!(status, 200, "{health}");

    let output = bin().args(["serve", "--port", "0"]).output().unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("--model is required"), "{err}");
}

/// `serve --model` on each real Q4_K_M model (`fetch-models.sh`), driven by the official OpenAI
/// client: Qwen2.5 Coder Instruct answers a chat turn through its own template and stops at its
/// end-of-turn token (`<|im_end|>`: finish reason `stop`, well before the token limit), streamed
/// and not; Gemma 3 270M (a base model without a template) answers a completion. Skipped where
/// the models or the `openai` package are missing, unless CI's `CLAUDE_RUST_REQUIRE_*` are set.
#[test]
fn the_openai_client_chats_with_the_real_models() {
    if !openai_client_available() {
        return;
    }
    let Some(qwen) = claude_files::real_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf") else {
        return;
    };
    let Some(gemma) = claude_files::real_model("gemma-3-270m-q4_k_m.gguf") else {
        return;
    };
    let server = serve(&qwen, &["--ctx-size", "2048", "--model-name", "qwen"]);
    let script = r#"
import os, openai
client = openai.OpenAI(base_url=os.environ["BASE_URL"], api_key="unused")
question = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
reply = client.chat.completions.create(model="qwen", messages=question, temperature=0, max_tokens=64)
print("reply:", repr(reply.choices[0].message.content), reply.choices[0].finish_reason, reply.usage.completion_tokens)
stream = client.chat.completions.create(model="qwen", messages=question, temperature=0, max_tokens=64, stream=True)
chunks = [c for c in stream if c.choices]
print("streamed:", repr("".join(c.choices[0].delta.content or "" for c in chunks)), chunks[-1].choices[0].finish_reason)
"#;
    let stdout = run_python(&server, script);
    let line = |prefix: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap()
            .to_string()
    };
    let (reply, streamed) = (line("reply:"), line("streamed:"));
    assert!(
        reply.contains("Paris") && reply.contains(" stop "),
        "{stdout}"
    );
    assert!(
        !reply.contains("im_end"),
        "the end-of-turn token leaked: {stdout}"
    );
    assert!(
        streamed.contains("Paris") && streamed.ends_with(" stop"),
        "{stdout}"
    );
    drop(server);

    let server = serve(&gemma, &["--ctx-size", "2048", "--model-name", "gemma"]);
    let script = r#"
import os, openai
client = openai.OpenAI(base_url=os.environ["BASE_URL"], api_key="unused")
reply = client.completions.create(model="gemma", prompt="The capital of France is", temperature=0, max_tokens=8)
print("completion:", repr(reply.choices[0].text), reply.choices[0].finish_reason)
"#;
    let stdout = run_python(&server, script);
    // llama.cpp's greedy continuation of this prompt begins " the capital of the country".
    assert!(
        stdout.contains("completion: ' the capital of the country"),
        "{stdout}"
    );
}
