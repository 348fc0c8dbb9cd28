//! A tool-using agent over our OpenAI-compatible server: the model is given a `calculate` tool,
//! decides to call it, our code runs the call and sends the result back, and the model answers
//! from it. Everything between the agent and the model is plain JSON over HTTP, in OpenAI's wire
//! format, so any OpenAI client (or `curl`) could take the agent's place.
//!
//! Run with:
//!
//! ```text
//! cargo run --release --example agent
//! ```
//!
//! It starts the server in-process on a free port of 127.0.0.1, serving Qwen2.5 Coder 0.5B
//! Instruct from `$CLAUDE_RUST_MODELS/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf` (the folder
//! defaults to `~/.cache/claude-rust/models`; `../shared/scripts/fetch-models.sh qwen` fetches
//! the file there), and asks "What is 1234 * 5678 + 42?". It prints
//!
//! ```text
//! serving ~/.cache/claude-rust/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf on http://127.0.0.1:36221/v1 (loaded in 0.6 s)
//! user: What is 1234 * 5678 + 42?
//! round 1: the model calls calculate({"expression": "(1234 * 5678) + 42"}) (4.8 s)
//!          result: 7006694
//! round 2: the model answers (6.5 s)
//! answer: 1234 * 5678 + 42 equals 7006694.
//! ```
//!
//! (seconds on two CPU cores; the model chose the expression, our code computed it).
//!
//! Options: `--model FILE.gguf` serves another model, `--question "..."` asks something else,
//! `--url http://HOST:PORT/v1` talks to an already running `claude-rust serve --model
//! FILE.gguf` instead of starting a server (with `CLAUDE_RUST_API_KEY` set, it is sent as the
//! bearer key), and `--show-json` prints every request and response body.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use burn::prelude::*;
use clap::Parser;
use claude_rust::inference::engine::{EngineConfig, spawn_engine};
use claude_rust::inference::open;
use claude_rust::server::{AppState, ServerConfig, serve};
use serde_json::{Value, json};

/// The model the example serves unless told otherwise.
const DEFAULT_MODEL: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";

/// Requests to the model before the agent gives up: each round is one call of the model, which
/// either calls tools (and the loop goes on) or answers (and it ends).
const MAX_ROUNDS: usize = 5;

/// What the agent says after the tool results; see where it is sent.
const FOLLOW_UP: &str = "Using that result, answer my question in one sentence.";

/// A tool-using agent over the OpenAI-compatible chat API.
#[derive(Parser)]
struct Args {
    /// The GGUF model to serve in-process (default:
    /// `$CLAUDE_RUST_MODELS/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf`).
    #[arg(long, conflicts_with = "url")]
    model: Option<PathBuf>,
    /// Use a running server instead, by its base URL (`http://HOST:PORT/v1`).
    #[arg(long)]
    url: Option<String>,
    /// The user's question.
    #[arg(long, default_value = "What is 1234 * 5678 + 42?")]
    question: String,
    /// Print every request and response body.
    #[arg(long)]
    show_json: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;

