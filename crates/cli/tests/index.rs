//! `claude-rust index build|add|remove|query` end to end with all-MiniLM-L6-v2, and a change
//! killed halfway leaving the index as it was.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use crate::support::{bin, failed, fails, ok, run, succeeded};

pub fn minilm() -> PathBuf {
    claude_files::shared_data_dir().join("models/all-minilm-l6-v2")
}

/// A folder of three documents with facts found nowhere else.
pub fn documents(dir: &Path) -> PathBuf {
    let docs = dir.join("docs");
    std::fs::create_dir_all(docs.join("notes")).unwrap();
    std::fs::write(
        docs.join("vault.md"),
        "# The Zorblax vault\n\nThe door code of the Zorblax vault is 7391. Only the night \
         keeper, Mirela Voss, may open the vault after sunset.\n",
    )
    .unwrap();
    std::fs::write(
        docs.join("garden.txt"),
        "The botanical garden grows forty kinds of orchids in its glasshouse, watered with \
         rainwater collected on the roof.\n",
    )
    .unwrap();
    std::fs::write(
        docs.join("notes/trains.md"),
        "The night train to Tromsø leaves at 22:40 from platform 9 and arrives at dawn.\n",
    )
    .unwrap();
    docs
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `index build` over `docs` into `index` with `embedder`: its output.
fn index_build(docs: &Path, index: &Path, embedder: &Path) -> Output {
    let args = ["index", "build", "--docs", s(docs), "--out", s(index)];
    run(&[&args[..], &["--embedding-model", s(embedder)]].concat())
}

/// `index build` over `docs` into `dir/index` with all-MiniLM-L6-v2.
pub fn build_index(dir: &Path, docs: &Path) -> PathBuf {
    let index = dir.join("index");
    let out = succeeded(index_build(docs, &index, &minilm()));
    assert!(out.contains("indexed 3 documents as 3 chunks"), "{out}");
    index
}

/// The sources of `index query --json`, best first.
fn query(index: &Path, question: &str, mode: &str) -> Vec<String> {
    let out = ok(&[
        "index",
        "query",
        s(index),
        question,
        "-k",
        "3",
        "--mode",
        mode,
        "--json",
    ]);
    out.lines()
        .map(|line| {
            let hit: serde_json::Value = serde_json::from_str(line).unwrap();
            hit["source"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn index_build_query_add_and_remove() {
    let dir = tempfile::tempdir().unwrap();
    let docs = documents(dir.path());
    let index = build_index(dir.path(), &docs);
    let vault = s(&docs.join("vault.md")).to_string();
    for mode in ["dense", "exact", "bm25", "hybrid"] {
        let sources = query(&index, "What is the code to open the vault door?", mode);
        assert_eq!(sources.first(), Some(&vault), "{mode}: {sources:?}");
    }
    let text = ok(&[
        "index",
        "query",
        s(&index),
        "When does the night train leave?",
    ]);
    assert!(
        text.starts_with("1. ") && text.contains("trains.md [bytes 0.."),
        "{text}"
    );
    assert!(text.contains("score "), "{text}");

    // Added documents are found; the index's own embedder is used without being named.
    let more = dir.path().join("more.txt");
    std::fs::write(
        &more,
        "Lighthouse keepers on Skerryvore logged every passing ship.",
    )
    .unwrap();
    let out = ok(&["index", "add", s(&index), "--docs", s(&more)]);
    assert!(
        out.contains("added 1 documents (0 replaced) as 1 chunks; the index holds 4"),
        "{out}"
    );
    assert_eq!(
        query(&index, "Who logged passing ships?", "hybrid")[0],
        s(&more)
    );

    let out = ok(&[
        "index",
        "remove",
        s(&index),
        "--source",
        s(&docs.join("notes")),
    ]);
    assert!(out.contains("removed 1 chunks"), "{out}");
    let sources = query(&index, "When does the night train leave?", "bm25");
    assert!(
        sources.iter().all(|s| !s.contains("trains.md")),
        "{sources:?}"
    );

    // Bad input is named.
    let err = fails(&["index", "remove", s(&index), "--source", "nowhere.md"]);
    assert!(err.contains("holds no document nowhere.md"), "{err}");
    let err = failed(index_build(&docs, &index, &minilm()));
    assert!(err.contains("already holds an index"), "{err}");
    let err = fails(&["index", "query", s(&docs), "anything"]);
    assert!(err.contains("not an index"), "{err}");
    let err = fails(&["index", "query", s(&index), "x", "--mode", "fuzzy"]);
    assert!(
        err.contains("not one of dense, exact, bm25, hybrid"),
        "{err}"
    );
    let err = fails(&[
        "index",
        "build",
        "--docs",
        s(&docs),
        "--out",
        s(&dir.path().join("i2")),
    ]);
    assert!(err.contains("--embedding-model"), "{err}");
}

#[test]
fn an_add_killed_halfway_leaves_the_index_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let docs = documents(dir.path());
    let index = build_index(dir.path(), &docs);
    let before = std::fs::read(index.join("manifest.json")).unwrap();
    let many = dir.path().join("many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..300 {
        let text = format!("Document {i} is about the number {i} and nothing else. ").repeat(12);
        std::fs::write(many.join(format!("d{i:03}.txt")), text).unwrap();
    }
    let mut child = bin()
        .args(["index", "add", s(&index), "--docs", s(&many)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let finished = child.try_wait().unwrap().is_some();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!finished, "the add ended before it could be killed");
    assert_eq!(std::fs::read(index.join("manifest.json")).unwrap(), before);
    assert_eq!(
        query(&index, "What is the vault's door code?", "hybrid")[0],
        s(&docs.join("vault.md"))
    );
    // The next change clears what the killed one left.
    let more = dir.path().join("more.txt");
    std::fs::write(&more, "Lighthouse keepers logged every passing ship.").unwrap();
    ok(&["index", "add", s(&index), "--docs", s(&more)]);
    let names: Vec<String> = std::fs::read_dir(&index)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn our_own_language_model_can_be_the_embedder() {
    let dir = tempfile::tempdir().unwrap();
    let docs = documents(dir.path());
    let model = claude_files::shared_data_dir()
        .join("models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf");
    let index = dir.path().join("index");
    let out = succeeded(index_build(&docs, &index, &model));
    assert!(out.contains("indexed 3 documents"), "{out}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(index.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["embedder"]["name"], "SmolLM2-135M-Instruct.Q4_1");
    assert_eq!(manifest["embedder"]["dimension"], 576);
    // Later commands find the model through the manifest.
    assert_eq!(query(&index, "the vault door code", "dense").len(), 3);
    let line = ok(&["embed", "--model", s(&model), "The cat sat on the mat."]);
    let vector: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(vector["embedding"].as_array().unwrap().len(), 576);
    // A query with a sentence model against this index is refused by name.
    let err = fails(&[
        "index",
        "query",
        s(&index),
        "x",
        "--embedding-model",
        s(&minilm()),
    ]);
    assert!(
        err.contains("built with embedder SmolLM2-135M-Instruct.Q4_1"),
        "{err}"
    );
}
