//! Helpers shared by the test modules.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use claude_trainer::TrainConfig;

/// The `claude-rust` binary.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_claude-rust"))
}

/// Writes `configs/tiny.toml`, changed by `edit`, to `<dir>/tiny.toml` and returns its path.
pub fn tiny_config(dir: &Path, edit: impl FnOnce(&mut TrainConfig)) -> PathBuf {
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/tiny.toml");
    let mut config = TrainConfig::load(&tiny).unwrap();
    edit(&mut config);
    let path = dir.join("tiny.toml");
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    path
}

/// Trains `configs/tiny.toml`, changed by `edit`, into `<dir>/run`.
pub fn trained_run(dir: &Path, edit: impl FnOnce(&mut TrainConfig)) -> PathBuf {
    let config = tiny_config(dir, edit);
    let run_dir = dir.join("run");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    ok(&[
        "train",
        "--no-tui",
        "--config",
        &s(&config),
        "--out",
        &s(&run_dir),
    ]);
    run_dir
}

/// Whether `python3` can import `module`. Where it cannot, the test that needs it is skipped
/// with a note, unless the environment variable `require` is set (CI installs the package and
/// sets it), which makes the absence a failure.
pub fn python_module_available(module: &str, require: &str) -> bool {
    let available = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        assert!(
            std::env::var_os(require).is_none(),
            "{require} is set but python3 cannot import {module}"
        );
        eprintln!("skipped: the {module} Python package is not installed");
    }
    available
}

/// A port nobody listens on (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `claude-rust` with `args` (no standard input).
pub fn run(args: &[&str]) -> Output {
    bin().args(args).stdin(Stdio::null()).output().unwrap()
}

/// The standard output of a run that must succeed.
pub fn succeeded(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The standard error of a run that must fail.
pub fn failed(output: Output) -> String {
    assert!(!output.status.success(), "succeeded");
    String::from_utf8(output.stderr).unwrap()
}

/// The standard output of `claude-rust ARGS`, which must succeed.
pub fn ok(args: &[&str]) -> String {
    succeeded(run(args))
}

/// The standard error of `claude-rust ARGS`, which must fail.
pub fn fails(args: &[&str]) -> String {
    failed(run(args))
}
