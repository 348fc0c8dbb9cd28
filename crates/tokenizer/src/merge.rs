//! Applying learned merges to one pre-token: the inner loop of encoding.
//!
//! BPE encodes a piece by repeatedly merging the adjacent pair with the lowest merge rank (the
//! earliest learned), leftmost first among equals, until no adjacent pair has a merge. Short
//! pieces use a plain scan (fast for the few symbols of a typical word); long ones (a line of
//! CJK text, a run of spaces) use a heap over a linked list, so a piece of n bytes costs
//! O(n log n) rather than O(n²).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

/// Merge table: `(left, right)` packed in a `u64` -> `(rank, merged id)`.
#[derive(Debug, Clone, Default)]
pub struct MergeTable {
    merges: FxHashMap<u64, (u32, u32)>,
}

/// Pieces longer than this many symbols use the heap-based merge.
const SCAN_LIMIT: usize = 48;

#[inline]
fn key(left: u32, right: u32) -> u64 {
    (u64::from(left) << 32) | u64::from(right)
}

impl MergeTable {
    /// Adds the merge `left + right -> merged` with the given rank.
    pub fn insert(&mut self, left: u32, right: u32, rank: u32, merged: u32) {
        self.merges.insert(key(left, right), (rank, merged));
    }

    /// The `(rank, merged id)` of a pair, if it was learned.
    #[inline]
    pub fn get(&self, left: u32, right: u32) -> Option<(u32, u32)> {
        self.merges.get(&key(left, right)).copied()
    }

    /// Merges `symbols` (initially one id per byte) in place until no learned pair is left.
    pub fn apply(&self, symbols: &mut Vec<u32>) {
        if symbols.len() <= SCAN_LIMIT {
            self.apply_by_scan(symbols);
        } else {
            self.apply_by_heap(symbols);
        }
    }

    fn apply_by_scan(&self, symbols: &mut Vec<u32>) {
        loop {
            let mut best: Option<(u32, usize, u32)> = None;
            for i in 0..symbols.len().saturating_sub(1) {
                if let Some((rank, merged)) = self.get(symbols[i], symbols[i + 1])
                    && best.is_none_or(|(best_rank, _, _)| rank < best_rank)
                {
                    best = Some((rank, i, merged));
                }
            }
            let Some((_, i, merged)) = best else { return };
            symbols[i] = merged;
            symbols.remove(i + 1);
        }
    }

    fn apply_by_heap(&self, symbols: &mut Vec<u32>) {
        const NONE: usize = usize::MAX;
        let n = symbols.len();
        let mut next: Vec<usize> = (1..=n).map(|i| if i == n { NONE } else { i }).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| if i == 0 { NONE } else { i - 1 }).collect();
        let mut alive = vec![true; n];
        // Entries: (rank, position of the left symbol, the right symbol id expected there).
        let mut heap = BinaryHeap::new();
        for i in 0..n - 1 {
            if let Some((rank, _)) = self.get(symbols[i], symbols[i + 1]) {
                heap.push(Reverse((rank, i, symbols[i], symbols[i + 1])));
            }
        }
        while let Some(Reverse((rank, i, left, right))) = heap.pop() {
            let j = next[i];
            // Stale when either symbol has changed since the entry was pushed.
            if !alive[i] || j == NONE || symbols[i] != left || symbols[j] != right {
                continue;
            }
            let merged = match self.get(left, right) {
                Some((r, merged)) if r == rank => merged,
                _ => continue,
            };
            symbols[i] = merged;
            alive[j] = false;
            next[i] = next[j];
            if next[j] != NONE {
                prev[next[j]] = i;
            }
            if prev[i] != NONE {
                let p = prev[i];
                if let Some((r, _)) = self.get(symbols[p], merged) {
                    heap.push(Reverse((r, p, symbols[p], merged)));
                }
            }
            if next[i] != NONE {
                let k = next[i];
                if let Some((r, _)) = self.get(merged, symbols[k]) {
                    heap.push(Reverse((r, i, merged, symbols[k])));
                }
            }
        }
        let mut write = 0;
        for read in 0..n {
            if alive[read] {
                symbols[write] = symbols[read];
                write += 1;
            }
        }
        symbols.truncate(write);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Merges over the alphabet {0, 1, 2}: ids 3.. are merged symbols.
    fn table() -> MergeTable {
        let mut t = MergeTable::default();
        t.insert(0, 0, 0, 3); // aa
        t.insert(3, 1, 1, 4); // aab
        t.insert(1, 2, 2, 5); // bc
        t.insert(3, 3, 3, 6); // aaaa
        t.insert(0, 5, 4, 7); // abc
        t
    }

    #[test]
    fn lowest_rank_first_and_leftmost_among_equals() {
        let t = table();
        let mut s = vec![0, 0, 0];
        t.apply(&mut s);
        assert_eq!(s, [3, 0]);
        let mut s = vec![0, 0, 1, 2];
        t.apply(&mut s);
        // aa (rank 0) first, then aab (rank 1), leaving c.
        assert_eq!(s, [4, 2]);
        let mut s = vec![0, 1, 2];
        t.apply(&mut s);
        assert_eq!(s, [7]);
    }

    proptest! {
        #[test]
        fn heap_and_scan_agree(symbols in proptest::collection::vec(0u32..3, 0..200)) {
            let t = table();
            let mut by_scan = symbols.clone();
            t.apply_by_scan(&mut by_scan);
            let mut by_heap = symbols.clone();
            if !by_heap.is_empty() {
                t.apply_by_heap(&mut by_heap);
            }
            prop_assert_eq!(by_scan, by_heap);
        }
    }
}
