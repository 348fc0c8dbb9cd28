//! A persistent team of worker threads for the small parallel loops of CPU decoding.
//!
//! Generating one token on the CPU runs ~120 parallel loops of 20-200 µs each. Through rayon,
//! every one of them wakes the pool's sleeping workers (a futex wake each) and, once done, the
//! workers spin a little, `sched_yield` and park again: on 2 cores that per-call wake/park costs
//! about 15% of a decode step. A [`Team`] works like an OpenMP team instead: its workers stay
//! alive between loops, wait for the next one by spinning briefly, and the calling thread takes
//! tasks from the same atomic counter as the workers, so a loop that arrives while the workers
//! are still spinning costs a few atomic operations and no system call.
//!
//! The spin is bounded (~30 µs for a worker, ~50 µs for a caller waiting on workers) and then
//! the thread parks: our machines are 2 shared virtual cores, where a thread that spins for long
//! steals the core from the one it waits for. A worker that is asleep or descheduled when a loop
//! arrives does not hold it up either: workers join a loop only while it is open, and the caller,
//! once every task is claimed, closes it and waits only for the workers that joined.
//!
//! A loop arriving while the team is busy (another thread's loop, or a loop nested inside a task)
//! runs serially on its calling thread, so nothing ever waits on the team it is part of.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

/// How long a worker spins waiting for the next loop before it parks.
const WORKER_SPIN: Duration = Duration::from_micros(30);
/// How long a caller spins waiting for the workers of its loop before it parks.
const CALLER_SPIN: Duration = Duration::from_micros(50);
/// Spin iterations between two clock reads.
const SPINS_PER_CLOCK_CHECK: u32 = 64;

// The team's state word: the number of workers in the current loop (low bits), whether the loop
// is open to more workers, and the loop's generation (high bits), which every new loop bumps.
const REFS_MASK: u64 = (1 << 16) - 1;
const OPEN: u64 = 1 << 16;
const GENERATION_SHIFT: u32 = 17;
/// At most this many workers (the refs field must not overflow into OPEN).
const MAX_WORKERS: usize = REFS_MASK as usize;

fn generation(state: u64) -> u64 {
    state >> GENERATION_SHIFT
}

fn refs(state: u64) -> u64 {
    state & REFS_MASK
}

/// The loop body handed to the workers, its lifetime erased (see `Team::for_each`).
type ErasedTask = &'static (dyn Fn(usize) + Sync);

/// A panic payload caught from a task.
type Payload = Box<dyn Any + Send>;

/// The current loop.
#[derive(Clone, Copy)]
struct Job {
    task: ErasedTask,
    tasks: usize,
}

/// Keeps a hot atomic on a cache line of its own.
#[repr(align(128))]
struct Padded<T>(T);

/// What the owner of the team and its workers share.
struct Shared {
    /// Generation, OPEN flag and the count of workers inside the current loop.
    state: Padded<AtomicU64>,
    /// The next task index to claim in the current loop.
    next: Padded<AtomicUsize>,
    /// The current loop; `Some` only while a loop runs on the team.
    job: Mutex<Option<Job>>,
    /// The first panic caught in the current loop.
    panic: Mutex<Option<Payload>>,
    /// One flag per worker: set while it is (about to be) parked waiting for a loop.
    sleeping: Vec<Padded<AtomicBool>>,
    /// Set while the caller is (about to be) parked waiting for the last worker to leave.
    caller_waiting: AtomicBool,
    /// The caller to unpark when `caller_waiting`.
    caller: Mutex<Option<Thread>>,
    /// Set while a thread runs a loop on the team (its [`Owner`]).
    busy: AtomicBool,
    /// Set when the team is dropped: the workers exit.
    shutdown: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; a poisoned one still holds consistent data.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Keeps the first panic of a loop (later ones are dropped, outside the lock).
    fn record_panic(&self, payload: Payload) {
        let mut slot = lock(&self.panic);
        if slot.is_none() {
            *slot = Some(payload);
        } else {
            drop(slot);
            drop(payload);
        }
    }

