//! Atomic writes: a file or directory is written under a temporary name beside its target, synced,
//! then renamed over the target, so a failure (an error, a panic, a killed process) never leaves
//! a half-written one under the final name.
//!
//! - [`AtomicFile`]: a buffered [`Write`]r; [`AtomicFile::commit`] flushes, syncs and renames.
//! - [`write_atomic`]: the same for bytes already in memory.
//! - [`AtomicPath`]: a fresh empty file beside the target, for writers that take a path and open
//!   the file themselves; [`AtomicPath::commit`] syncs and renames it.
//! - [`AtomicDir`]: a directory beside the target to fill; [`AtomicDir::commit`] syncs everything
//!   in it and replaces the target directory.
//!
//! Whatever is not committed is removed when dropped. The temporary names are `.tmp-NAME` for a
//! directory `NAME` and `.tmp-NAME-XXXXXX` (random) for a file `NAME`: hidden on Unix, and
//! naming their target. Files get the permissions [`std::fs::File::create`] would give them (`0o666`
//! less the umask), not a temporary file's `0o600`.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The buffer of an [`AtomicFile`].
const BUFFER: usize = 1 << 20;

/// The directory `target` is in (`.` for a bare file name).
fn parent_of(target: &Path) -> &Path {
    match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// `.tmp-NAME` for a target named `NAME`: the temporary name of a directory, and the start of a
/// file's.
fn temp_name(target: &Path) -> io::Result<std::ffi::OsString> {
    let name = target.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file name", target.display()),
        )
    })?;
    let mut temp = std::ffi::OsString::from(".tmp-");
    temp.push(name);
    Ok(temp)
}

/// A new empty temporary file beside `target`, named `.tmp-NAME-` and random characters.
fn temp_file_beside(target: &Path) -> io::Result<tempfile::NamedTempFile> {
    let mut prefix = temp_name(target)?;
    prefix.push("-");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(parent_of(target))
}

/// A file being written; it appears under its final name only after [`AtomicFile::commit`], and
/// is removed if dropped before.
///
/// ```
/// use std::io::Write;
///
/// let dir = tempfile::tempdir()?;
/// let target = dir.path().join("ids.bin");
/// let mut file = claude_files::AtomicFile::create(&target)?;
/// file.write_all(&[1, 2, 3])?;
/// assert!(!target.exists());
/// file.commit()?;
/// assert_eq!(std::fs::read(&target)?, [1, 2, 3]);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct AtomicFile {
    writer: BufWriter<tempfile::NamedTempFile>,
    target: PathBuf,
}

impl AtomicFile {
    /// Starts writing `target`: a temporary file in the same directory, which must exist.
    pub fn create(target: impl AsRef<Path>) -> io::Result<Self> {
        let target = target.as_ref();
        Ok(AtomicFile {
            writer: BufWriter::with_capacity(BUFFER, temp_file_beside(target)?),
            target: target.to_path_buf(),
        })
    }

    /// The path the file will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes, syncs and renames the file over its target.
    pub fn commit(self) -> io::Result<()> {
        let file = self.writer.into_inner().map_err(|e| e.into_error())?;
        file.as_file().sync_all()?;
        file.persist(&self.target).map_err(|e| e.error)?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.writer.write(bytes)
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

/// Writes `bytes` to `target` atomically (through an [`AtomicFile`]).
pub fn write_atomic(target: impl AsRef<Path>, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(target)?;
    file.write_all(bytes)?;
    file.commit()
}

/// A temporary path beside a target, for writers that take a path and open (or replace) the file
/// themselves: write to [`path`](Self::path), then [`commit`](Self::commit) renames it over the
/// target. Uncommitted, the file is removed when this is dropped.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let target = dir.path().join("model.safetensors");
/// let temp = claude_files::AtomicPath::beside(&target)?;
/// std::fs::write(temp.path(), b"weights")?;
/// temp.commit()?;
/// assert_eq!(std::fs::read(&target)?, b"weights");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct AtomicPath {
    temp: tempfile::TempPath,
    target: PathBuf,
}

impl AtomicPath {
    /// Reserves a fresh, empty temporary file in `target`'s directory, which must exist.
    pub fn beside(target: impl AsRef<Path>) -> io::Result<Self> {
        let target = target.as_ref();
        Ok(AtomicPath {
            temp: temp_file_beside(target)?.into_temp_path(),
            target: target.to_path_buf(),
        })
    }

