//! The memory allocator of the `claude-rust` binary and of the benchmark examples (which measure
//! what the binary runs).
//!
//! Training frees and reallocates the same large activation buffers every step. glibc's malloc
//! returns them to the kernel each time, and so does mimalloc by default 10 ms after a free; the
//! next step then page-faults and zeroes every page again (a third of a 6x384 training step on
//! the CPU went to the kernel's `clear_page`). mimalloc told to keep freed pages reuses them.
//! Measured on 2 cores: 860 -> 1,316 tokens/s on `shakespeare-char`, 7,921 -> 8,477 on the small
//! config.

/// The global allocator to declare in a binary (`#[global_allocator] static ALLOCATOR:
/// Allocator = Allocator;`); call [`keep_freed_pages`] first thing in `main`.
pub use mimalloc::MiMalloc as Allocator;

/// Tells mimalloc never to hand freed pages back to the kernel, so a training step reuses the
/// previous step's buffers instead of faulting fresh zeroed pages in.
pub fn keep_freed_pages() {
    // SAFETY: sets one of mimalloc's documented runtime options; -1 means "never purge".
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

/// `mi_option_purge_delay` in `mimalloc.h` (the same value in mimalloc 2 and 3), which the Rust
/// bindings do not name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