    /// Claims and runs tasks of the current loop until none is left; catches panics.
    fn run_share(&self, task: &(dyn Fn(usize) + Sync), tasks: usize) {
        loop {
            let i = self.next.0.fetch_add(1, Ordering::Relaxed);
            if i >= tasks {
                return;
            }
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| task(i))) {
                self.record_panic(payload);
            }
        }
    }
}

/// A fixed team of worker threads that run parallel loops for the calling thread.
///
/// See the [module documentation](self) for why it exists next to rayon.
pub struct Team {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Team {
    /// A team where the caller plus `threads - 1` workers share each loop (threads >= 1; 1 = run
    /// inline). A `threads` of 0 counts as 1; a worker that cannot be spawned leaves the team a
    /// thread short.
    pub fn new(threads: usize) -> Team {
        let wanted = threads.clamp(1, MAX_WORKERS + 1) - 1;
        let shared = Arc::new(Shared {
            state: Padded(AtomicU64::new(0)),
            next: Padded(AtomicUsize::new(0)),
            job: Mutex::new(None),
            panic: Mutex::new(None),
            sleeping: (0..wanted)
                .map(|_| Padded(AtomicBool::new(false)))
                .collect(),
            caller_waiting: AtomicBool::new(false),
            caller: Mutex::new(None),
            busy: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
        });
        let mut workers = Vec::with_capacity(wanted);
        for index in 0..wanted {
            let worker_shared = Arc::clone(&shared);
            let spawned = thread::Builder::new()
                .name(format!("claude-team-{}", index + 1))
                .spawn(move || worker_main(&worker_shared, index));
            match spawned {
                Ok(handle) => workers.push(handle),
                Err(_) => break,
            }
        }
        Team { shared, workers }
    }