    // 1. The server: a running one (`--url`), or ours, started here on a free port.
    let base_url = match &args.url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let model = args.model.clone().unwrap_or_else(default_model);
            let started = Instant::now();
            let state = load(&model)?;
            // Port 0: the system picks a free port; the listener says which. The server runs as
            // a task of the runtime, beside the agent, until the program ends.
            let listener = runtime
                .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
                .context("binding 127.0.0.1")?;
            let address = listener.local_addr()?;
            runtime.spawn(serve(listener, state));
            eprintln!(
                "serving {} on http://{address}/v1 (loaded in {:.1} s)",
                model.display(),
                started.elapsed().as_secs_f64()
            );
            format!("http://{address}/v1")
        }
    };

    // 2. The agent: it only knows the URL. Ctrl-C stops it (the in-process server listens for
    //    Ctrl-C too, to shut down; the agent must not wait on it).
    let agent = Agent {
        client: reqwest::Client::new(),
        base_url,
        api_key: std::env::var("CLAUDE_RUST_API_KEY")
            .ok()
            .filter(|key| !key.is_empty() && args.url.is_some()),
        show_json: args.show_json,
    };
    let result = runtime.block_on(async {
        tokio::select! {
            answer = agent.run(&args.question) => answer,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    // Don't wait for the server's task: it ends with the program.
    runtime.shutdown_background();
    let answer = result?;
    println!("answer: {answer}");
    Ok(())
}

/// `$CLAUDE_RUST_MODELS/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf`, the folder defaulting to
/// `~/.cache/claude-rust/models` (where `fetch-models.sh` puts it).
fn default_model() -> PathBuf {
    let folder = std::env::var_os("CLAUDE_RUST_MODELS").map_or_else(
        || {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/claude-rust/models")
        },
        PathBuf::from,
    );
    folder.join(DEFAULT_MODEL)
}

/// Loads the model at `path` and starts its engine: the state of a server in front of it, as
/// `claude-rust serve --model FILE --ctx-size 4096 --max-tokens 512` builds it.
fn load(path: &std::path::Path) -> anyhow::Result<AppState> {
    anyhow::ensure!(
        path.is_file(),
        "no model at {} (fetch it with ../shared/scripts/fetch-models.sh qwen, or pass \
         --model FILE.gguf, or --url of a running server)",
        path.display()
    );
    // The file holds the weights, the tokenizer and the chat template. The template matters
    // here: Qwen's renders the `tools` of a request into the system prompt and tool results as
    // `<tool_response>` turns, the format the model was trained on.
    let device = Device::flex();
    let opened = open(path, None, &device)
        .with_context(|| format!("opening the model {}", path.display()))?;
    let chat_template = opened.chat_template.clone();
    // 4096 positions: room for the tool definitions, a few rounds and the replies, and a key/value
    // memory of a few tens of MB instead of the model's full 32768.
    let generator = opened
        .into_generator(&device)
        .with_context_limit(Some(4096));
    let name = path.file_stem().map_or_else(
        || "model".into(),
        |stem| stem.to_string_lossy().into_owned(),
    );
    let mut config = ServerConfig::new(name, generator.context_length());
    config.chat_template = chat_template;
    config.max_tokens_cap = 512;
    let tokenizer = generator.tokenizer().clone();
    // The engine owns the model on a thread of its own and decodes the requests in flight
    // together; the handle is how the HTTP handlers reach it.
    let (engine, _thread) = spawn_engine(
        generator,
        EngineConfig {
            max_batch: 4,
            queue_capacity: 16,
            request_timeout: Duration::from_secs(300),
        },
    );
    Ok(AppState::new(config, tokenizer, engine))
}

/// The agent's side: an HTTP client and where the server is.
struct Agent {
    client: reqwest::Client,
    base_url: String,
    api_key: Option<String>,
    show_json: bool,
}

impl Agent {
    /// Asks `question` with the `calculate` tool until the model answers: its answer.
    async fn run(&self, question: &str) -> anyhow::Result<String> {
        // The server names its model in `GET /v1/models`; requests must name it.
        let models = self.send(self.client.get(self.url("/models"))).await?;
        let model = models["data"][0]["id"]
            .as_str()
            .context("the server lists no model")?
            .to_string();

        // The tool, as OpenAI's API describes one: a name, what it is for (the model reads
        // this), and its arguments as a JSON schema.
        let tools = json!([{
            "type": "function",
            "function": {
                "name": "calculate",
                "description": "Evaluate an arithmetic expression and return its exact value. \
                                Supports + - * / and parentheses on integers and decimals.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "expression": {
                            "type": "string",
                            "description": "The expression, such as (2 + 3) * 4.5"
                        }
                    },
                    "required": ["expression"]
                }
            }
        }]);
        // The conversation: the agent keeps all of it and sends all of it each round (the server
        // keeps nothing between requests).
        let mut messages = vec![
            json!({
                "role": "system",
                "content": "You are a careful assistant. Language models get arithmetic wrong: \
                            for any calculation, call the calculate tool with the whole \
                            expression, written with + - * / and parentheses, and answer with \
                            the value it returns.",
            }),
            json!({"role": "user", "content": question}),
        ];
        println!("user: {question}");

        for round in 1..=MAX_ROUNDS {
            // `temperature: 0` picks the likeliest token each time: the same run every time.
            let request = json!({
                "model": model,
                "messages": messages,
                "tools": tools,
                "temperature": 0,
                "max_tokens": 256,
            });
            let started = Instant::now();
            let reply = self
                .send(
                    self.client
                        .post(self.url("/chat/completions"))
                        .json(&request),
                )
                .await?;
            let seconds = started.elapsed().as_secs_f64();
            let choice = &reply["choices"][0];
            let message = &choice["message"];

            // `finish_reason` says what the model did: `tool_calls` when it called tools (the
            // message's `content` is then `null` and its `tool_calls` lists the calls), `stop`
            // when it answered in text, `length` when it ran out of tokens.
            if choice["finish_reason"] != "tool_calls" {
                let content = message["content"].as_str().unwrap_or_default().trim();
                anyhow::ensure!(
                    !content.is_empty(),
                    "round {round}: the model neither called a tool nor answered \
                     (finish_reason {})",
                    choice["finish_reason"]
                );
                println!("round {round}: the model answers ({seconds:.1} s)");
                return Ok(content.to_string());
            }

            // The model called tools. Its message goes back into the conversation exactly as it
            // came (the calls' ids included), then one `tool` message per call with its result,
            // naming the call it answers.
            messages.push(message.clone());
            let calls = message["tool_calls"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for call in &calls {
                let name = call["function"]["name"].as_str().unwrap_or_default();
                // `arguments` is a string holding JSON (OpenAI's format), not a JSON object.
                let arguments = call["function"]["arguments"].as_str().unwrap_or_default();
                println!("round {round}: the model calls {name}({arguments}) ({seconds:.1} s)");
                let result = run_tool(name, arguments);
                println!("         result: {result}");
                messages.push(json!({
                    "role": "tool",
                    "tool_call_id": call["id"],
                    "content": result,
                }));
            }
            // Small models need a nudge: with a tool's result as the last message, Qwen2.5 Coder
            // 0.5B calls the tool again instead of answering (and again, until the rounds run
            // out). A user turn after the results asking for the answer makes it answer. Larger
            // models answer from the results by themselves; for them this turn is harmless.
            messages.push(json!({"role": "user", "content": FOLLOW_UP}));
        }
        anyhow::bail!("no answer after {MAX_ROUNDS} rounds: the model kept calling tools")
    }

    /// The endpoint at `path` under the base URL.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends `request` and returns the response's JSON body; an error status is an error
    /// carrying the server's message.
    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let request = match &self.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
        .build()?;
        if self.show_json {
            eprintln!(">>> {} {}", request.method(), request.url());
            if let Some(body) = request.body().and_then(|body| body.as_bytes()) {
                eprintln!("{}", String::from_utf8_lossy(body));
            }
        }
        let url = request.url().clone();
        let response = self
            .client
            .execute(request)
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let body = response.text().await?;
        if self.show_json {
            eprintln!("<<< {status}\n{body}");
        }
        anyhow::ensure!(status.is_success(), "{url} answered {status}: {body}");
        serde_json::from_str(&body).with_context(|| format!("{url} answered with bad JSON"))
    }
}

