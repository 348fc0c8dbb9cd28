//! Index directories end to end with the real MiniLM embedder: build, search in every mode,
//! add, replace, remove, reopen; damaged, foreign and mismatched indexes; interrupted changes.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use burn::prelude::*;
use claude_retrieval::{
    ChunkConfig, DocumentIndex, DocumentIndexError, Progress, SearchMode, SentenceEmbedder,
};

fn minilm() -> &'static SentenceEmbedder {
    static EMBEDDER: OnceLock<SentenceEmbedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| {
        let dir = claude_files::shared_data_dir().join("models/all-minilm-l6-v2");
        SentenceEmbedder::load(&dir, &Device::flex()).unwrap()
    })
}

const FOXES: &str = "The red fox is the largest of the true foxes. Foxes are small omnivorous \
mammals with a flattened skull, upright triangular ears and a pointed, slightly upturned snout.";
const RUST: &str = "Rust is a systems programming language focused on memory safety and \
concurrency. Its borrow checker enforces ownership rules at compile time.";
const NORMANDY: &str = "Normandy is a region of northern France. The D-Day landings of June \
1944 took place on its beaches, beginning the liberation of western Europe.";
const BEARS: &str = "The brown bear is one of the largest land carnivores. Grizzly bears \
hibernate through the winter in dens they dig on hillsides.";

/// A folder of documents: `a.md`, `b.txt`, `sub/c.md`, and a file that is not collected.
fn documents(dir: &Path) -> PathBuf {
    let docs = dir.join("docs");
    std::fs::create_dir_all(docs.join("sub")).unwrap();
    std::fs::write(docs.join("a.md"), FOXES).unwrap();
    std::fs::write(docs.join("b.txt"), RUST).unwrap();
    std::fs::write(docs.join("sub/c.md"), NORMANDY).unwrap();
    std::fs::write(docs.join("image.png"), [0xff, 0xd8, 0x00]).unwrap();
    docs
}

fn build(dir: &Path) -> (DocumentIndex, PathBuf, PathBuf) {
    let docs = documents(dir);
    let out = dir.join("index");
    let mut reports = Vec::new();
    let (index, report) = DocumentIndex::build(
        &out,
        std::slice::from_ref(&docs),
        minilm(),
        ChunkConfig::default(),
        &mut |p: Progress| reports.push(p),
    )
    .unwrap();
    assert_eq!(
        (report.documents, report.chunks, report.replaced),
        (3, 3, 0)
    );
    assert_eq!(
        reports.last(),
        Some(&Progress {
            embedded: 3,
            total: 3
        })
    );
    (index, out, docs)
}

fn top_source(index: &DocumentIndex, question: &str, mode: SearchMode) -> String {
    let hits = index.search(question, minilm(), 3, mode).unwrap();
    assert!(!hits.is_empty(), "{mode:?}: nothing for {question:?}");
    hits[0].chunk.source.clone()
}

fn no_generation_dirs_but(index_dir: &Path, live: u64) {
    let mut names: Vec<String> = std::fs::read_dir(index_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [format!("gen-{live:06}"), "manifest.json".to_string()]
    );
}

#[test]
fn build_search_add_replace_remove_and_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let (index, out, docs) = build(tmp.path());
    let c = docs.join("sub/c.md").to_string_lossy().into_owned();
    for mode in [
        SearchMode::Dense,
        SearchMode::Exact,
        SearchMode::Bm25,
        SearchMode::Hybrid,
    ] {
        assert_eq!(
            top_source(&index, "Where did the D-Day landings happen?", mode),
            c
        );
    }
    let chunk = &index
        .search("borrow checker", minilm(), 1, SearchMode::Bm25)
        .unwrap()[0];
    assert_eq!(&RUST[chunk.chunk.start..chunk.chunk.end], chunk.chunk.text);
    let ids_before: Vec<u64> = index.chunks().iter().map(|c| c.id).collect();
    drop(index);

    // Reopened, it adds without re-embedding what it holds.
    let mut index = DocumentIndex::open(&out).unwrap();
    assert_eq!(index.manifest().generation, 1);
    std::fs::write(tmp.path().join("bears.txt"), BEARS).unwrap();
    let report = index
        .add(&[tmp.path().join("bears.txt")], minilm(), &mut |_| {})
        .unwrap();
    assert_eq!(
        (report.documents, report.chunks, report.replaced),
        (1, 1, 0)
    );
    let ids_after: Vec<u64> = index.chunks().iter().map(|c| c.id).collect();
    assert_eq!(ids_after[..3], ids_before[..]);
    let bears = tmp.path().join("bears.txt").to_string_lossy().into_owned();
    assert_eq!(
        top_source(&index, "Do grizzlies hibernate?", SearchMode::Hybrid),
        bears
    );
    no_generation_dirs_but(&out, 2);

    // A changed document added again replaces its old chunks.
    let a = docs.join("a.md");
    std::fs::write(
        &a,
        "Foxes were renamed: this text is about lighthouses and ships.",
    )
    .unwrap();
    let report = index
        .add(std::slice::from_ref(&a), minilm(), &mut |_| {})
        .unwrap();
    assert_eq!(report.replaced, 1);
    let a = a.to_string_lossy().into_owned();
    let texts: Vec<&str> = (index.chunks().iter())
        .filter(|c| c.source == a)
        .map(|c| c.text.as_str())
        .collect();
    assert_eq!(
        texts,
        ["Foxes were renamed: this text is about lighthouses and ships."]
    );

    // Removing a folder removes what is under it; a source it lacks is an error.
    let removed = index.remove(&docs.join("sub").to_string_lossy()).unwrap();
    assert_eq!(removed, 1);
    assert!(matches!(
        index.remove("nowhere.md"),
        Err(DocumentIndexError::NoSuchSource(_))
    ));
    let reopened = DocumentIndex::open(&out).unwrap();
    assert_eq!(reopened.chunks(), index.chunks());
    assert_eq!(reopened.manifest().generation, 4);
    assert!(!reopened.sources().contains(&c.as_str()));
    for mode in [SearchMode::Dense, SearchMode::Bm25, SearchMode::Hybrid] {
        let hits = reopened
            .search("D-Day landings in France", minilm(), 5, mode)
            .unwrap();
        assert!(hits.iter().all(|h| h.chunk.source != c), "{mode:?}");
    }
    no_generation_dirs_but(&out, 4);
}