    /// The process-wide team, built on first use with `std::env::var("RAYON_NUM_THREADS")`
    /// threads if set and > 0, else `std::thread::available_parallelism()`.
    pub fn global() -> &'static Team {
        static GLOBAL: OnceLock<Team> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let from_env = std::env::var("RAYON_NUM_THREADS")
                .ok()
                .and_then(|value| value.trim().parse::<usize>().ok())
                .filter(|&threads| threads > 0);
            let threads = from_env.unwrap_or_else(|| {
                thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            });
            Team::new(threads)
        })
    }

    /// Number of threads that share a loop (the caller included).
    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Calls `task(i)` once for every `i in 0..tasks`, spread over the team (the caller works
    /// too: it takes tasks like the workers), and returns when all have run.
    ///
    /// Tasks are claimed one at a time from a shared counter, so uneven tasks balance. With one
    /// task or one thread, or while the team is busy with another loop (another thread's, or the
    /// one this call is nested in), the loop runs serially on the calling thread. A panicking
    /// task does not stop the others: once all have run, the first panic is resumed here.
    pub fn for_each(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        if tasks == 0 {
            return;
        }
        if tasks == 1 || self.workers.is_empty() {
            return run_inline(tasks, task);
        }
        let Some(owner) = Owner::try_own(&self.shared) else {
            return run_inline(tasks, task);
        };
        // SAFETY: only the lifetime is changed. The erased reference is stored in `Shared::job`
        // by `Running::start` below and read only by workers that joined the loop (a successful
        // compare-exchange on `state` while it is open with this loop's generation), which use
        // it only until they leave (decrement `state`). `running` is dropped before this function
        // returns, and also while it unwinds; its `Drop` closes the loop (no worker can join it
        // any more), waits until every worker that joined has left, and clears `Shared::job`.
        // So no thread can touch `task` once this function has returned or unwound.
        let erased: ErasedTask =
            unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), ErasedTask>(task) };
        let running = Running::start(
            self,
            Job {
                task: erased,
                tasks,
            },
        );
        self.shared.run_share(task, tasks);
        drop(running);
        let panic = lock(&self.shared.panic).take();
        drop(owner);
        if let Some(payload) = panic {
            resume_unwind(payload);
        }
    }

    /// Calls `task(i, chunk)` for every chunk `i` of `chunk_len` elements of `data` (the last
    /// one may be shorter), spread over the team as [`for_each`](Self::for_each) spreads
    /// indices: each task writes its own part of one output.
    ///
    /// # Panics
    /// If `chunk_len` is 0, and as [`for_each`](Self::for_each) when a task panics.
    pub fn for_each_chunk<T: Send>(
        &self,
        data: &mut [T],
        chunk_len: usize,
        task: &(dyn Fn(usize, &mut [T]) + Sync),
    ) {
        assert!(chunk_len > 0, "chunks of at least one element");
        let len = data.len();
        let base = SharedSlice(data.as_mut_ptr());
        self.for_each(len.div_ceil(chunk_len), &|i| {
            let start = i * chunk_len;
            let end = (start + chunk_len).min(len);
            // SAFETY: `for_each` calls every index exactly once and returns only when all calls
            // have, so the chunks are disjoint, within `data`, and used while `data` is borrowed
            // mutably by this call.
            let chunk = unsafe { std::slice::from_raw_parts_mut(base.at(start), end - start) };
            task(i, chunk);
        });
    }

    /// Calls `task(i, a_chunk, b_chunk)` for every chunk `i` of `a_len` elements of `a` and
    /// the chunk `i` of `b_len` elements of `b`, spread over the team as
    /// [`for_each_chunk`](Self::for_each_chunk) spreads one slice's: each task writes its own
    /// part of two outputs (a row normalised and its 8-bit codes).
    ///
    /// # Panics
    /// If a chunk length is 0 or the two slices do not split into as many chunks, and as
    /// [`for_each`](Self::for_each) when a task panics.
    pub fn for_each_chunk_pair<A: Send, B: Send>(
        &self,
        (a, a_len): (&mut [A], usize),
        (b, b_len): (&mut [B], usize),
        task: &ChunkPairTask<'_, A, B>,
    ) {
        assert!(a_len > 0 && b_len > 0, "chunks of at least one element");
        let chunks = a.len().div_ceil(a_len);
        assert_eq!(
            chunks,
            b.len().div_ceil(b_len),
            "as many chunks in both slices"
        );
        let (a_total, b_total) = (a.len(), b.len());
        let (a_base, b_base) = (SharedSlice(a.as_mut_ptr()), SharedSlice(b.as_mut_ptr()));
        self.for_each(chunks, &|i| {
            let (a_start, b_start) = (i * a_len, i * b_len);
            let a_end = (a_start + a_len).min(a_total);
            let b_end = (b_start + b_len).min(b_total);
            // SAFETY: as in `for_each_chunk`, for each slice: every index is called once, so
            // the chunks of each slice are disjoint, and within it while it is borrowed.
            let (a, b) = unsafe {
                (
                    std::slice::from_raw_parts_mut(a_base.at(a_start), a_end - a_start),
                    std::slice::from_raw_parts_mut(b_base.at(b_start), b_end - b_start),
                )
            };
            task(i, a, b);
        });
    }

    /// Calls `task(i, block)` for every block `i` of `width` columns of `data`, a row-major
    /// matrix of rows of `row_len` (the last block may be narrower), spread over the team as
    /// [`for_each`](Self::for_each) spreads indices: each task writes its own columns of every
    /// row of one output (a product's outputs split by weight rows, written where they belong
    /// in the `[activation rows, weight rows]` result, with no transpose after).
    ///
    /// # Panics
    /// If `width` or `row_len` is 0 or `row_len` does not divide `data`'s length, and as
    /// [`for_each`](Self::for_each) when a task panics.
    pub fn for_each_column_block<T: Send>(
        &self,
        data: &mut [T],
        row_len: usize,
        width: usize,
        task: &(dyn Fn(usize, ColumnBlock<'_, T>) + Sync),
    ) {
        assert!(width > 0 && row_len > 0, "blocks of at least one column");
        assert!(data.len().is_multiple_of(row_len), "whole rows");
        let rows = data.len() / row_len;
        let base = SharedSlice(data.as_mut_ptr());
        self.for_each(row_len.div_ceil(width), &|i| {
            let first = i * width;
            task(
                i,
                ColumnBlock {
                    base: &base,
                    row_len,
                    rows,
                    first,
                    width: width.min(row_len - first),
                },
            );
        });
    }
}

/// Columns `first..first + width` of every row of a row-major matrix: one task's part of
/// [`Team::for_each_column_block`]'s output.
pub struct ColumnBlock<'a, T> {
    base: &'a SharedSlice<T>,
    row_len: usize,
    rows: usize,
    first: usize,
    width: usize,
}

