//! Kernel outputs allocated without zeroing: a parallel kernel hands its output out to its tasks
//! in parts, and each task writes its part through `MaybeUninit` or, where the kernel takes
//! `&mut [f32]`, zeroes it just before it writes it. A zeroed allocation had
//! cleared each output whole on the calling thread, over memory the weights' streaming had
//! pushed out of the caches, while the team's other threads waited: 1-3% of a batched decode
//! step on SmolLM2 for the rotary and attention outputs (depending on where the allocator put
//! them), 3% for the gate's under glibc's allocator.

use std::mem::MaybeUninit;

/// `len` values not yet written, for [`zeroed`] parts and [`written`].
pub(crate) fn unwritten(len: usize) -> Box<[MaybeUninit<f32>]> {
    Box::new_uninit_slice(len)
}

/// `part` set to zeros, as the kernel's values to write.
pub(crate) fn zeroed(part: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    part.fill(MaybeUninit::new(0.0));
    // SAFETY: every element was initialised just above, and `MaybeUninit<f32>` has the size,
    // alignment and ABI of `f32`.
    unsafe { &mut *(std::ptr::from_mut(part) as *mut [f32]) }
}

/// The output once every part of it was written (or went through [`zeroed`]).
///
/// # Safety
/// Every element of `out` must have been initialised (each part passed to [`zeroed`] or
/// written).
pub(crate) unsafe fn written(out: Box<[MaybeUninit<f32>]>) -> Vec<f32> {
    // SAFETY: the caller initialised every element.
    unsafe { out.assume_init() }.into_vec()
}
