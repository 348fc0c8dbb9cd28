//! Data-parallel training across processes (and machines), in two parts with one job each:
//!
//! - [`tcp_ring`]: the network: a rendezvous at rank 0's address and a ring all-reduce of `f32`
//!   buffers over TCP (the part an MPI backend replaces);
//! - [`flat_gradients`]: what goes over it: every parameter's gradient flattened into one buffer
//!   with the loss and the stop votes, summed, and rebuilt; and which rows of each micro-batch a
//!   rank computes.

mod flat_gradients;
mod tcp_ring;

pub(crate) use flat_gradients::{all_reduce_gradients, rank_rows};
pub(crate) use tcp_ring::Group;
pub use tcp_ring::GroupConfig;