impl<T> ColumnBlock<'_, T> {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The block's columns of row `r`.
    ///
    /// # Panics
    /// If `r` is not a row.
    pub fn row(&mut self, r: usize) -> &mut [T] {
        assert!(r < self.rows, "row {r} of {}", self.rows);
        // SAFETY: the columns `first..first + width` of row `r` lie within the matrix, and
        // `for_each_column_block` hands each block (a disjoint set of columns) to one task
        // only, while it borrows the matrix mutably; `&mut self` keeps one row borrowed at a
        // time.
        unsafe {
            let start = self.base.at(r * self.row_len + self.first);
            std::slice::from_raw_parts_mut(start, self.width)
        }
    }
}

/// A task of [`Team::for_each_chunk_pair`]: the chunk index and the two chunks.
pub type ChunkPairTask<'a, A, B> = dyn Fn(usize, &mut [A], &mut [B]) + Sync + 'a;

/// A slice's start handed to the tasks of [`Team::for_each_chunk`],
/// [`Team::for_each_chunk_pair`] and [`Team::for_each_column_block`], each of which takes its
/// own disjoint part.
struct SharedSlice<T>(*mut T);

// SAFETY: the tasks reach only disjoint parts of a slice of `Send` elements (see
// `Team::for_each_chunk` and `Team::for_each_column_block`), as `<[T]>::par_chunks_mut` hands
// them out.
unsafe impl<T: Send> Sync for SharedSlice<T> {}

impl<T> SharedSlice<T> {
    /// The element `offset` places after the start.
    ///
    /// # Safety
    /// `offset` must be within the slice.
    unsafe fn at(&self, offset: usize) -> *mut T {
        // SAFETY: the caller keeps `offset` within the slice.
        unsafe { self.0.add(offset) }
    }
}

impl Drop for Team {
    /// Stops the workers and joins them.
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        for worker in &self.workers {
            worker.thread().unpark();
        }
        for worker in self.workers.drain(..) {
            // A worker never panics (tasks run under `catch_unwind`).
            let _ = worker.join();
        }
    }
}

impl std::fmt::Debug for Team {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Team")
            .field("threads", &self.threads())
            .finish_non_exhaustive()
    }
}

/// Runs a loop serially on the calling thread, with the team's panic behavior.
fn run_inline(tasks: usize, task: &(dyn Fn(usize) + Sync)) {
    let mut first_panic = None;
    for i in 0..tasks {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| task(i))) {
            first_panic.get_or_insert(payload);
        }
    }
    if let Some(payload) = first_panic {
        resume_unwind(payload);
    }
}

/// Ownership of the team for one loop: at most one thread runs a loop on it at a time.
struct Owner<'a> {
    shared: &'a Shared,
}

impl<'a> Owner<'a> {
    /// Takes the team if no other loop runs on it.
    fn try_own(shared: &'a Shared) -> Option<Owner<'a>> {
        shared
            .busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Owner { shared })
    }
}

impl Drop for Owner<'_> {
    fn drop(&mut self) {
        self.shared.busy.store(false, Ordering::Release);
    }
}

/// A loop published to the workers; dropping it closes the loop and waits for them.
struct Running<'a> {
    team: &'a Team,
}

