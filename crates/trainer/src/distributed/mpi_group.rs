//! The process group of a run launched by `mpirun` or `srun`: MPI says how many processes there
//! are, which one this is and which of its machine's processes (the local rank, to pick a GPU);
//! the ranks agree on the run before the first step; gradients are summed with a non-blocking
//! all-reduce that has a deadline, and a panicking rank takes the whole job down.
//!
//! MPI through the `mpi` crate (rsmpi), without its libffi-based user-defined operations: a sum
//! of `f32` is a system operation.

use std::backtrace::BacktraceStatus;
use std::fmt;
use std::io::Write;
use std::time::{Duration, Instant};

use ::mpi::collective::SystemOperation;
use ::mpi::environment::Universe;
use ::mpi::topology::{Process, SimpleCommunicator};
use ::mpi::traits::*;

use crate::error::{Error, Result};

/// MPI, initialized for this process: its rank, the world size and its local rank.
///
/// Create it once, before training, and keep it until the process ends (dropping it finalizes
/// MPI, which cannot start again). When a rank fails on its own while the others may be waiting
/// in a collective, end the job with [`Mpi::abort`]: returning normally would leave them waiting.
pub struct Mpi {
    _universe: Universe,
    rank: usize,
    world_size: usize,
    local_rank: usize,
}

impl Mpi {
    /// Initializes MPI (a process started without a launcher is a world of one) and makes a
    /// panic on any thread abort the whole job, so the other ranks do not wait forever.
    pub fn initialize() -> Result<Mpi> {
        let universe = ::mpi::initialize().ok_or_else(|| {
            Error::Distributed("MPI is already initialized in this process".into())
        })?;
        let world = universe.world();
        let local_rank = world.split_shared(world.rank()).rank();
        let mpi = Mpi {
            rank: world.rank() as usize,
            world_size: world.size() as usize,
            local_rank: local_rank as usize,
            _universe: universe,
        };
        if mpi.world_size > 1 {
            abort_on_panic(mpi.rank);
        }
        Ok(mpi)
    }

    /// This process's rank, `0..world_size`.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Number of processes in the job.
    pub fn world_size(&self) -> usize {
        self.world_size
    }

    /// This process's index among the job's processes on the same machine (which GPU to use).
    pub fn local_rank(&self) -> usize {
        self.local_rank
    }

    /// Prints `reason` on one line of standard error, then ends every process of the job with
    /// `code` (`MPI_Abort`).
    pub fn abort(&self, code: i32, reason: &str) -> ! {
        abort_job(code, reason)
    }
}

/// Prints `reason` as one line in a single write, then `MPI_Abort`s the job with `code`.
///
/// `eprintln!` writes each formatted piece separately, and `mpirun` forwards the ranks' output
/// in the chunks it reads: the abort message it prints itself could land in the middle of the
/// line.
fn abort_job(code: i32, reason: &str) -> ! {
    let _ = std::io::stderr().write_all(format!("{reason}\n").as_bytes());
    SimpleCommunicator::world().abort(code)
}

impl fmt::Debug for Mpi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mpi")
            .field("rank", &self.rank)
            .field("world_size", &self.world_size)
            .field("local_rank", &self.local_rank)
            .finish()
    }
}

/// Prints a panic as one report (its place, its message and, where `RUST_BACKTRACE` asks, the
/// backtrace) and `MPI_Abort`s the job: otherwise the other ranks would wait for this one in
/// their next all-reduce, and `mpirun` for them.
fn abort_on_panic(rank: usize) {
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload_as_str()
            .unwrap_or("(a panic without a message)");
        let place = info
            .location()
            .map(|at| format!(" at {at}"))
            .unwrap_or_default();
        let backtrace = std::backtrace::Backtrace::capture();
        let backtrace = match backtrace.status() {
            BacktraceStatus::Captured => format!("\n{backtrace}"),
            _ => String::new(),
        };
        abort_job(
            101,
            &format!("rank {rank} panicked{place}: {message}; aborting the MPI job{backtrace}"),
        );
    }));
}

/// The ranks of a run as one group: agreement, then sums of gradients.
pub(crate) struct Group {
    /// `MPI_COMM_WORLD`, when the run has more than one rank.
    world: Option<SimpleCommunicator>,
    rank: usize,
    world_size: usize,
    /// How long a reduction may wait for the slowest rank.
    timeout: Duration,
    /// Time spent in reductions so far.
    communicating: Duration,
}

impl Group {
    /// A group of one process: reductions leave buffers unchanged.
    pub fn single() -> Self {
        Group {
            world: None,
            rank: 0,
            world_size: 1,
            timeout: Duration::MAX,
            communicating: Duration::ZERO,
        }
    }

