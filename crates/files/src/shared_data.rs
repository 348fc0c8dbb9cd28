//! Finding the shared data directory (corpora, reference tokenizers, test vectors and small
//! models), the one rule every crate, test, example and benchmark uses.

use std::path::{Path, PathBuf};

/// The environment variable that names the shared data directory.
pub const SHARED_DATA_ENV: &str = "CLAUDE_RUST_DATA";

/// Where the shared data lives: `$CLAUDE_RUST_DATA` when set; else the nearest `shared/data`
/// beside the current directory or one of its ancestors (so `../shared/data` from a clone's root
/// and from any folder inside it); else `../shared/data`, which may not exist (callers say which
/// file they missed).
pub fn shared_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(SHARED_DATA_ENV) {
        return dir.into();
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    find_beside_ancestors(&cwd).unwrap_or_else(|| PathBuf::from("../shared/data"))
}

/// The environment variable that names the folder of the larger real models
/// (`../shared/scripts/fetch-models.sh` assembles them there).
pub const MODELS_ENV: &str = "CLAUDE_RUST_MODELS";

/// The environment variable that, set to `1`, makes tests fail (not skip) when a real model
/// file is missing: CI sets it after running `fetch-models.sh`.
pub const REQUIRE_MODELS_ENV: &str = "CLAUDE_RUST_REQUIRE_MODELS";

/// The larger real models' folder: `$CLAUDE_RUST_MODELS`, else `~/.cache/claude-rust/models`
/// (where `fetch-models.sh` puts them).
pub fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(MODELS_ENV) {
        return dir.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    PathBuf::from(home).join(".cache/claude-rust/models")
}

/// The real model file `name` in [`models_dir`], or `None` (after saying so on stderr) when it
/// is missing and [`REQUIRE_MODELS_ENV`] is not `1`, for tests to skip.
///
/// # Panics
/// When the file is missing and [`REQUIRE_MODELS_ENV`] is `1`.
pub fn real_model(name: &str) -> Option<PathBuf> {
    let path = models_dir().join(name);
    optional_fixture(
        &path,
        &path,
        "run ../shared/scripts/fetch-models.sh",
        REQUIRE_MODELS_ENV,
    )
    .then_some(path)
}

/// Whether the fixture `needed` (a file that a script makes, such as a model folder's
/// reference numbers) exists; when it does not, says so on stderr, naming `shown` and how to
/// make it (`make`), for a test to skip.
///
/// # Panics
/// When it is missing and the environment variable `require_env` is `1` (CI sets it where it
/// makes the fixture).
pub fn optional_fixture(needed: &Path, shown: &Path, make: &str, require_env: &str) -> bool {
    if needed.exists() {
        return true;
    }
    let required = std::env::var(require_env).is_ok_and(|v| v == "1");
    assert!(!required, "{} is missing ({make})", shown.display());
    eprintln!(
        "skipped: {} is missing ({make}; {require_env}=1 makes this a failure)",
        shown.display()
    );
    false
}

/// The first `<ancestor>/shared/data` directory of `start`, nearest first.
fn find_beside_ancestors(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join("shared").join("data"))
        .find(|candidate| candidate.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_shared_data_beside_any_ancestor() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("shared/data");
        let deep = root.path().join("clone/crates/tokenizer");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(find_beside_ancestors(&deep), Some(data));
    }

    #[test]
    fn the_nearest_shared_data_wins() {
        // The temporary directory's own ancestors may hold a `shared/data` (CI clones into
        // `/tmp` beside `/tmp/shared`), so only what this test makes is compared.
        let root = tempfile::tempdir().unwrap();
        let outer = root.path().join("shared/data");
        let inner = root.path().join("work/shared/data");
        let deep = root.path().join("work/clone/crates/core");
        for dir in [&outer, &inner, &deep] {
            std::fs::create_dir_all(dir).unwrap();
        }
        assert_eq!(find_beside_ancestors(&deep), Some(inner));
    }
}
