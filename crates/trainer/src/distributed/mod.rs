//! Data-parallel training across processes and machines, launched by `mpirun` or `srun`, in two
//! parts with one job each:
//!
//! - `mpi_group`: the processes: MPI's rank, world size and local rank, agreement on the run
//!   before the first step, and a sum of `f32` buffers with a deadline (with the `mpi` feature;
//!   without it, a group of one and an error that says how to rebuild);
//! - [`flat_gradients`]: what goes over it: every parameter's gradient flattened into one buffer
//!   with the loss and the stop votes, summed, and rebuilt; and which rows of each micro-batch a
//!   rank computes.

mod flat_gradients;
#[cfg(feature = "mpi")]
mod mpi_group;
#[cfg(not(feature = "mpi"))]
#[path = "without_mpi.rs"]
mod mpi_group;

pub(crate) use flat_gradients::{all_reduce_gradients, rank_rows};
pub(crate) use mpi_group::Group;
pub use mpi_group::Mpi;
