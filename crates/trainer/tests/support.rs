//! Helpers shared by the test modules.

use std::path::Path;

use claude_trainer::TrainConfig;

/// burn's random generator is per device and process: runs that must be reproducible take
/// turns instead of interleaving their draws.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds the turn of one reproducible run.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `configs/tiny.toml`, the config every training test starts from.
pub fn tiny_config() -> TrainConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/tiny.toml");
    TrainConfig::load(&path).unwrap()
}
