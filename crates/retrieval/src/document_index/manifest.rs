//! `manifest.json`, the one file that says what an index directory holds: format and version,
//! the embedder and chunking its vectors were made with, the live generation, and a SHA-256 of
//! each of that generation's files. Writing it (atomically) is what commits a change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::DocumentIndexError;
use crate::chunk::ChunkConfig;
use crate::text_embedder::EmbedderIdentity;

/// What `format` says in every index this crate writes.
pub const FORMAT: &str = "claude-rust-index";
/// The layout version this build reads and writes.
pub const VERSION: u32 = 1;
/// The manifest's file name in an index directory.
pub const MANIFEST: &str = "manifest.json";

/// The contents of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The layout version ([`VERSION`]).
    pub version: u32,
    /// Which model embedded the chunks.
    pub embedder: EmbedderIdentity,
    /// Where that model was loaded from when the index was built (the default model of later
    /// commands).
    #[serde(default)]
    pub embedder_location: Option<PathBuf>,
    /// How documents were cut.
    pub chunking: ChunkConfig,
    /// The live generation: its files are in `gen-NNNNNN/`.
    pub generation: u64,
    /// The id the next chunk gets (ids are never reused).
    pub next_id: u64,
    /// Chunks in the index.
    pub chunks: usize,
    /// SHA-256 (hex) of each file of the generation, by name.
    pub files: BTreeMap<String, String>,
}

impl Manifest {
    /// The folder of generation `generation` in `dir`.
    pub fn generation_dir(dir: &Path, generation: u64) -> PathBuf {
        dir.join(format!("gen-{generation:06}"))
    }

    /// Reads and checks `dir/manifest.json`.
    pub fn read(dir: &Path) -> Result<Self, DocumentIndexError> {
        let path = dir.join(MANIFEST);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DocumentIndexError::invalid(
                    dir,
                    format!("not an index (no {MANIFEST}; build one with `index build`)"),
                ));
            }
            Err(e) => return Err(DocumentIndexError::io(&path, e)),
        };
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| DocumentIndexError::invalid(&path, format!("not JSON: {e}")))?;
        if value["format"] != FORMAT {
            return Err(DocumentIndexError::invalid(
                &path,
                format!("not a claude-rust index (format {})", value["format"]),
            ));
        }
        if value["version"] != VERSION {
            return Err(DocumentIndexError::invalid(
                &path,
                format!(
                    "index layout version {}, this build reads version {VERSION}",
                    value["version"]
                ),
            ));
        }
        serde_json::from_value(value)
            .map_err(|e| DocumentIndexError::invalid(&path, format!("bad manifest: {e}")))
    }

    /// Writes `dir/manifest.json` atomically.
    pub fn write(&self, dir: &Path) -> Result<(), DocumentIndexError> {
        let mut text = serde_json::to_string_pretty(self).expect("a manifest serialises");
        text.push('\n');
        let path = dir.join(MANIFEST);
        claude_files::write_atomic(&path, text.as_bytes())
            .map_err(|e| DocumentIndexError::io(&path, e))
    }
}
