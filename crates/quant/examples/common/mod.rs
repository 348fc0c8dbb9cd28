//! What the speed examples share (also read by `claude-tensors`' examples, through `#[path]`).

use std::time::{Duration, Instant};

/// Best time of `f` over enough repetitions to fill about 0.3 s: on a shared machine the run
/// least disturbed by its neighbours.
pub fn best(mut f: impl FnMut()) -> Duration {
    let mut best = Duration::MAX;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(300) {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
    }
    best
}
