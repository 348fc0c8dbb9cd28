//! Token files: little-endian `u32` ids in `NAME.bin`, described by `NAME.json` (the sidecar),
//! read back memory-mapped.

use std::path::{Path, PathBuf};

use memmap2::Mmap;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::tokenizer::Tokenizer;

/// The on-disk element format of token files.
pub const FORMAT: &str = "u32le";

/// What a token file holds and how it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    /// Element format; always `u32le`.
    pub format: String,
    /// [`Tokenizer::fingerprint`] of the tokenizer that wrote the ids.
    pub tokenizer_hash: String,
    /// Vocabulary size of that tokenizer.
    pub vocab_size: usize,
    /// Number of ids in the file.
    pub token_count: u64,
    /// The corpus files the ids came from.
    pub source_files: Vec<String>,
}

/// The sidecar of a token file: `train.bin` -> `train.json`.
pub fn sidecar_path(bin: &Path) -> PathBuf {
    bin.with_extension("json")
}

/// A memory-mapped token file, checked against its sidecar.
#[derive(Debug)]
pub struct TokenFile {
    path: PathBuf,
    map: Option<Mmap>,
    sidecar: Sidecar,
}

impl TokenFile {
    /// Maps `path` and checks it against its sidecar: format, a length that is a whole number of
    /// `u32`s, and the token count.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bad = |message: String| Error::BadTokenFile {
            path: path.to_path_buf(),
            message,
        };
        if cfg!(target_endian = "big") {
            return Err(bad(
                "token files are little-endian; this machine is big-endian".into(),
            ));
        }
        let sidecar_file = sidecar_path(path);
        let text =
            std::fs::read_to_string(&sidecar_file).map_err(|e| Error::io(&sidecar_file, e))?;
        let sidecar: Sidecar = serde_json::from_str(&text).map_err(|source| Error::Json {
            path: sidecar_file.clone(),
            source,
        })?;
        if sidecar.format != FORMAT {
            return Err(bad(format!(
                "format {:?} in the sidecar is not {FORMAT:?}",
                sidecar.format
            )));
        }
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if len % 4 != 0 {
            return Err(bad(format!(
                "length {len} bytes is not a multiple of 4 (truncated?)"
            )));
        }
        if len / 4 != sidecar.token_count {
            return Err(bad(format!(
                "holds {} tokens but its sidecar {} says {}",
                len / 4,
                sidecar_file.display(),
                sidecar.token_count
            )));
        }
        // SAFETY: the map is read-only; like every reader of a shared file we assume nobody
        // truncates it while training runs.
        let map = if len == 0 {
            None
        } else {
            Some(unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?)
        };
        Ok(TokenFile {
            path: path.to_path_buf(),
            map,
            sidecar,
        })
    }

    /// Fails unless the file was written by `tokenizer`.
    pub fn expect_tokenizer(&self, tokenizer: &Tokenizer) -> Result<()> {
        let hash = tokenizer.fingerprint();
        if self.sidecar.tokenizer_hash != hash || self.sidecar.vocab_size != tokenizer.vocab_size()
        {
            return Err(Error::BadTokenFile {
                path: self.path.clone(),
                message: format!(
                    "was made with another tokenizer (hash {}, vocab {}), not this one (hash {hash}, vocab {})",
                    self.sidecar.tokenizer_hash,
                    self.sidecar.vocab_size,
                    tokenizer.vocab_size()
                ),
            });
        }
        Ok(())
    }

    /// The sidecar.
    pub fn sidecar(&self) -> &Sidecar {
        &self.sidecar
    }

    /// The path of the `.bin` file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All ids, straight from the map (no copy).
    pub fn tokens(&self) -> &[u32] {
        match &self.map {
            // The map is page-aligned and its length a multiple of 4, so the cast cannot fail.
            Some(map) => bytemuck::cast_slice(&map[..]),
            None => &[],
        }
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.tokens().len()
    }

    /// Whether the file holds no ids.
    pub fn is_empty(&self) -> bool {
        self.tokens().is_empty()
    }

    /// Every window of `context + 1` consecutive ids starting at multiples of `context`, in order
    /// (inputs `w[..context]`, targets `w[1..]`: each id after the first is predicted once). The
    /// tail shorter than a window is left out.
    pub fn sequential_windows(&self, context: usize) -> impl Iterator<Item = &[u32]> {
        let tokens = self.tokens();
        let count = tokens
            .len()
            .saturating_sub(1)
            .checked_div(context)
            .unwrap_or(0);
        (0..count).map(move |i| &tokens[i * context..(i + 1) * context + 1])
    }

    /// `batch` windows of `context + 1` consecutive ids at uniformly random offsets (inputs are
    /// `w[..context]`, targets `w[1..]`), borrowed from the map.
    pub fn random_windows<R: Rng + ?Sized>(
        &self,
        batch: usize,
        context: usize,
        rng: &mut R,
    ) -> Result<Vec<&[u32]>> {
        let tokens = self.tokens();
        if tokens.len() < context + 1 {
            return Err(Error::BadTokenFile {
                path: self.path.clone(),
                message: format!(
                    "holds {} tokens, fewer than one window of context {context} + 1",
                    tokens.len()
                ),
            });
        }
        let starts = tokens.len() - context;
        Ok((0..batch)
            .map(|_| {
                let start = rng.random_range(0..starts);
                &tokens[start..start + context + 1]
            })
            .collect())
    }
}
