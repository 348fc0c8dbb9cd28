//! The exact index against a brute-force float64 search, with removals and bad input.

use claude_retrieval::{FlatIndex, IndexError, VectorIndex};

use crate::vectors::unit_vectors;

/// The f64 score of every vector.
fn scores(vectors: &[(u64, Vec<f32>)], query: &[f32]) -> Vec<(f64, u64)> {
    vectors
        .iter()
        .map(|(id, v)| {
            let score = v
                .iter()
                .zip(query)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum();
            (score, *id)
        })
        .collect()
}

/// Checks `ids` against the `k` best vectors in f64: the same scores rank by rank (two vectors
/// whose scores differ by f32 rounding only may swap places), all of them distinct.
fn assert_best(vectors: &[(u64, Vec<f32>)], query: &[f32], ids: &[u64], k: usize) {
    let all = scores(vectors, query);
    let mut best = all.clone();
    best.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    assert_eq!(ids.len(), k.min(vectors.len()));
    let score_of = |id: u64| all.iter().find(|(_, i)| *i == id).unwrap().0;
    for (rank, (&id, (expected, _))) in ids.iter().zip(&best).enumerate() {
        let got = score_of(id);
        assert!(
            (got - expected).abs() < 1e-5,
            "rank {rank}: id {id} scores {got}, not {expected}"
        );
    }
    let mut unique = ids.to_vec();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
}

#[test]
fn the_flat_index_finds_what_a_brute_force_search_finds() {
    // More than one task's worth of rows, so the parallel parts merge.
    let (n, d) = (10_000, 48);
    let vectors: Vec<(u64, Vec<f32>)> = unit_vectors(n, d, 1)
        .into_iter()
        .enumerate()
        .map(|(i, v)| (1000 + i as u64, v))
        .collect();
    let mut index = FlatIndex::new(d);
    for (id, v) in &vectors {
        index.add(*id, v).unwrap();
    }
    assert_eq!((index.len(), index.dimension()), (n, d));
    let queries = unit_vectors(5, d, 7);
    for query in &queries {
        let hits = index.search(query, 10);
        let ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
        assert_best(&vectors, query, &ids, 10);
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    }
    // Removing vectors (first, middle, last) takes them out of the results.
    let mut kept = vectors.clone();
    for id in [1000, 1000 + 5_000, 1000 + n as u64 - 1] {
        assert!(index.remove(id));
        assert!(!index.remove(id));
        kept.retain(|(i, _)| *i != id);
    }
    assert_eq!(index.len(), n - 3);
    for query in &queries {
        let ids: Vec<u64> = index.search(query, 7).iter().map(|h| h.id).collect();
        assert_best(&kept, query, &ids, 7);
        assert!(
            ids.iter()
                .all(|id| ![1000, 6000, 1000 + n as u64 - 1].contains(id))
        );
    }
    // A vector finds itself first, with score 1.
    let (id, v) = &kept[42];
    let best = index.search(v, 1)[0];
    assert_eq!(best.id, *id);
    assert!((best.score - 1.0).abs() < 1e-5);
}

#[test]
fn small_and_bad_cases() {
    let mut index = FlatIndex::new(3);
    assert!(index.search(&[1.0, 0.0, 0.0], 5).is_empty());
    index.add(7, &[1.0, 0.0, 0.0]).unwrap();
    index.add(3, &[1.0, 0.0, 0.0]).unwrap();
    // More asked than stored; equal scores come by id.
    let ids: Vec<u64> = index
        .search(&[1.0, 0.0, 0.0], 5)
        .iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(ids, [3, 7]);
    assert!(index.search(&[1.0, 0.0, 0.0], 0).is_empty());
    assert_eq!(
        index.add(9, &[1.0, 0.0]),
        Err(IndexError::Dimension {
            expected: 3,
            got: 2
        })
    );
    assert_eq!(
        index.add(7, &[0.0, 1.0, 0.0]),
        Err(IndexError::DuplicateId(7))
    );
}
