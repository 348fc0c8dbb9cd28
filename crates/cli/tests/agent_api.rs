//! The agent API (tool calls, structured output, log probabilities, Anthropic's Messages API)
//! driven by the official Python clients against `serve` on the real Qwen2.5 Coder 0.5B Instruct
//! model. The checks are Python scripts in `tests/agent/`, each an assertion per property (read
//! them for what is checked). Skipped where the model or the Python packages are missing, unless
//! CI's `CLAUDE_RUST_REQUIRE_MODELS` / `CLAUDE_RUST_REQUIRE_OPENAI` are set.

use std::path::PathBuf;

use crate::serve::{Server, run_python_for, serve_with};
use crate::support::python_module_available;

/// Qwen served as `qwen`, when the model file and every Python package the scripts import are
/// here.
fn qwen_server() -> Option<Server> {
    let packages = ["openai", "anthropic", "jsonschema", "pydantic"];
    let available = packages
        .iter()
        .all(|package| python_module_available(package, "CLAUDE_RUST_REQUIRE_OPENAI"));
    if !available {
        return None;
    }
    let qwen = claude_files::real_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")?;
    let args = [
        "--model",
        qwen.to_str().unwrap(),
        "--model-name",
        "qwen",
        "--ctx-size",
        "4096",
        "--max-tokens",
        "512",
    ];
    Some(serve_with(&args))
}

/// How long a script may take: tens of requests to a 0.5B model on two cores that the other
/// tests share.
const SCRIPT_SECONDS: u32 = 1200;

/// Runs `tests/agent/NAME` against `server`; its standard output.
fn run_script(server: &Server, name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/agent")
        .join(name);
    let script = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    run_python_for(server, &script, SCRIPT_SECONDS)
}

/// The OpenAI client: a tool-call round trip streamed and not, `chat.completions.parse` with a
/// Pydantic model, log probabilities consistent with greedy choice, named 400s.
#[test]
fn the_openai_client_calls_tools_parses_json_and_reads_logprobs() {
    let Some(server) = qwen_server() else {
        return;
    };
    let stdout = run_script(&server, "openai_tools.py");
    assert!(stdout.contains("bad input: named 400s"), "{stdout}");
}

/// The Anthropic client: a message, a streamed one, `count_tokens`, a tool-use round trip
/// streamed and not, errors in Anthropic's shape.
#[test]
fn the_anthropic_client_sends_messages_and_uses_tools() {
    let Some(server) = qwen_server() else {
        return;
    };
    let stdout = run_script(&server, "anthropic_messages.py");
    assert!(stdout.contains("errors: in Anthropic's shape"), "{stdout}");
}

/// Under a strict JSON schema the output validates on 20 prompts, and `tool_choice: required`
/// always yields calls whose arguments validate.
#[test]
fn constrained_output_validates_on_twenty_prompts() {
    let Some(server) = qwen_server() else {
        return;
    };
    let stdout = run_script(&server, "schema_prompts.py");
    assert_eq!(stdout.matches("record: ").count(), 20, "{stdout}");
    assert!(stdout.contains("required calls:"), "{stdout}");
}