/// Runs the tool `name` on `arguments` (a JSON object in a string): the text the model gets
/// back. Whatever goes wrong is said in that text too, for the model to read (and perhaps try
/// again): a tool error must not stop the agent.
fn run_tool(name: &str, arguments: &str) -> String {
    if name != "calculate" {
        return format!("error: there is no tool named `{name}`; the only tool is `calculate`");
    }
    let arguments: Value = match serde_json::from_str(arguments) {
        Ok(arguments) => arguments,
        Err(e) => return format!("error: the arguments are not JSON ({e})"),
    };
    let Some(expression) = arguments["expression"].as_str() else {
        return "error: `expression` (a string) is required".to_string();
    };
    match evaluate(expression) {
        Ok(value) => format_number(value),
        Err(e) => format!("error: cannot evaluate `{expression}`: {e}"),
    }
}

/// `value` as a person writes it: integers without a decimal point.
fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        value.to_string()
    }
}

/// The value of an arithmetic expression: numbers (`12`, `3.5`, `.5`), `+ - * /` with the usual
/// precedence, unary minus, and parentheses. `×` and `÷` are read as `*` and `/` (models write
/// them). Anything else is an error that says what and where, never a panic.
fn evaluate(expression: &str) -> Result<f64, String> {
    let mut parser = Calculator {
        chars: expression.chars().collect(),
        at: 0,
        depth: 0,
    };
    let value = parser.sum()?;
    parser.skip_spaces();
    if let Some(c) = parser.peek() {
        return Err(parser.unexpected(c));
    }
    if value.is_finite() {
        Ok(value)
    } else {
        Err("the result is too large".to_string())
    }
}

