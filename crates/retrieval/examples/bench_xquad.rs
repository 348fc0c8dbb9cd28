//! Retrieval quality and speed on XQuAD: the 240 English paragraphs indexed as documents (one
//! file each, chunked as `index build` does), the 1,190 questions asked in every search mode; a
//! question's gold document is its own paragraph. Prints recall@1, recall@5 and MRR@10 per mode
//! (documents ranked by their best chunk), queries/s of each search (question vectors computed
//! once, beforehand), HNSW recall@10 against the exact search, and embedding throughput; then
//! the same HNSW-against-exact comparison on a collection large enough for it to matter (the
//! first `SENTENCES` sentences of wikitext-2, default 10,000, searched with the questions).
//! `benches/rag_xquad.sh` runs it beside sentence-transformers and rank_bm25 on the same data.
//!
//! `cargo run --release -p claude-retrieval --example bench_xquad -- XQUAD_JSON MODEL_DIR`

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use burn::prelude::*;
use claude_retrieval::{
    ChunkConfig, DocumentIndex, FlatIndex, Hit, HnswIndex, SearchMode, SentenceEmbedder,
    VectorIndex,
};

/// Chunks fetched per question, so that ten distinct documents are among them.
const FETCH: usize = 30;

/// Paragraphs and (question, index of its paragraph) from a SQuAD-format file.
fn load(path: &str) -> (Vec<String>, Vec<(String, usize)>) {
    let text = std::fs::read_to_string(path).expect("the XQuAD file");
    let data: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let mut paragraphs = Vec::new();
    let mut questions = Vec::new();
    for article in data["data"].as_array().expect("a data list") {
        for paragraph in article["paragraphs"].as_array().expect("paragraphs") {
            for qa in paragraph["qas"].as_array().expect("qas") {
                let question = qa["question"].as_str().expect("a question");
                questions.push((question.to_string(), paragraphs.len()));
            }
            let context = paragraph["context"].as_str().expect("a context");
            paragraphs.push(context.to_string());
        }
    }
    (paragraphs, questions)
}

