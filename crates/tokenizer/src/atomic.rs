//! Atomic file writes: write to a temporary file beside the target, then rename over it, so a
//! failure never leaves a half-written file under the final name.

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// A file being written; it appears under its final name only after [`AtomicFile::commit`].
pub struct AtomicFile {
    writer: BufWriter<tempfile::NamedTempFile>,
    target: std::path::PathBuf,
}

impl AtomicFile {
    /// Starts writing `target` (its directory must exist).
    pub fn create(target: &Path) -> Result<Self> {
        let dir = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let file = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .map_err(|e| Error::io(target, e))?;
        Ok(AtomicFile {
            writer: BufWriter::with_capacity(1 << 20, file),
            target: target.to_path_buf(),
        })
    }

    /// Appends bytes.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.writer
            .write_all(bytes)
            .map_err(|e| Error::io(&self.target, e))
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(self) -> Result<()> {
        let target = self.target;
        let file = self
            .writer
            .into_inner()
            .map_err(|e| Error::io(&target, e.into_error()))?;
        file.as_file()
            .sync_all()
            .map_err(|e| Error::io(&target, e))?;
        file.persist(&target)
            .map_err(|e| Error::io(&target, e.error))?;
        Ok(())
    }
}

/// Writes `bytes` to `target` atomically.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(target)?;
    file.write_all(bytes)?;
    file.commit()
}

/// Creates a directory and its parents.
pub fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}
