//! The HNSW index against the exact one: recall, scores, deletions, saving and loading.

use std::collections::HashSet;

use claude_retrieval::{FlatIndex, HnswIndex, IndexError, VectorIndex};

use crate::vectors::random_unit_vectors;

/// Share of the exact top `k` that `index` also returns, over `queries`.
fn recall(index: &dyn VectorIndex, exact: &FlatIndex, queries: &[Vec<f32>], k: usize) -> f64 {
    let mut found = 0;
    for query in queries {
        let truth: HashSet<u64> = exact.search(query, k).iter().map(|h| h.id).collect();
        found += index
            .search(query, k)
            .iter()
            .filter(|h| truth.contains(&h.id))
            .count();
    }
    found as f64 / (queries.len() * k) as f64
}

fn filled(n: usize, d: usize) -> (HnswIndex, FlatIndex, Vec<Vec<f32>>) {
    let vectors = random_unit_vectors(n, d, 7);
    let mut hnsw = HnswIndex::new(d).unwrap();
    let mut flat = FlatIndex::new(d);
    for (id, v) in vectors.iter().enumerate() {
        hnsw.add(id as u64 * 3, v).unwrap();
        flat.add(id as u64 * 3, v).unwrap();
    }
    (hnsw, flat, vectors)
}

#[test]
fn hnsw_finds_nearly_what_the_exact_search_finds_with_the_same_scores() {
    let (n, d) = (5000, 32);
    let (hnsw, flat, vectors) = filled(n, d);
    assert_eq!((hnsw.len(), hnsw.dimension()), (n, d));
    let queries = random_unit_vectors(200, d, 99);
    let r = recall(&hnsw, &flat, &queries, 10);
    assert!(r >= 0.95, "recall@10 {r}");
    // Scores are exact dot products, best first.
    for query in &queries[..20] {
        let hits = hnsw.search(query, 10);
        assert_eq!(hits.len(), 10);
        for pair in hits.windows(2) {
            assert!(pair[0].score >= pair[1].score);
        }
        for hit in hits {
            let v = &vectors[(hit.id / 3) as usize];
            let dot: f64 = v.iter().zip(query).map(|(a, b)| f64::from(a * b)).sum();
            assert!(
                (f64::from(hit.score) - dot).abs() < 1e-5,
                "{} vs {dot}",
                hit.score
            );
        }
    }
}

#[test]
fn removed_vectors_are_never_found_and_the_rest_still_are() {
    let (n, d) = (3000, 24);
    let (mut hnsw, mut flat, _) = filled(n, d);
    for id in (0..n as u64).filter(|i| i % 3 == 0).map(|i| i * 3) {
        assert!(hnsw.remove(id));
        assert!(flat.remove(id));
    }
    assert!(!hnsw.remove(0), "already gone");
    assert_eq!(hnsw.len(), n - n / 3);
    let queries = random_unit_vectors(100, d, 5);
    for query in &queries {
        for hit in hnsw.search(query, 20) {
            assert_ne!((hit.id / 3) % 3, 0, "removed id {} found", hit.id);
        }
    }
    let r = recall(&hnsw, &flat, &queries, 10);
    assert!(r >= 0.95, "recall@10 after removals {r}");
}

#[test]
fn a_saved_graph_loads_to_the_same_answers_and_grows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("graph.usearch");
    let (hnsw, _, _) = filled(1000, 16);
    hnsw.save(&path).unwrap();
    let mut loaded = HnswIndex::load(&path, 16).unwrap();
    let queries = random_unit_vectors(20, 16, 3);
    for query in &queries {
        assert_eq!(hnsw.search(query, 5), loaded.search(query, 5));
    }
    let extra = random_unit_vectors(1, 16, 1234).remove(0);
    loaded.add(1_000_000, &extra).unwrap();
    assert_eq!(loaded.search(&extra, 1)[0].id, 1_000_000);
    assert!(matches!(
        HnswIndex::load(&path, 8),
        Err(IndexError::Dimension {
            expected: 8,
            got: 16
        })
    ));
}

#[test]
fn bad_input_is_an_error() {
    let mut hnsw = HnswIndex::new(4).unwrap();
    hnsw.add(1, &[1.0, 0.0, 0.0, 0.0]).unwrap();
    assert_eq!(
        hnsw.add(1, &[0.0, 1.0, 0.0, 0.0]),
        Err(IndexError::DuplicateId(1))
    );
    assert_eq!(
        hnsw.add(2, &[1.0, 0.0]),
        Err(IndexError::Dimension {
            expected: 4,
            got: 2
        })
    );
    assert!(hnsw.search(&[1.0, 0.0, 0.0, 0.0], 0).is_empty());
    // A huge k asks for no more room than there are vectors.
    assert_eq!(hnsw.search(&[1.0, 0.0, 0.0, 0.0], usize::MAX).len(), 1);
    let mut flat = claude_retrieval::FlatIndex::new(4);
    flat.add(1, &[1.0, 0.0, 0.0, 0.0]).unwrap();
    assert_eq!(flat.search(&[1.0, 0.0, 0.0, 0.0], usize::MAX).len(), 1);
    assert!(
        HnswIndex::new(4)
            .unwrap()
            .search(&[1.0, 0.0, 0.0, 0.0], 3)
            .is_empty()
    );
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.usearch");
    assert!(matches!(
        HnswIndex::load(&missing, 4),
        Err(IndexError::Backend(_))
    ));
}
