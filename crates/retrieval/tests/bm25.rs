//! BM25 through tantivy against a float64 BM25 written here (Lucene's formula, k1 1.2, b 0.75;
//! documents under 40 words, where tantivy stores their lengths exactly).

use std::collections::HashMap;

use claude_retrieval::Bm25Index;

const DOCUMENTS: [&str; 10] = [
    "The quick brown fox jumps over the lazy dog.",
    "A fox is a small omnivorous mammal; the red fox is the largest of the true foxes.",
    "Dogs were domesticated from wolves over 15,000 years ago.",
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy.",
    "Normandy is a region in France, famous for the D-Day landings of 1944.",
    "Rust is a systems programming language focused on safety, speed and concurrency.",
    "The brown bear is one of the largest living terrestrial members of the order Carnivora.",
    "Concurrency in Rust: threads, channels, and the Send and Sync traits.",
    "",
    "Über café naïve — DOG dog Dog!",
];

/// Words as tantivy's default analyzer makes them: runs of letters and digits, lower-cased.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// BM25 of every document for `query`, in float64.
fn reference(documents: &[&str], query: &str) -> Vec<(f64, u64)> {
    let (k1, b) = (1.2, 0.75);
    let docs: Vec<Vec<String>> = documents.iter().map(|d| words(d)).collect();
    let n = docs.len() as f64;
    let average = docs.iter().map(Vec::len).sum::<usize>() as f64 / n;
    let mut scores = Vec::new();
    for (id, doc) in docs.iter().enumerate() {
        let mut counts: HashMap<&str, f64> = HashMap::new();
        for w in doc {
            *counts.entry(w).or_default() += 1.0;
        }
        let mut score = 0.0;
        for term in words(query) {
            let tf = counts.get(term.as_str()).copied().unwrap_or(0.0);
            if tf == 0.0 {
                continue;
            }
            let df = docs.iter().filter(|d| d.contains(&term)).count() as f64;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            let length = doc.len() as f64;
            score += idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * length / average));
        }
        if score > 0.0 {
            scores.push((score, id as u64));
        }
    }
    scores.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
    scores
}

fn index(documents: &[&str]) -> Bm25Index {
    let mut index = Bm25Index::in_memory().unwrap();
    for (id, text) in documents.iter().enumerate() {
        index
            .add(id as u64, &format!("doc-{}.txt", id % 4), text)
            .unwrap();
    }
    index.commit().unwrap();
    index
}

#[test]
fn scores_are_bm25_as_computed_in_float64() {
    let index = index(&DOCUMENTS);
    assert_eq!(index.len(), DOCUMENTS.len());
    for query in [
        "fox",
        "the brown fox",
        "Normandy Normans 10th century",
        "rust concurrency rust",
        "DOG",
        "largest",
        "café",
    ] {
        let expected = reference(&DOCUMENTS, query);
        let got = index.search(query, 100).unwrap();
        assert_eq!(
            got.len(),
            expected.len(),
            "{query:?}: {got:?} vs {expected:?}"
        );
        for (hit, (score, id)) in got.iter().zip(&expected) {
            assert_eq!(hit.id, *id, "{query:?}: {got:?} vs {expected:?}");
            let relative = (f64::from(hit.score) - score).abs() / score;
            assert!(
                relative < 1e-4,
                "{query:?} doc {id}: {} vs {score}",
                hit.score
            );
        }
        let top = index.search(query, 2).unwrap();
        assert_eq!(top, got[..got.len().min(2)]);
    }
}

#[test]
fn queries_without_words_or_with_query_syntax_never_fail() {
    let index = index(&DOCUMENTS);
    assert!(index.search("", 5).unwrap().is_empty());
    assert!(index.search("?! ... —", 5).unwrap().is_empty());
    assert!(index.search("unseenword", 5).unwrap().is_empty());
    let hits = index.search("title:\"fox AND -dog) OR (", 5).unwrap();
    assert!(!hits.is_empty());
    assert!(index.search("fox", 0).unwrap().is_empty());
    assert_eq!(index.search("fox", usize::MAX).unwrap().len(), 2);
}

#[test]
fn removing_a_source_removes_its_chunks_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bm25");
    let mut index = Bm25Index::create(&path).unwrap();
    for (id, text) in DOCUMENTS.iter().enumerate() {
        index
            .add(id as u64, &format!("doc-{}.txt", id % 4), text)
            .unwrap();
    }
    index.commit().unwrap();
    // Documents 1, 5 and 9 are doc-1.txt.
    index.remove_source("doc-1.txt").unwrap();
    index.remove_source("no-such.txt").unwrap();
    index.commit().unwrap();
    drop(index);
    let index = Bm25Index::open(&path).unwrap();
    assert_eq!(index.len(), DOCUMENTS.len() - 3);
    let ids: Vec<u64> = index
        .search("fox rust dog", 100)
        .unwrap()
        .iter()
        .map(|h| h.id)
        .collect();
    assert!(!ids.is_empty());
    assert!(ids.iter().all(|id| id % 4 != 1), "{ids:?}");
    assert!(Bm25Index::open(&dir.path().join("missing")).is_err());
}