    /// The temporary file to write.
    pub fn path(&self) -> &Path {
        &self.temp
    }

    /// The path the file will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Syncs the file at [`path`](Self::path) and renames it over the target.
    pub fn commit(self) -> io::Result<()> {
        sync_file(&self.temp)?;
        self.temp.persist(&self.target).map_err(|e| e.error)
    }
}

/// A directory being filled; it replaces its target directory only on [`AtomicDir::commit`], and
/// is removed if dropped before.
///
/// The temporary directory is `.tmp-NAME` beside the target `NAME`: one a killed writer left
/// behind is cleared by the next writer of the same target. Two writers of one target at once
/// are not supported.
///
/// ```
/// let root = tempfile::tempdir()?;
/// let target = root.path().join("step-00000010");
/// let dir = claude_files::AtomicDir::create(&target)?;
/// std::fs::write(dir.path().join("state.json"), "{}")?;
/// dir.commit()?;
/// assert_eq!(std::fs::read_to_string(target.join("state.json"))?, "{}");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct AtomicDir {
    temp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl AtomicDir {
    /// Creates the empty temporary directory for `target` (and any missing parents), first
    /// removing one left by an earlier writer.
    pub fn create(target: impl AsRef<Path>) -> io::Result<Self> {
        let target = target.as_ref();
        let temp = parent_of(target).join(temp_name(target)?);
        match std::fs::remove_dir_all(&temp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::fs::create_dir_all(&temp)?;
        Ok(AtomicDir {
            temp,
            target: target.to_path_buf(),
            committed: false,
        })
    }

    /// The temporary directory to fill.
    pub fn path(&self) -> &Path {
        &self.temp
    }

    /// The path the directory will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Syncs every file and directory inside, removes the target directory if it exists, renames
    /// the temporary directory over it and syncs the parent. The target is briefly absent between
    /// the removal and the rename; nothing half-written ever stands under its name.
    pub fn commit(mut self) -> io::Result<()> {
        sync_tree(&self.temp)?;
        match std::fs::remove_dir_all(&self.target) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::fs::rename(&self.temp, &self.target)?;
        self.committed = true;
        sync_dir(parent_of(&self.target))
    }
}

impl Drop for AtomicDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.temp);
        }
    }
}

/// Syncs the file at `path` to disk.
fn sync_file(path: &Path) -> io::Result<()> {
    // Writable: Windows refuses to flush a file opened read-only.
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .sync_all()
}

/// Syncs the files and directories under `dir`, and `dir` itself.
fn sync_tree(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            sync_tree(&entry.path())?;
        } else if kind.is_file() {
            sync_file(&entry.path())?;
        }
    }
    sync_dir(dir)
}

