//! File helpers shared by the claude-rust crates, with no dependency on any of them.
//!
//! - [`atomic`]: writes that never leave a half-written file or directory under its final name:
//!   [`AtomicFile`] (a writer), [`write_atomic`] (bytes in one call), [`AtomicPath`] (a temporary
//!   path for writers that open files themselves) and [`AtomicDir`] (a directory filled, then
//!   renamed into place). Errors are plain [`std::io::Error`]s: callers wrap them with the path
//!   in their own error types.
//! - [`shared_data`]: where the shared data (corpora, reference tokenizers, test vectors, small
//!   models) lives: [`shared_data_dir`], overridden by [`SHARED_DATA_ENV`]; and the larger real
//!   models `fetch-models.sh` assembles: [`models_dir`], [`real_model`].
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let target = dir.path().join("notes.txt");
//! claude_files::write_atomic(&target, b"hello")?;
//! assert_eq!(std::fs::read(&target)?, b"hello");
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod atomic;
pub mod shared_data;

pub use atomic::{AtomicDir, AtomicFile, AtomicPath, sync_dir, write_atomic};
pub use shared_data::{
    MODELS_ENV, REQUIRE_MODELS_ENV, SHARED_DATA_ENV, models_dir, optional_fixture, real_model,
    shared_data_dir,
};
