//! Retrieval-augmented chat end to end: `serve --model SmolLM2.gguf --index INDEX` answers a
//! question about a fact only an indexed document holds, cites it, and returns its sources, to
//! plain HTTP (streamed and not), the OpenAI Python client and the chat page.

use std::path::PathBuf;

use crate::index::{documents, minilm};
use crate::serve::{http, openai_client_available, page_dom, run_python, serve};
use crate::support::{bin, succeeded};

fn smollm2() -> PathBuf {
    claude_files::shared_data_dir()
        .join("models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf")
}

const QUESTION: &str = "What is the door code of the Zorblax vault?";

#[test]
fn a_served_chat_model_answers_from_the_index_and_returns_its_sources() {
    let dir = tempfile::tempdir().unwrap();
    documents(dir.path());
    // Relative sources (`docs/vault.md`): the prompt, which names them, is the same every run,
    // and so is the greedy answer.
    let index = dir.path().join("index");
    let built = bin()
        .current_dir(dir.path())
        .args([
            "index",
            "build",
            "--docs",
            "docs",
            "--out",
            "index",
            "--embedding-model",
        ])
        .arg(minilm())
        .output()
        .unwrap();
    succeeded(built);
    let server = serve(
        &smollm2(),
        &[
            "--ctx-size",
            "2048",
            "--model-name",
            "smollm2",
            "--index",
            index.to_str().unwrap(),
        ],
    );
    let vault = "docs/vault.md".to_string();
    let ask = |extra: &str| {
        format!(
            r#"{{"model": "smollm2", "temperature": 0, "max_tokens": 80, {extra}
                "messages": [{{"role": "user", "content": "{QUESTION}"}}]}}"#
        )
    };

    let (status, body) = http(
        &server.address,
        "POST",
        "/v1/chat/completions",
        &[],
        &ask(""),
    );
    assert_eq!(status, 200, "{body}");
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    let answer = reply["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(answer.contains("7391"), "{answer}");
    let sources = reply["sources"].as_array().expect("sources");
    assert_eq!(sources[0]["index"], 1);
    assert_eq!(sources[0]["source"], vault.as_str());
    assert!(sources[0]["text"].as_str().unwrap().contains("7391"));
    assert!(sources.len() <= 4);
    // The chunks are in the prompt.
    assert!(
        reply["usage"]["prompt_tokens"].as_u64().unwrap() > 100,
        "{body}"
    );

    // Streamed: the sources come in the first chunk.
    let (status, stream) = http(
        &server.address,
        "POST",
        "/v1/chat/completions",
        &[],
        &ask(r#""stream": true,"#),
    );
    assert_eq!(status, 200, "{stream}");
    let first = stream.lines().find(|l| l.starts_with("data: {")).unwrap();
    let first: serde_json::Value = serde_json::from_str(&first[6..]).unwrap();
    assert_eq!(first["sources"][0]["source"], vault.as_str(), "{stream}");
    assert!(stream.contains("7391"), "{stream}");

    // Turned off, or asked differently, per request.
    let (_, body) = http(
        &server.address,
        "POST",
        "/v1/chat/completions",
        &[],
        &ask(r#""retrieval": false,"#),
    );
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(reply.get("sources").is_none(), "{body}");
    let (_, body) = http(
        &server.address,
        "POST",
        "/v1/chat/completions",
        &[],
        &ask(r#""retrieval": {"k": 1, "mode": "bm25"},"#),
    );
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["sources"].as_array().unwrap().len(), 1, "{body}");
    let (status, body) = http(
        &server.address,
        "POST",
        "/v1/chat/completions",
        &[],
        &ask(r#""retrieval": {"mode": "fuzzy"},"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("retrieval.mode") && body.contains("not one of dense"),
        "{body}"
    );

    // The index's embedder also serves /v1/embeddings.
    let (status, models) = http(&server.address, "GET", "/v1/models", &[], "");
    assert_eq!(status, 200);
    assert!(models.contains("all-minilm-l6-v2"), "{models}");

    if openai_client_available() {
        let script = format!(
            r#"
import os, openai
client = openai.OpenAI(base_url=os.environ["BASE_URL"], api_key="unused")
question = [{{"role": "user", "content": "{QUESTION}"}}]
reply = client.chat.completions.create(model="smollm2", messages=question, temperature=0, max_tokens=80)
print("reply:", reply.choices[0].message.content)
print("source:", reply.model_extra["sources"][0]["source"])
plain = client.chat.completions.create(model="smollm2", messages=question, temperature=0, max_tokens=80,
                                       extra_body={{"retrieval": False}})
print("without:", "sources" in (plain.model_extra or {{}}))
"#
        );
        let stdout = run_python(&server, &script);
        assert!(stdout.contains("7391"), "{stdout}");
        assert!(stdout.contains(&format!("source: {vault}")), "{stdout}");
        assert!(stdout.contains("without: False"), "{stdout}");
    }

    // The chat page lists the sources under the reply.
    let url = format!(
        "http://{}/?prompt={}",
        server.address,
        QUESTION.replace(' ', "%20")
    );
    if let Some(dom) = page_dom(&url) {
        assert!(dom.contains("class=\"sources\""), "{dom}");
        assert!(dom.contains(&format!("{vault} (bytes 0..")), "{dom}");
    }
}