/// A recursive-descent parser that computes as it reads: one method per precedence level,
/// `sum` (+ -) over `product` (* /) over `factor` (a number, a sign, parentheses).
struct Calculator {
    chars: Vec<char>,
    at: usize,
    /// Parentheses open now: bounded, so deep nesting is an error, not a stack overflow.
    depth: usize,
}

impl Calculator {
    fn sum(&mut self) -> Result<f64, String> {
        let mut value = self.product()?;
        loop {
            match self.next_operator(&['+', '-']) {
                Some('+') => value += self.product()?,
                Some(_) => value -= self.product()?,
                None => return Ok(value),
            }
        }
    }

    fn product(&mut self) -> Result<f64, String> {
        let mut value = self.factor()?;
        loop {
            match self.next_operator(&['*', '×', '/', '÷']) {
                Some('*' | '×') => value *= self.factor()?,
                Some(_) => {
                    let divisor = self.factor()?;
                    if divisor == 0.0 {
                        return Err("division by zero".to_string());
                    }
                    value /= divisor;
                }
                None => return Ok(value),
            }
        }
    }

    fn factor(&mut self) -> Result<f64, String> {
        self.skip_spaces();
        match self.peek() {
            Some('-') => {
                self.at += 1;
                Ok(-self.factor()?)
            }
            Some('+') => {
                self.at += 1;
                self.factor()
            }
            Some('(') => {
                if self.depth == 64 {
                    return Err("parentheses nested too deeply".to_string());
                }
                self.at += 1;
                self.depth += 1;
                let value = self.sum()?;
                self.skip_spaces();
                if self.peek() != Some(')') {
                    return Err(match self.peek() {
                        Some(c) => self.unexpected(c),
                        None => "a `(` is never closed".to_string(),
                    });
                }
                self.at += 1;
                self.depth -= 1;
                Ok(value)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => self.number(),
            Some(c) => Err(self.unexpected(c)),
            None => Err("a number is missing at the end".to_string()),
        }
    }

    fn number(&mut self) -> Result<f64, String> {
        let start = self.at;
        while matches!(self.peek(), Some(c) if c.is_ascii_digit() || c == '.') {
            self.at += 1;
        }
        let text: String = self.chars[start..self.at].iter().collect();
        text.parse()
            .map_err(|_| format!("`{text}` at character {} is not a number", start + 1))
    }

    /// The next character if it is one of `operators` (consumed), after spaces.
    fn next_operator(&mut self, operators: &[char]) -> Option<char> {
        self.skip_spaces();
        let c = self.peek().filter(|c| operators.contains(c))?;
        self.at += 1;
        Some(c)
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn unexpected(&self, c: char) -> String {
        format!(
            "unexpected `{c}` at character {}; only numbers, + - * / and parentheses are allowed",
            self.at + 1
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluates_arithmetic() {
        assert_eq!(evaluate("1234 * 5678 + 42"), Ok(7006694.0));
        assert_eq!(evaluate("1234 × 5678 + 42"), Ok(7006694.0));
        assert_eq!(evaluate("-(2 + 3) * 4.5 / .5"), Ok(-45.0));
        assert_eq!(evaluate("7 ÷ 2"), Ok(3.5));
        assert_eq!(
            run_tool("calculate", r#"{"expression": "10 - 2 - 3"}"#),
            "5"
        );
    }

    #[test]
    fn explains_what_it_cannot_evaluate() {
        assert!(
            evaluate("2 ^ 3")
                .unwrap_err()
                .contains("unexpected `^` at character 3")
        );
        assert!(
            evaluate("1 / (2 - 2)")
                .unwrap_err()
                .contains("division by zero")
        );
        assert!(evaluate("(1 + 2").unwrap_err().contains("never closed"));
        assert!(evaluate("1..2").unwrap_err().contains("not a number"));
        assert!(evaluate(&"(".repeat(10_000)).is_err());
        assert!(run_tool("calculate", "{}").starts_with("error:"));
        assert!(run_tool("search", "{}").starts_with("error:"));
    }
}