/// Syncs a directory, so that the files created, renamed or removed in it stay so after a crash.
/// A no-op where directories cannot be opened (Windows).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_committed_file_appears_whole() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.bin");
        let mut file = AtomicFile::create(&target).unwrap();
        assert_eq!(file.target(), target);
        file.write_all(b"hello ").unwrap();
        file.write_all(b"world").unwrap();
        assert!(!target.exists());
        file.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"hello world");
        assert_eq!(names(dir.path()), ["a.bin"]);
    }

    #[test]
    fn a_dropped_file_leaves_the_target_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.txt");
        std::fs::write(&target, "old").unwrap();
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"new").unwrap();
        file.flush().unwrap();
        drop(file);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        assert_eq!(names(dir.path()), ["a.txt"]);
    }

    #[test]
    fn write_atomic_replaces_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.txt");
        std::fs::write(&target, "a much longer old text").unwrap();
        write_atomic(&target, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(names(dir.path()), ["a.txt"]);
    }

    #[test]
    fn a_target_needs_a_file_name() {
        assert_eq!(
            AtomicFile::create("..").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            AtomicDir::create("/").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn a_file_in_a_missing_directory_fails() {
        let dir = tempfile::tempdir().unwrap();
        let error = write_atomic(dir.path().join("missing/a.txt"), b"x").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }

    #[cfg(unix)]
    #[test]
    fn files_get_ordinary_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ordinary = dir.path().join("ordinary");
        std::fs::write(&ordinary, "").unwrap();
        let atomic = dir.path().join("atomic");
        write_atomic(&atomic, b"").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
        assert_eq!(mode(&atomic), mode(&ordinary));
    }

    #[test]
    fn a_committed_path_replaces_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("model.safetensors");
        std::fs::write(&target, "old").unwrap();
        let temp = AtomicPath::beside(&target).unwrap();
        assert_eq!(temp.target(), target);
        assert_eq!(temp.path().parent(), Some(dir.path()));
        let name = temp.path().file_name().unwrap().to_string_lossy();
        assert!(name.starts_with(".tmp-model.safetensors-"), "{name}");
        assert!(temp.path().exists());
        // Writers that replace the file at the path rather than write into it.
        let scratch = dir.path().join("scratch");
        std::fs::write(&scratch, "new").unwrap();
        std::fs::rename(&scratch, temp.path()).unwrap();
        temp.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(names(dir.path()), ["model.safetensors"]);
    }

    #[test]
    fn a_dropped_path_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("model.safetensors");
        let temp = AtomicPath::beside(&target).unwrap();
        std::fs::write(temp.path(), "partial").unwrap();
        drop(temp);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn a_committed_dir_replaces_the_target() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("step-1");
        std::fs::create_dir_all(target.join("old-sub")).unwrap();
        std::fs::write(target.join("old.txt"), "old").unwrap();
        let dir = AtomicDir::create(&target).unwrap();
        assert_eq!(dir.target(), target);
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a.txt"), "a").unwrap();
        write_atomic(dir.path().join("b.txt"), b"b").unwrap();
        assert_eq!(names(&target), ["old-sub", "old.txt"]);
        dir.commit().unwrap();
        assert_eq!(names(&target), ["b.txt", "sub"]);
        assert_eq!(
            std::fs::read_to_string(target.join("sub/a.txt")).unwrap(),
            "a"
        );
        assert_eq!(names(root.path()), ["step-1"]);
    }

    #[test]
    fn a_new_dir_appears_only_on_commit() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("best");
        let dir = AtomicDir::create(&target).unwrap();
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        assert!(!target.exists());
        dir.commit().unwrap();
        assert_eq!(names(&target), ["a.txt"]);
    }

    #[test]
    fn a_dropped_dir_leaves_the_target_and_no_temporary() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("best");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("old.txt"), "old").unwrap();
        let dir = AtomicDir::create(&target).unwrap();
        std::fs::write(dir.path().join("new.txt"), "new").unwrap();
        drop(dir);
        assert_eq!(names(root.path()), ["best"]);
        assert_eq!(names(&target), ["old.txt"]);
    }

    #[test]
    fn a_dir_clears_what_a_killed_writer_left() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("best");
        let leftover = root.path().join(".tmp-best");
        std::fs::create_dir_all(leftover.join("sub")).unwrap();
        std::fs::write(leftover.join("sub/junk"), "junk").unwrap();
        let dir = AtomicDir::create(&target).unwrap();
        assert_eq!(dir.path(), leftover);
        assert!(names(dir.path()).is_empty());
        dir.commit().unwrap();
        assert_eq!(names(root.path()), ["best"]);
    }
}
