//! Hybrid retrieval: rankings from different searches (dense and BM25) fused by reciprocal rank
//! (Cormack, Clarke and Büttcher, 2009): a chunk scores `sum 1 / (K + rank)` over the rankings
//! it appears in (ranks from 1), so agreement between searches counts and neither search's score
//! scale matters.

use std::collections::HashMap;

use crate::dense::{Hit, sort_hits};

/// The constant of reciprocal rank fusion, 60 as in the paper.
pub const RRF_K: f32 = 60.0;

/// The `k` best chunks of the fused `rankings` (each best first), scored by reciprocal rank,
/// best first (equal scores by id).
pub fn reciprocal_rank_fusion(rankings: &[&[Hit]], k: usize) -> Vec<Hit> {
    let mut scores: HashMap<u64, f32> = HashMap::new();
    for ranking in rankings {
        for (rank, hit) in ranking.iter().enumerate() {
            *scores.entry(hit.id).or_default() += 1.0 / (RRF_K + (rank + 1) as f32);
        }
    }
    let mut fused: Vec<Hit> = scores
        .into_iter()
        .map(|(id, score)| Hit { id, score })
        .collect();
    sort_hits(&mut fused);
    fused.truncate(k);
    fused
}
