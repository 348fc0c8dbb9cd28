//! The process group of a build without the `mpi` feature: always one process, and asking for
//! MPI says how to rebuild.

use std::time::Duration;

use crate::error::{Error, Result};

/// MPI, in a build without it: [`Mpi::initialize`] explains how to get it; no value exists.
#[derive(Debug)]
pub enum Mpi {}

impl Mpi {
    /// Always an error in this build: it names the `mpi` feature and what it needs.
    pub fn initialize() -> Result<Mpi> {
        Err(Error::Distributed(
            "this claude-rust was built without MPI: install an MPI library (e.g. Debian's \
             libopenmpi-dev openmpi-bin, with libclang-dev for the bindings) and rebuild with \
             `cargo build --release --features mpi`"
                .into(),
        ))
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        match *self {}
    }

    /// Number of processes in the job.
    pub fn world_size(&self) -> usize {
        match *self {}
    }

    /// This process's index among the job's processes on the same machine.
    pub fn local_rank(&self) -> usize {
        match *self {}
    }

    /// Prints `reason`, then ends every process of the job with `code`.
    pub fn abort(&self, _code: i32, _reason: &str) -> ! {
        match *self {}
    }
}

/// A group of one process.
pub(crate) struct Group;

impl Group {
    /// A group of one process: reductions leave buffers unchanged.
    pub fn single() -> Self {
        Group
    }

    /// Unreachable: no [`Mpi`] exists in this build.
    pub fn join(mpi: &Mpi, _fingerprint: &serde_json::Value, _timeout: Duration) -> Result<Self> {
        match *mpi {}
    }

    /// Number of processes: one.
    pub fn world_size(&self) -> usize {
        1
    }

    /// Time spent communicating: none.
    pub fn communicating(&self) -> Duration {
        Duration::ZERO
    }

    /// The sum over one rank: `values` unchanged.
    pub fn all_reduce_sum(&mut self, _values: &mut [f32], _step: usize) {}
}
