//! rayon's thread pool for a training run.
//!
//! The training loop runs on the main thread and every tensor op fans out over rayon. Outside the
//! pool, the main thread hands each op to the workers and sleeps until they finish: a wake-up on
//! each side per op, hundreds of ops per step (a tenth of a small-config step went to the
//! kernel's scheduler). As one of the pool's threads it runs its share of each op itself.
//! Measured on 2 cores, `shakespeare-char-small` with learned positions, median tokens/s over 80
//! steps, four alternating runs: 18,584-18,978 outside the pool, 20,205-20,979 inside.

/// Makes the calling thread one of the threads of rayon's global pool (which then starts one
/// worker fewer). Call first thing, before anything uses rayon; later calls do nothing.
///
/// Only for a thread that runs the tensor ops itself: while it waits on something else (a
/// server's event loop, data-parallel worker threads) the pool is a thread short.
pub fn main_thread_joins_pool() {
    // Fails only when the global pool already exists; it then stays as it is.
    let _ = rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global();
}

/// Runs `f` on the calling thread as one of the threads of a new rayon pool (of the global
/// pool's size), so that every tensor op in `f` runs a share on this thread, as
/// [`main_thread_joins_pool`] arranges for the main thread. For a thread that runs the model but
/// starts after the global pool exists, such as a server's engine thread: outside any pool, it
/// hands each of a decode step's few hundred small ops to sleeping workers and sleeps until they
/// finish. Without such a pool (it cannot be built), `f` runs as it would have.
pub fn run_as_pool_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(rayon::current_num_threads())
        .use_current_thread()
        .build();
    match pool {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}