    /// The group of every rank of `mpi`, once they agree on `fingerprint` (config, data,
    /// starting step): otherwise every rank returns the same error, naming the first rank that
    /// differs from rank 0 and the first field where it does. A reduction that waits longer
    /// than `timeout` for the other ranks aborts the job.
    pub fn join(mpi: &Mpi, fingerprint: &serde_json::Value, timeout: Duration) -> Result<Self> {
        if mpi.world_size == 1 {
            return Ok(Group::single());
        }
        let world = SimpleCommunicator::world();
        let root = world.process_at_rank(0);
        let ours = serde_json::to_vec(fingerprint).expect("a JSON value serializes");
        let rank0: serde_json::Value = serde_json::from_slice(&broadcast_bytes(&root, &ours))
            .map_err(|e| Error::Distributed(format!("rank 0's run description: {e}")))?;
        let mismatch = first_difference(&rank0, fingerprint, "").map(|(field, theirs, ours)| {
            format!(
                "rank {} does not match rank 0: {field} is {ours} on rank {}, {theirs} on rank 0",
                mpi.rank, mpi.rank
            )
        });
        let candidate = if mismatch.is_some() {
            mpi.rank
        } else {
            mpi.world_size
        } as i32;
        let mut first_mismatch = 0i32;
        world.all_reduce_into(&candidate, &mut first_mismatch, SystemOperation::min());
        if first_mismatch as usize != mpi.world_size {
            let message = broadcast_bytes(
                &world.process_at_rank(first_mismatch),
                mismatch.unwrap_or_default().as_bytes(),
            );
            return Err(Error::Distributed(
                String::from_utf8_lossy(&message).into_owned(),
            ));
        }
        Ok(Group {
            world: Some(world),
            rank: mpi.rank,
            world_size: mpi.world_size,
            timeout,
            communicating: Duration::ZERO,
        })
    }

    /// Number of processes.
    pub fn world_size(&self) -> usize {
        self.world_size
    }

    /// Time spent in [`Group::all_reduce_sum`] so far.
    pub fn communicating(&self) -> Duration {
        self.communicating
    }

    /// Replaces `values` on every rank by the element-wise sum over all ranks (bit-identical on
    /// every rank). Every rank calls it with a buffer of the same length for step `step`; if the
    /// others have not all arrived within the timeout, one of them is stuck or stopped, and this
    /// rank aborts the job naming the step (a collective cannot be cancelled).
    pub fn all_reduce_sum(&mut self, values: &mut [f32], step: usize) {
        let Some(world) = &self.world else {
            return;
        };
        let started = Instant::now();
        let send = values.to_vec();
        ::mpi::request::scope(|scope| {
            let mut request =
                world.immediate_all_reduce_into(scope, &send[..], values, SystemOperation::sum());
            let mut polls = 0u32;
            loop {
                match request.test() {
                    Ok(_) => return,
                    Err(pending) => request = pending,
                }
                if started.elapsed() > self.timeout {
                    // Still inside the scope: dropping a pending request would panic.
                    abort_job(
                        2,
                        &format!(
                            "error: step {step}: rank {} waited {} s for the other ranks' \
                             gradients: a rank is stuck, stopped or slower than --mpi-timeout; \
                             aborting the job",
                            self.rank,
                            self.timeout.as_secs()
                        ),
                    );
                }
                // MPI progresses only inside its calls: poll often, but let the other ranks of
                // an oversubscribed machine run.
                polls += 1;
                if polls < 1000 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        });
        self.communicating += started.elapsed();
    }
}

/// `bytes` of `root` on every rank (their length first).
fn broadcast_bytes(root: &Process<'_>, bytes: &[u8]) -> Vec<u8> {
    let is_root = root.is_self();
    let mut len = bytes.len() as u64;
    root.broadcast_into(&mut len);
    let mut buffer = if is_root {
        bytes.to_vec()
    } else {
        vec![0u8; len as usize]
    };
    root.broadcast_into(&mut buffer[..]);
    buffer
}

/// The first place where two JSON values differ: its path and both values.
fn first_difference(
    ours: &serde_json::Value,
    theirs: &serde_json::Value,
    path: &str,
) -> Option<(String, String, String)> {
    use serde_json::Value;
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|key| {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let (x, y) = (
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                );
                first_difference(x, y, &child)
            })
        }
        _ if ours == theirs => None,
        _ => Some((path.to_string(), ours.to_string(), theirs.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_difference_is_found_by_path() {
        let a = json!({"train": {"batch_size": 4, "seed": 1}, "model": {"n_layer": 2}});
        let mut b = a.clone();
        b["train"]["batch_size"] = json!(8);
        b["model"]["n_layer"] = json!(3);
        assert_eq!(
            first_difference(&a, &b, ""),
            Some(("model.n_layer".into(), "2".into(), "3".into()))
        );
        assert_eq!(first_difference(&a, &a, ""), None);
    }
}