impl<'a> Running<'a> {
    /// Publishes `job` as a new generation and wakes up to `tasks - 1` parked workers.
    fn start(team: &'a Team, job: Job) -> Running<'a> {
        let shared = &*team.shared;
        *lock(&shared.job) = Some(job);
        shared.next.0.store(0, Ordering::Relaxed);
        // Closed with no worker inside: nobody else writes `state` now.
        let state = shared.state.0.load(Ordering::Relaxed);
        debug_assert!(state & OPEN == 0 && refs(state) == 0);
        let published = ((generation(state) + 1) << GENERATION_SHIFT) | OPEN;
        // SeqCst: pairs with a parking worker's store to its `sleeping` flag and its load of
        // `state` (either it sees this generation or we see its flag).
        shared.state.0.store(published, Ordering::SeqCst);
        let running = Running { team };
        let wanted = job.tasks - 1;
        let mut woken = 0;
        for (flag, worker) in shared.sleeping.iter().zip(&team.workers) {
            if woken >= wanted {
                break;
            }
            if flag.0.load(Ordering::SeqCst) && flag.0.swap(false, Ordering::SeqCst) {
                worker.thread().unpark();
                woken += 1;
            }
        }
        running
    }
}

impl Drop for Running<'_> {
    /// Closes the loop and returns once every worker that joined it has left.
    fn drop(&mut self) {
        let shared = &*self.team.shared;
        let state = shared.state.0.fetch_and(!OPEN, Ordering::SeqCst);
        if refs(state) != 0 {
            wait_for_workers(shared);
        }
        *lock(&shared.job) = None;
    }
}

/// Spins, then parks, until no worker is inside the (closed) loop.
fn wait_for_workers(shared: &Shared) {
    let start = Instant::now();
    let mut spins = 0u32;
    loop {
        if refs(shared.state.0.load(Ordering::Acquire)) == 0 {
            return;
        }
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(SPINS_PER_CLOCK_CHECK) && start.elapsed() >= CALLER_SPIN {
            break;
        }
    }
    *lock(&shared.caller) = Some(thread::current());
    loop {
        // SeqCst pairs with the last worker's decrement of `state` and its swap of this flag:
        // either we see no worker left, or it sees the flag and unparks us.
        shared.caller_waiting.store(true, Ordering::SeqCst);
        if refs(shared.state.0.load(Ordering::SeqCst)) == 0 {
            shared.caller_waiting.store(false, Ordering::Relaxed);
            return;
        }
        thread::park();
    }
}

/// A worker: waits for each new loop, joins it while it is open, takes tasks until none is left.
fn worker_main(shared: &Shared, index: usize) {
    let mut seen = 0;
    while let Some(state) = wait_for_loop(shared, index, seen) {
        seen = generation(state);
        if !try_join(shared, state) {
            continue;
        }
        {
            // Inside the loop (counted in `state`): the job stays in place until we leave, and
            // our copy of it goes out of scope before that.
            let job = lock(&shared.job).expect("a joined loop has a job");
            shared.run_share(job.task, job.tasks);
        }
        leave(shared);
    }
}

/// Waits (spin, then park) for a generation other than `seen`; `None` on shutdown.
fn wait_for_loop(shared: &Shared, index: usize, seen: u64) -> Option<u64> {
    let start = Instant::now();
    let mut spins = 0u32;
    loop {
        let state = shared.state.0.load(Ordering::Acquire);
        if generation(state) != seen {
            return Some(state);
        }
        if shared.shutdown.load(Ordering::Relaxed) {
            return None;
        }
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(SPINS_PER_CLOCK_CHECK) && start.elapsed() >= WORKER_SPIN {
            break;
        }
    }
    let flag = &shared.sleeping[index].0;
    loop {
        // SeqCst pairs with `Running::start`: either we see its generation or it sees our flag.
        flag.store(true, Ordering::SeqCst);
        let state = shared.state.0.load(Ordering::SeqCst);
        let shutdown = shared.shutdown.load(Ordering::SeqCst);
        if generation(state) != seen || shutdown {
            flag.store(false, Ordering::Relaxed);
            return (!shutdown).then_some(state);
        }
        thread::park();
    }
}

