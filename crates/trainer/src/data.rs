//! Finding the run's tokens: a prepared directory, or a text file prepared into `<out>/data`.

use std::path::{Path, PathBuf};

use claude_tokenizer::data::{PrepareOptions, TokenFile, prepare};
use claude_tokenizer::{CharTokenizer, Tokenizer, Utf8Policy};

use crate::config::DataConfig;
use crate::corpus::default_corpus;
use crate::error::{Error, Result};

/// Training and validation tokens with the tokenizer that made them.
pub struct Dataset {
    /// `train.bin`, memory-mapped.
    pub train: TokenFile,
    /// `val.bin`, memory-mapped.
    pub val: TokenFile,
    /// The tokenizer (also saved to `<out>/tokenizer`).
    pub tokenizer: Tokenizer,
}

/// Opens (preparing it first if needed) the data a config names.
pub fn open_dataset(config: &DataConfig, out_dir: &Path) -> Result<Dataset> {
    let (dir, tokenizer) = match &config.dir {
        Some(dir) => {
            let tokenizer_dir = config
                .tokenizer
                .as_ref()
                .map_or_else(|| dir.join("tokenizer"), PathBuf::from);
            (dir.clone(), Tokenizer::load(&tokenizer_dir)?)
        }
        None => {
            let text = match &config.text {
                Some(text) => text.clone(),
                None => default_corpus()?,
            };
            if !text.is_file() {
                return Err(Error::NoData(text));
            }
            let tokenizer = match config.tokenizer.as_deref() {
                None | Some("char") => Tokenizer::Char(CharTokenizer::from_files(
                    std::slice::from_ref(&text),
                    Utf8Policy::Error,
                )?),
                Some(path) => Tokenizer::load(path)?,
            };
            let dir = out_dir.join("data");
            if !prepared_with(&dir, &tokenizer) {
                let options = PrepareOptions {
                    val_fraction: config.val_fraction,
                    ..PrepareOptions::default()
                };
                prepare(&tokenizer, &[text], &dir, &options)?;
            }
            (dir, tokenizer)
        }
    };
    tokenizer.save(out_dir.join("tokenizer"))?;
    let train = TokenFile::open(dir.join("train.bin"))?;
    let val = TokenFile::open(dir.join("val.bin"))?;
    train.expect_tokenizer(&tokenizer)?;
    val.expect_tokenizer(&tokenizer)?;
    Ok(Dataset {
        train,
        val,
        tokenizer,
    })
}

/// Whether `dir` already holds token files made by `tokenizer` (a resumed run reuses them).
fn prepared_with(dir: &Path, tokenizer: &Tokenizer) -> bool {
    ["train.bin", "val.bin"].iter().all(|name| {
        TokenFile::open(dir.join(name)).is_ok_and(|file| file.expect_tokenizer(tokenizer).is_ok())
    })
}
