//! Per-call overhead of a tiny parallel loop (2 tasks that do nothing): `Team::global()` against
//! rayon's global pool, 100,000 calls each, mean µs per call. With empty tasks the caller of a
//! team often claims both before a worker joins, so a second measurement gives each task ~5 µs of
//! busy work (ideal: ~5 µs per call with 2 threads, ~10 µs serially) and counts the tasks that ran
//! on the team's worker.
//!
//! Run: `RAYON_NUM_THREADS=2 cargo run --release -p claude-tensors --example team_overhead`

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use claude_tensors::team::Team;
use rayon::prelude::*;

const CALLS: usize = 100_000;
/// Calls of the loop whose tasks do ~5 µs of work.
const BUSY_CALLS: usize = 20_000;

/// Spins for `duration`.
fn busy(duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        std::hint::spin_loop();
    }
}

/// Mean microseconds per call of `f` over `CALLS` calls.
fn mean_us(calls: usize, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..calls {
        f();
    }
    start.elapsed().as_secs_f64() * 1e6 / calls as f64
}

fn main() {
    let team = Team::global();
    let team_loop = || {
        team.for_each(2, &|i| {
            black_box(i);
        })
    };
    let rayon_loop = || {
        (0..2usize).into_par_iter().for_each(|i| {
            black_box(i);
        })
    };
    // Warm up: starts both pools' threads.
    for _ in 0..10_000 {
        team_loop();
        rayon_loop();
    }
    println!(
        "team: {} threads, rayon: {} threads, {CALLS} calls of a 2-task loop each",
        team.threads(),
        rayon::current_num_threads()
    );
    for round in 1..=2 {
        let team_us = mean_us(CALLS, team_loop);
        let rayon_us = mean_us(CALLS, rayon_loop);
        println!(
            "round {round}, empty tasks: Team::global().for_each {team_us:.3} µs/call, \
             rayon {rayon_us:.3} µs/call"
        );
    }
    let work = Duration::from_micros(5);
    let on_worker = AtomicU64::new(0);
    let team_busy = || {
        team.for_each(2, &|_| {
            busy(work);
            if std::thread::current()
                .name()
                .is_some_and(|name| name.starts_with("claude-team-"))
            {
                on_worker.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let rayon_busy = || (0..2usize).into_par_iter().for_each(|_| busy(work));
    for round in 1..=2 {
        on_worker.store(0, Ordering::Relaxed);
        let team_us = mean_us(BUSY_CALLS, team_busy);
        let worker_share = on_worker.load(Ordering::Relaxed) as f64 / (2 * BUSY_CALLS) as f64;
        let rayon_us = mean_us(BUSY_CALLS, rayon_busy);
        println!(
            "round {round}, 2 tasks of 5 µs: Team::global().for_each {team_us:.3} µs/call \
             ({:.0}% of tasks on the worker), rayon {rayon_us:.3} µs/call",
            worker_share * 100.0
        );
    }
}