/// Recall@1, recall@5 and MRR@10 of rankings of document numbers.
fn scores(rankings: &[Vec<usize>], gold: &[usize]) -> (f64, f64, f64) {
    let n = rankings.len() as f64;
    let rank_of = |ranking: &Vec<usize>, gold: usize| ranking.iter().position(|&d| d == gold);
    let (mut r1, mut r5, mut mrr) = (0.0, 0.0, 0.0);
    for (ranking, &gold) in rankings.iter().zip(gold) {
        match rank_of(ranking, gold) {
            Some(0) => (r1, r5, mrr) = (r1 + 1.0, r5 + 1.0, mrr + 1.0),
            Some(r) if r < 5 => (r5, mrr) = (r5 + 1.0, mrr + 1.0 / (r + 1) as f64),
            Some(r) if r < 10 => mrr += 1.0 / (r + 1) as f64,
            _ => {}
        }
    }
    (r1 / n, r5 / n, mrr / n)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench_xquad XQUAD_JSON MODEL_DIR";
    let (file, model) = (args.next().expect(usage), args.next().expect(usage));
    claude_tensors::threads::main_thread_joins_pool();
    let (paragraphs, questions) = load(&file);
    let embedder = SentenceEmbedder::load(model.as_ref(), &Device::flex()).expect("a model");

    // Embedding throughput, as sentence-transformers is measured: whole paragraphs.
    let _ = embedder.embed(&paragraphs[..32]);
    let started = Instant::now();
    embedder.embed(&paragraphs);
    let passage_seconds = started.elapsed().as_secs_f64();
    let texts: Vec<&str> = questions.iter().map(|(q, _)| q.as_str()).collect();
    let started = Instant::now();
    let vectors: Vec<Vec<f32>> = embedder
        .embed(&texts)
        .into_iter()
        .map(|e| e.vector)
        .collect();
    let question_seconds = started.elapsed().as_secs_f64();
    println!(
        "claude-rust embed: passages {} in {passage_seconds:.2} s = {:.1}/s; questions {} in \
         {question_seconds:.2} s = {:.1}/s",
        paragraphs.len(),
        paragraphs.len() as f64 / passage_seconds,
        texts.len(),
        texts.len() as f64 / question_seconds
    );

    let dir = tempfile::tempdir().expect("a temporary folder");
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).expect("a folder");
    let paths: Vec<PathBuf> = (0..paragraphs.len())
        .map(|i| docs.join(format!("p{i:04}.txt")))
        .collect();
    for (path, text) in paths.iter().zip(&paragraphs) {
        std::fs::write(path, text).expect("a document");
    }
    let chunking = ChunkConfig {
        tokens: 254,
        overlap: 40,
    };
    let started = Instant::now();
    let (index, report) = DocumentIndex::build(
        &dir.path().join("index"),
        &[docs],
        &embedder,
        chunking,
        &mut |_| {},
    )
    .expect("an index");
    println!(
        "index build: {} documents, {} chunks in {:.2} s",
        report.documents,
        report.chunks,
        started.elapsed().as_secs_f64()
    );
    let document_of = |hit: &Hit| -> usize {
        let source = &index.chunk(hit.id).expect("a stored chunk").source;
        paths
            .iter()
            .position(|p| p.to_string_lossy() == source.as_str())
            .expect("an indexed paragraph")
    };
    let gold: Vec<usize> = questions.iter().map(|(_, g)| *g).collect();
    let mut exact = Vec::new();
    for (name, mode) in [
        ("minilm-exact", SearchMode::Exact),
        ("minilm-hnsw", SearchMode::Dense),
        ("tantivy-bm25", SearchMode::Bm25),
        ("hybrid-rrf", SearchMode::Hybrid),
    ] {
        let started = Instant::now();
        let ranked: Vec<Vec<Hit>> = texts
            .iter()
            .zip(&vectors)
            .map(|(q, v)| index.ranked(q, Some(v), FETCH, mode).expect("a search"))
            .collect();
        let per_second = texts.len() as f64 / started.elapsed().as_secs_f64();
        let rankings: Vec<Vec<usize>> = ranked
            .iter()
            .map(|hits| {
                let mut seen = HashSet::new();
                hits.iter()
                    .map(document_of)
                    .filter(|d| seen.insert(*d))
                    .collect()
            })
            .collect();
        let (r1, r5, mrr) = scores(&rankings, &gold);
        println!(
            "rust    {name:<16} R@1 {r1:.3}  R@5 {r5:.3}  MRR@10 {mrr:.3}  {per_second:.0} q/s"
        );
        match mode {
            SearchMode::Exact => exact = ranked,
            SearchMode::Dense => {
                let found: usize = (ranked.iter().zip(&exact))
                    .map(|(approximate, exact)| {
                        let truth: HashSet<u64> = exact[..10].iter().map(|h| h.id).collect();
                        approximate[..10]
                            .iter()
                            .filter(|h| truth.contains(&h.id))
                            .count()
                    })
                    .sum();
                println!(
                    "hnsw recall@10 against the exact search: {:.4}",
                    found as f64 / (10 * ranked.len()) as f64
                );
            }
            _ => {}
        }
    }
    // A collection large enough for HNSW to matter: sentences of wikitext-2, searched with the
    // XQuAD questions.
    let count = std::env::var("SENTENCES").map_or(10_000, |n| n.parse().expect("a count"));
    let corpus = claude_files::shared_data_dir().join("eval/wikitext-2-raw-test.txt");
    let text = std::fs::read_to_string(&corpus).expect("wikitext-2");
    let sentences: Vec<&str> = text
        .split(". ")
        .map(str::trim)
        .filter(|s| s.split_whitespace().count() >= 5 && !s.starts_with('='))
        .take(count)
        .collect();
    let started = Instant::now();
    let collection: Vec<Vec<f32>> = (embedder.embed(&sentences).into_iter())
        .map(|e| e.vector)
        .collect();
    println!(
        "embedded {} wikitext-2 sentences in {:.1} s",
        collection.len(),
        started.elapsed().as_secs_f64()
    );
    large_collection(&collection, &vectors);
}

/// HNSW against exact search over `vectors` for `asked`: build time, queries/s, recall@10.
fn large_collection(vectors: &[Vec<f32>], asked: &[Vec<f32>]) {
    let (n, d, queries) = (vectors.len(), vectors[0].len(), asked.len());
    let mut flat = FlatIndex::new(d);
    let mut hnsw = HnswIndex::new(d).expect("an HNSW index");
    let started = Instant::now();
    for (id, v) in vectors.iter().enumerate() {
        hnsw.add(id as u64, v).expect("a vector");
    }
    let build = started.elapsed().as_secs_f64();
    for (id, v) in vectors.iter().enumerate() {
        flat.add(id as u64, v).expect("a vector");
    }
    let timed = |index: &dyn VectorIndex| -> (Vec<Vec<Hit>>, f64) {
        let started = Instant::now();
        let hits = asked.iter().map(|q| index.search(q, 10)).collect();
        (hits, queries as f64 / started.elapsed().as_secs_f64())
    };
    let (exact, flat_rate) = timed(&flat);
    let (approximate, hnsw_rate) = timed(&hnsw);
    let found: usize = (approximate.iter().zip(&exact))
        .map(|(a, e)| {
            let truth: HashSet<u64> = e.iter().map(|h| h.id).collect();
            a.iter().filter(|h| truth.contains(&h.id)).count()
        })
        .sum();
    println!(
        "{n} vectors of {d} dims: hnsw built in {build:.1} s; exact {flat_rate:.0} q/s, \
         hnsw {hnsw_rate:.0} q/s, hnsw recall@10 {:.4}",
        found as f64 / (10 * queries) as f64
    );
}