/// Enters the loop of `observed`'s generation if it is still open.
fn try_join(shared: &Shared, observed: u64) -> bool {
    let mut state = observed;
    loop {
        if state & OPEN == 0 || generation(state) != generation(observed) {
            return false;
        }
        match shared.state.0.compare_exchange_weak(
            state,
            state + 1,
            Ordering::SeqCst,
            Ordering::Acquire,
        ) {
            Ok(_) => return true,
            Err(current) => state = current,
        }
    }
}

/// Leaves the current loop; the last worker out of a closed loop wakes a parked caller.
fn leave(shared: &Shared) {
    let before = shared.state.0.fetch_sub(1, Ordering::SeqCst);
    if refs(before) == 1
        && before & OPEN == 0
        && shared.caller_waiting.swap(false, Ordering::SeqCst)
        && let Some(caller) = lock(&shared.caller).as_ref()
    {
        caller.unpark();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    fn counts(team: &Team, tasks: usize) -> Vec<u64> {
        let hits: Vec<AtomicU64> = (0..tasks).map(|_| AtomicU64::new(0)).collect();
        team.for_each(tasks, &|i| {
            hits[i].fetch_add(1, Ordering::Relaxed);
        });
        hits.into_iter().map(AtomicU64::into_inner).collect()
    }

    #[test]
    fn every_index_runs_exactly_once() {
        for threads in [1, 2, 4] {
            let team = Team::new(threads);
            assert_eq!(team.threads(), threads);
            for tasks in [0, 1, 2, 7, 1000] {
                for _ in 0..20 {
                    assert_eq!(
                        counts(&team, tasks),
                        vec![1; tasks],
                        "{threads} threads, {tasks} tasks"
                    );
                }
            }
        }
    }

    #[test]
    fn results_match_a_serial_loop() {
        let f = |i: usize| {
            (i as u64)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .rotate_left(17)
                ^ i as u64
        };
        let team = Team::new(3);
        for tasks in [2, 5, 64, 999] {
            let out: Vec<AtomicU64> = (0..tasks).map(|_| AtomicU64::new(0)).collect();
            team.for_each(tasks, &|i| out[i].store(f(i), Ordering::Relaxed));
            let serial: Vec<u64> = (0..tasks).map(f).collect();
            let parallel: Vec<u64> = out.into_iter().map(AtomicU64::into_inner).collect();
            assert_eq!(parallel, serial);
        }
    }

    #[test]
    fn column_blocks_cover_every_element_once() {
        for threads in [1, 2, 3] {
            let team = Team::new(threads);
            for (rows, row_len, width) in [(1, 5, 2), (3, 70, 16), (4, 33, 33), (2, 7, 100)] {
                let mut m = vec![usize::MAX; rows * row_len];
                team.for_each_column_block(&mut m, row_len, width, &|i, mut block| {
                    assert_eq!(block.rows(), rows);
                    for r in 0..rows {
                        for (c, value) in block.row(r).iter_mut().enumerate() {
                            assert_eq!(*value, usize::MAX, "written twice");
                            *value = r * row_len + i * width + c;
                        }
                    }
                });
                let expected: Vec<usize> = (0..rows * row_len).collect();
                assert_eq!(m, expected, "{rows} rows of {row_len} in blocks of {width}");
            }
        }
    }

    #[test]
    fn chunk_pairs_cover_both_slices_once_in_step() {
        for threads in [1, 2, 3] {
            let team = Team::new(threads);
            // 7 chunks of 5 (the last of 2) beside 7 chunks of 3 (the last of 1).
            let (mut a, mut b) = (vec![usize::MAX; 32], vec![usize::MAX; 19]);
            team.for_each_chunk_pair((&mut a, 5), (&mut b, 3), &|i, a, b| {
                assert_eq!(a.len(), if i == 6 { 2 } else { 5 });
                assert_eq!(b.len(), if i == 6 { 1 } else { 3 });
                a.iter_mut().for_each(|v| *v = i);
                b.iter_mut().for_each(|v| *v = i);
            });
            assert_eq!(a, (0..32).map(|k| k / 5).collect::<Vec<_>>());
            assert_eq!(b, (0..19).map(|k| k / 3).collect::<Vec<_>>());
        }
    }

    #[test]
    #[should_panic(expected = "as many chunks")]
    fn chunk_pairs_of_different_counts_are_refused() {
        let (mut a, mut b) = (vec![0u8; 10], vec![0u8; 10]);
        Team::new(2).for_each_chunk_pair((&mut a, 5), (&mut b, 2), &|_, _, _| {});
    }

    #[test]
    fn concurrent_callers_share_one_team() {
        let team = Team::new(3);
        thread::scope(|scope| {
            for caller in 0..4 {
                let team = &team;
                scope.spawn(move || {
                    for round in 0..200 {
                        let tasks = 1 + (caller * 7 + round) % 40;
                        assert_eq!(counts(team, tasks), vec![1; tasks]);
                    }
                });
            }
        });
        // Still usable afterwards.
        assert_eq!(counts(&team, 100), vec![1; 100]);
    }

    #[test]
    fn nested_loops_complete() {
        let team = Team::new(2);
        let total = AtomicU64::new(0);
        team.for_each(4, &|_| {
            team.for_each(5, &|j| {
                total.fetch_add(j as u64 + 1, Ordering::Relaxed);
            });
        });
        assert_eq!(total.into_inner(), 4 * 15);
    }

    #[test]
    fn a_panicking_task_reaches_the_caller_and_the_team_survives() {
        for threads in [1, 2, 4] {
            let team = Team::new(threads);
            let ran = AtomicU64::new(0);
            let result = catch_unwind(AssertUnwindSafe(|| {
                team.for_each(50, &|i| {
                    ran.fetch_add(1, Ordering::Relaxed);
                    if i == 13 {
                        panic!("task 13 fails");
                    }
                });
            }));
            let payload = result.expect_err("the panic reaches the caller");
            assert_eq!(payload.downcast_ref::<&str>(), Some(&"task 13 fails"));
            // The other tasks still ran.
            assert_eq!(ran.into_inner(), 50);
            assert_eq!(counts(&team, 100), vec![1; 100]);
        }
    }

    #[test]
    fn many_quick_loops_finish() {
        let team = Team::new(2);
        let total = AtomicU64::new(0);
        let start = Instant::now();
        for _ in 0..10_000 {
            team.for_each(2, &|i| {
                total.fetch_add(i as u64 + 1, Ordering::Relaxed);
            });
        }
        assert_eq!(total.into_inner(), 30_000);
        // Generous: a lost wakeup would hang instead.
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn workers_take_tasks() {
        let team = Team::new(2);
        let on_worker = AtomicU64::new(0);
        team.for_each(16, &|_| {
            thread::sleep(Duration::from_millis(2));
            if thread::current()
                .name()
                .is_some_and(|name| name.starts_with("claude-team-"))
            {
                on_worker.fetch_add(1, Ordering::Relaxed);
            }
        });
        assert!(on_worker.into_inner() > 0, "no task ran on a worker");
    }

    #[test]
    fn dropping_a_team_joins_its_workers() {
        for _ in 0..20 {
            let team = Team::new(4);
            assert_eq!(counts(&team, 10), vec![1; 10]);
            drop(team);
        }
        // Never used: the workers exit straight from their first wait.
        drop(Team::new(3));
    }

    #[test]
    fn the_global_team_works() {
        let team = Team::global();
        assert!(team.threads() >= 1);
        assert!(std::ptr::eq(team, Team::global()));
        assert_eq!(counts(team, 33), vec![1; 33]);
    }
}
