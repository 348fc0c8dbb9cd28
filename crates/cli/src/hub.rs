//! Models by name from the Hugging Face hub, as llama.cpp's `-hf` and candle take them:
//! `hf:OWNER/REPO` (the repository's one GGUF file, or its `Q4_K_M` one as llama.cpp picks),
//! `hf:OWNER/REPO:Q8_0` (the GGUF file of that quantization) or `hf:OWNER/REPO:FILE`. Files go
//! into the standard hub cache (`HF_HOME`, default `~/.cache/huggingface`) from `HF_ENDPOINT`
//! (default `https://huggingface.co`) through `hf-hub`, the hub's own Rust client: a progress
//! bar, an interrupted download resumed from where it stopped (in the same run, and by the next
//! run from the partial file it left), and a cached file used without asking the hub again
//! (a quantization tag is matched against the cached files first, so a model fetched once runs
//! offline; name the file to check the hub for it).
//!
//! A repository without GGUF files that holds a Hugging Face model folder (`config.json` and
//! safetensors weights) is fetched as a folder ([`folder`]: config, weights or their shards,
//! tokenizer, stop tokens, chat template) and loaded from its snapshot directory; once whole in
//! the cache it runs offline too.

mod folder;

use std::path::PathBuf;

use hf_hub::api::sync::{Api, ApiBuilder};
use hf_hub::{Cache, Repo};

/// The prefix of a model given by name.
pub const HUB_PREFIX: &str = "hf:";

/// Times a broken download is resumed within one run.
const RETRIES: usize = 5;

/// The quantization chosen when a repository holds several GGUF files (llama.cpp's default).
const DEFAULT_QUANT: &str = "Q4_K_M";

/// Why a model could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The name is not `hf:OWNER/REPO[:FILE or quant]`.
    #[error("{0:?} is not hf:OWNER/REPO[:FILE or quant]")]
    BadName(String),
    /// The hub refused or the transfer failed.
    #[error("{repo}: {message}")]
    Hub {
        /// The repository.
        repo: String,
        /// What went wrong.
        message: String,
    },
    /// No file, or more than one, matches what was asked for.
    #[error("{repo}: {message}")]
    NoMatch {
        /// The repository.
        repo: String,
        /// What was asked and what the repository holds.
        message: String,
    },
}

/// What a model name resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// One file of the repository (a GGUF file).
    File(String),
    /// A model folder to fetch: these files (and the shards of an index among them).
    Folder(Vec<&'static str>),
    /// A model folder already whole in the cache, at this snapshot directory.
    Cached(PathBuf),
}

/// A model name split: the repository and what to take from it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HubModel {
    repo: String,
    /// A file name (it has a `.`), a quantization tag, or nothing.
    pick: Option<String>,
}

impl HubModel {
    fn parse(name: &str) -> Result<Self, HubError> {
        let bad = || HubError::BadName(name.to_string());
        let rest = name.strip_prefix(HUB_PREFIX).ok_or_else(bad)?;
        let (repo, pick) = match rest.split_once(':') {
            Some((repo, pick)) if !pick.is_empty() => (repo, Some(pick.to_string())),
            Some(_) => return Err(bad()),
            None => (rest, None),
        };
        let parts: Vec<&str> = repo.split('/').collect();
        if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        Ok(HubModel {
            repo: repo.to_string(),
            pick,
        })
    }

    fn hub_error(&self, error: impl std::fmt::Display) -> HubError {
        HubError::Hub {
            repo: self.repo.clone(),
            message: error.to_string(),
        }
    }

