//! Data preparation: text files -> `train.bin` + `val.bin` (and their sidecars).
//!
//! The files are read as one stream, in order; the last `val_fraction` of its bytes becomes the
//! validation split (nanoGPT's 90/10 split of tinyshakespeare gives exactly its 1,003,854 /
//! 111,540 characters). Each side of the cut is encoded on its own, as nanoGPT does. When the
//! tokenizer has `<|endoftext|>`, it follows each file's text. Text is streamed in chunks and
//! encoded in parallel; the outputs are written to temporary files and renamed at the end.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use claude_files::AtomicFile;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use super::token_file::{FORMAT, Sidecar, sidecar_path};
use crate::error::{Error, Result};
use crate::text_stream::{DEFAULT_BLOCK, TextChunks, Utf8Policy, split_for_parallel};
use crate::tokenizer::Tokenizer;

/// Options for [`prepare`].
#[derive(Debug, Clone)]
pub struct PrepareOptions {
    /// Fraction of the corpus (by bytes, from the end) that goes to `val.bin`; in `[0, 1)`.
    pub val_fraction: f64,
    /// What to do with invalid UTF-8.
    pub utf8_policy: Utf8Policy,
    /// Draw a progress bar.
    pub show_progress: bool,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        PrepareOptions {
            val_fraction: 0.1,
            utf8_policy: Utf8Policy::Error,
            show_progress: false,
        }
    }
}

/// What [`prepare`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepareReport {
    /// Path of `train.bin`.
    pub train_path: PathBuf,
    /// Path of `val.bin`.
    pub val_path: PathBuf,
    /// Ids in `train.bin`.
    pub train_tokens: u64,
    /// Ids in `val.bin`.
    pub val_tokens: u64,
    /// Bytes of text read.
    pub bytes: u64,
}

/// Encodes `inputs` with `tokenizer` into `out_dir/train.bin` and `out_dir/val.bin`.
pub fn prepare(
    tokenizer: &Tokenizer,
    inputs: &[PathBuf],
    out_dir: &Path,
    options: &PrepareOptions,
) -> Result<PrepareReport> {
    if !(0.0..1.0).contains(&options.val_fraction) {
        return Err(Error::InvalidArgument {
            field: "val-fraction",
            message: format!("{} is not in [0, 1)", options.val_fraction),
        });
    }
    if inputs.is_empty() {
        return Err(Error::InvalidArgument {
            field: "input",
            message: "no input files".into(),
        });
    }
    let mut sizes = Vec::with_capacity(inputs.len());
    for path in inputs {
        sizes.push(
            std::fs::metadata(path)
                .map_err(|e| Error::io(path, e))?
                .len(),
        );
    }
    let total: u64 = sizes.iter().sum();
    let val_start = (total as f64 * (1.0 - options.val_fraction)).floor() as u64;

    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let mut train = SplitWriter::create(&out_dir.join("train.bin"))?;
    let mut val = SplitWriter::create(&out_dir.join("val.bin"))?;
    let bar = if options.show_progress {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "encoding  {bar:40} {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .expect("valid progress template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut file_start = 0;
    for (path, &len) in inputs.iter().zip(&sizes) {
        let cut = val_start.saturating_sub(file_start).min(len);
        let cut = char_boundary_at_or_before(path, cut)?;
        let encoder = ChunkEncoder {
            tokenizer,
            path,
            policy: options.utf8_policy,
            bar: &bar,
        };
        encoder.encode_range(0..cut, &mut train)?;
        encoder.encode_range(cut..len, &mut val)?;
        if let Some(eot) = tokenizer.end_of_text() {
            // The separator belongs to the split in which the file ends.
            let split = if file_start + len > val_start {
                &mut val
            } else {
                &mut train
            };
            split.push(&[eot])?;
        }
        file_start += len;
    }
    bar.finish_and_clear();
    let sources: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
    let hash = tokenizer.fingerprint();
    let train_tokens = train.finish(tokenizer, &hash, &sources)?;
    let val_tokens = val.finish(tokenizer, &hash, &sources)?;
    Ok(PrepareReport {
        train_path: out_dir.join("train.bin"),
        val_path: out_dir.join("val.bin"),
        train_tokens,
        val_tokens,
        bytes: total,
    })
}

/// Moves a byte offset back to the start of the UTF-8 character it falls in.
fn char_boundary_at_or_before(path: &Path, offset: u64) -> Result<u64> {
    if offset == 0 {
        return Ok(0);
    }
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let from = offset.saturating_sub(3);
    file.seek(SeekFrom::Start(from))
        .map_err(|e| Error::io(path, e))?;
    let mut window = vec![0u8; (offset - from + 1) as usize];
    let read = file.read(&mut window).map_err(|e| Error::io(path, e))?;
    window.truncate(read);
    let mut cut = (offset - from) as usize;
    // Step back over continuation bytes (0b10xx_xxxx) to the character's first byte.
    while cut > 0 && window.get(cut).is_some_and(|b| b & 0xC0 == 0x80) {
        cut -= 1;
    }
    Ok(from + cut as u64)
}

/// Encodes byte ranges of one corpus file, chunk by chunk, in parallel within a chunk.
struct ChunkEncoder<'a> {
    tokenizer: &'a Tokenizer,
    path: &'a Path,
    policy: Utf8Policy,
    bar: &'a ProgressBar,
}

