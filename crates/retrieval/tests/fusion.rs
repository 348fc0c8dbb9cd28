//! Reciprocal rank fusion against sums worked out by hand.

use claude_retrieval::{Hit, RRF_K, reciprocal_rank_fusion};

fn hits(ids: &[u64]) -> Vec<Hit> {
    ids.iter()
        .enumerate()
        .map(|(i, &id)| Hit {
            id,
            score: 100.0 - i as f32,
        })
        .collect()
}

#[test]
fn fused_scores_are_sums_of_reciprocal_ranks() {
    let dense = hits(&[1, 2, 3]);
    let lexical = hits(&[3, 4, 1]);
    let fused = reciprocal_rank_fusion(&[&dense, &lexical], 10);
    let r = |rank: f32| 1.0 / (RRF_K + rank);
    // 1: ranks 1 and 3; 3: ranks 3 and 1 (tie, lower id first); 2: rank 2; 4: rank 2.
    let expected = [
        (1, r(1.0) + r(3.0)),
        (3, r(3.0) + r(1.0)),
        (2, r(2.0)),
        (4, r(2.0)),
    ];
    assert_eq!(fused.len(), 4);
    for (hit, (id, score)) in fused.iter().zip(expected) {
        assert_eq!(hit.id, id);
        assert!((hit.score - score).abs() < 1e-7);
    }
    assert_eq!(reciprocal_rank_fusion(&[&dense, &lexical], 1).len(), 1);
    assert!(reciprocal_rank_fusion(&[], 3).is_empty());
}