    /// What to fetch: the named file, or a GGUF file chosen among those of the repository
    /// already in the cache (no request at all, so a model fetched once runs offline), or a
    /// model folder whole in the cache, else a GGUF file among those the hub lists, or, where it
    /// lists none, its model folder.
    fn target(&self, api: &Api) -> Result<Target, HubError> {
        if let Some(file) = self.pick.as_ref().filter(|p| p.contains('.')) {
            return Ok(Target::File(file.clone()));
        }
        if let Ok(file) = self.choose(&self.cached_files()) {
            return Ok(Target::File(file));
        }
        if self.pick.is_none()
            && let Some(dir) = self.snapshot_dir()
            && folder::is_complete(&dir)
        {
            return Ok(Target::Cached(dir));
        }
        let info = api
            .model(self.repo.clone())
            .info()
            .map_err(|e| self.hub_error(e))?;
        let listed: Vec<String> = info.siblings.into_iter().map(|s| s.rfilename).collect();
        let no_gguf = !listed
            .iter()
            .any(|f| f.to_ascii_lowercase().ends_with(".gguf"));
        match (self.choose(&listed), folder::plan(&listed)) {
            (Ok(file), _) => Ok(Target::File(file)),
            (Err(_), Some(wanted)) if no_gguf && self.pick.is_none() => Ok(Target::Folder(wanted)),
            (Err(_), None) if no_gguf && self.pick.is_none() => Err(HubError::NoMatch {
                repo: self.repo.clone(),
                message: "no GGUF files, and no model folder (config.json with \
                          model.safetensors or model.safetensors.index.json)"
                    .into(),
            }),
            (Err(err), _) => Err(err),
        }
    }

    /// The repository's cached snapshot directory (of `main`), if there is one.
    fn snapshot_dir(&self) -> Option<PathBuf> {
        let dir = Cache::from_env()
            .path()
            .join(Repo::model(self.repo.clone()).folder_name());
        let commit = std::fs::read_to_string(dir.join("refs/main")).ok()?;
        Some(dir.join("snapshots").join(commit.trim()))
    }

    /// The files of the repository's cached snapshot (of `main`).
    fn cached_files(&self) -> Vec<String> {
        let Some(snapshot) = self.snapshot_dir() else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir(snapshot) else {
            return Vec::new();
        };
        (entries.flatten())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// The GGUF file among `files` that the pick (a quantization tag, or none) names.
    fn choose(&self, files: &[String]) -> Result<String, HubError> {
        let ggufs: Vec<&str> = (files.iter())
            .map(String::as_str)
            .filter(|f| f.to_ascii_lowercase().ends_with(".gguf"))
            .collect();
        let wanted = self
            .pick
            .as_deref()
            .unwrap_or(DEFAULT_QUANT)
            .to_ascii_uppercase();
        let matching: Vec<&str> = (ggufs.iter().copied())
            .filter(|f| f.to_ascii_uppercase().contains(&wanted))
            .collect();
        match (&matching[..], &ggufs[..], &self.pick) {
            ([one], _, _) => Ok(one.to_string()),
            ([], [only], None) => Ok(only.to_string()),
            _ => Err(HubError::NoMatch {
                repo: self.repo.clone(),
                message: format!(
                    "{} GGUF files match {wanted:?} (the repository's GGUF files: {}); name \
                     one as hf:{}:FILE",
                    matching.len(),
                    if ggufs.is_empty() {
                        "none".to_string()
                    } else {
                        ggufs.join(", ")
                    },
                    self.repo
                ),
            }),
        }
    }
}

/// The local path of the model `name` (`hf:OWNER/REPO[:FILE or quant]`), downloaded into the
/// hub cache unless it is there already: a GGUF file, or a model folder's snapshot directory.
pub fn fetch_model(name: &str) -> Result<PathBuf, HubError> {
    let model = HubModel::parse(name)?;
    let api = ApiBuilder::from_env()
        .with_progress(true)
        .with_retries(RETRIES)
        .build()
        .map_err(|e| model.hub_error(e))?;
    let repo = api.model(model.repo.clone());
    match model.target(&api)? {
        Target::File(file) => repo
            .get(&file)
            .map_err(|e| model.hub_error(format!("{file}: {e}"))),
        Target::Folder(wanted) => folder::fetch(&repo, &model.repo, &wanted),
        Target::Cached(dir) => Ok(dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_parsed_or_refused() {
        let model = HubModel::parse("hf:bartowski/SmolLM2-135M-Instruct-GGUF:Q8_0").unwrap();
        assert_eq!(model.repo, "bartowski/SmolLM2-135M-Instruct-GGUF");
        assert_eq!(model.pick.as_deref(), Some("Q8_0"));
        assert_eq!(HubModel::parse("hf:a/b").unwrap().pick, None);
        for bad in ["hf:", "hf:a", "hf:a/b/c", "hf:/b", "hf:a/b:", "a/b"] {
            assert!(
                matches!(HubModel::parse(bad), Err(HubError::BadName(_))),
                "{bad}"
            );
        }
    }
}