/// Rewrites one field of the manifest.
fn edit_manifest(index_dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = index_dir.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut manifest);
    std::fs::write(&path, manifest.to_string()).unwrap();
}

fn open_error(dir: &Path) -> String {
    DocumentIndex::open(dir).unwrap_err().to_string()
}

#[test]
fn damaged_foreign_and_mismatched_indexes_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (index, out, docs) = build(tmp.path());
    drop(index);

    let error = DocumentIndex::build(
        &out,
        std::slice::from_ref(&docs),
        minilm(),
        ChunkConfig::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("already holds an index"),
        "{error}"
    );
    assert!(open_error(&docs).contains("not an index"));

    // Another embedder: dense search and add are refused, BM25 still answers.
    edit_manifest(&out, |m| {
        m["embedder"]["fingerprint"] = "0123456789abcdef".into()
    });
    let index = DocumentIndex::open(&out).unwrap();
    let error = index
        .search("fox", minilm(), 3, SearchMode::Hybrid)
        .unwrap_err();
    assert!(
        matches!(error, DocumentIndexError::OtherEmbedder { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("0123456789abcdef"), "{error}");
    assert!(
        !index
            .search("fox", minilm(), 3, SearchMode::Bm25)
            .unwrap()
            .is_empty()
    );
    drop(index);
    let saved = std::fs::read(out.join("manifest.json")).unwrap();

    edit_manifest(&out, |m| m["format"] = "something-else".into());
    assert!(open_error(&out).contains("not a claude-rust index"));
    edit_manifest(&out, |m| {
        m["format"] = "claude-rust-index".into();
        m["version"] = 2.into();
    });
    assert!(open_error(&out).contains("version 2, this build reads version 1"));
    std::fs::write(out.join("manifest.json"), b"{ not json").unwrap();
    assert!(open_error(&out).contains("manifest.json: not JSON"));
    std::fs::write(out.join("manifest.json"), &saved).unwrap();

    for file in ["vectors.f32", "chunks.jsonl", "hnsw.usearch"] {
        let path = out.join("gen-000001").join(file);
        let original = std::fs::read(&path).unwrap();
        let mut damaged = original.clone();
        let middle = damaged.len() / 2;
        damaged[middle] ^= 0x40;
        std::fs::write(&path, &damaged).unwrap();
        let error = open_error(&out);
        assert!(error.contains(file) && error.contains("damaged"), "{error}");
        std::fs::write(&path, &original).unwrap();
    }
    std::fs::remove_dir_all(out.join("gen-000001/bm25")).unwrap();
    assert!(open_error(&out).contains("bm25"));
}

#[test]
fn a_failed_or_interrupted_change_leaves_the_index_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut index, out, _docs) = build(tmp.path());
    let manifest = std::fs::read(out.join("manifest.json")).unwrap();

    // A document that is not text fails the add before anything is written.
    let binary = tmp.path().join("binary.txt");
    std::fs::write(&binary, [b'a', 0xff, 0xfe, b'b']).unwrap();
    let error = index.add(&[binary], minilm(), &mut |_| {}).unwrap_err();
    assert!(
        error.to_string().contains("binary.txt: not UTF-8"),
        "{error}"
    );
    let missing = index.add(&[tmp.path().join("missing.md")], minilm(), &mut |_| {});
    assert!(missing.unwrap_err().to_string().contains("missing.md"));
    assert_eq!(std::fs::read(out.join("manifest.json")).unwrap(), manifest);
    assert_eq!(index.chunks().len(), 3);

    // What a change killed before its commit leaves behind: a staging folder and a renamed
    // generation the manifest does not name. The index opens as it was, and the next change
    // clears them.
    std::fs::create_dir_all(out.join(".staging-000002/bm25")).unwrap();
    std::fs::write(out.join(".staging-000002/chunks.jsonl"), "garbage").unwrap();
    std::fs::create_dir_all(out.join("gen-000002")).unwrap();
    let reopened = DocumentIndex::open(&out).unwrap();
    assert_eq!(reopened.chunks(), index.chunks());
    drop(reopened);
    std::fs::write(tmp.path().join("bears.txt"), BEARS).unwrap();
    index
        .add(&[tmp.path().join("bears.txt")], minilm(), &mut |_| {})
        .unwrap();
    no_generation_dirs_but(&out, 2);
    assert_eq!(DocumentIndex::open(&out).unwrap().chunks().len(), 4);
}