/// Pieces of about this many bytes are encoded in parallel.
const PARALLEL_PIECE: usize = 1 << 20;

impl ChunkEncoder<'_> {
    fn encode_range(&self, range: Range<u64>, out: &mut SplitWriter) -> Result<()> {
        let rule = self.tokenizer.cut_rule();
        let chunks = TextChunks::open_range(self.path, range, rule, self.policy, DEFAULT_BLOCK)?;
        for chunk in chunks {
            let chunk = chunk?;
            let pieces = split_for_parallel(&chunk, PARALLEL_PIECE, rule);
            let encoded: Vec<Vec<u32>> = pieces
                .par_iter()
                .map(|piece| self.tokenizer.encode(piece))
                .collect::<Result<_>>()
                .map_err(|e| match e {
                    Error::UnknownChar { ch, .. } => Error::UnknownCharIn {
                        path: self.path.to_path_buf(),
                        ch,
                    },
                    other => other,
                })?;
            for ids in &encoded {
                out.push(ids)?;
            }
            self.bar.inc(chunk.len() as u64);
        }
        Ok(())
    }
}

/// One output split: ids go to a temporary file that becomes `NAME.bin` on success.
struct SplitWriter {
    path: PathBuf,
    file: AtomicFile,
    count: u64,
}

impl SplitWriter {
    fn create(path: &Path) -> Result<Self> {
        Ok(SplitWriter {
            path: path.to_path_buf(),
            file: AtomicFile::create(path).map_err(|e| Error::io(path, e))?,
            count: 0,
        })
    }

    fn push(&mut self, ids: &[u32]) -> Result<()> {
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        for id in ids {
            bytes.extend_from_slice(&id.to_le_bytes());
        }
        self.count += ids.len() as u64;
        self.file
            .write_all(&bytes)
            .map_err(|e| Error::io(&self.path, e))
    }

    fn finish(self, tokenizer: &Tokenizer, hash: &str, sources: &[String]) -> Result<u64> {
        self.file.commit().map_err(|e| Error::io(&self.path, e))?;
        let sidecar = Sidecar {
            format: FORMAT.into(),
            tokenizer_hash: hash.into(),
            vocab_size: tokenizer.vocab_size(),
            token_count: self.count,
            source_files: sources.to_vec(),
        };
        let json = serde_json::to_string_pretty(&sidecar).expect("sidecar serializes");
        let sidecar_file = sidecar_path(&self.path);
        claude_files::write_atomic(&sidecar_file, json.as_bytes())
            .map_err(|e| Error::io(&sidecar_file, e))?;
        Ok(self.count)
    }
}
