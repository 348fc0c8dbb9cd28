//! Repositories without GGUF files: a Hugging Face model folder (`config.json` and safetensors
//! weights) is fetched whole into the hub cache (the files [`claude_inference::open`] reads:
//! config, weights, tokenizer, stop tokens, chat template) and loaded from its snapshot
//! directory.

use std::path::{Path, PathBuf};

use hf_hub::api::sync::ApiRepo;

use super::HubError;

/// The model config; a repository holding it and safetensors weights is a model folder.
const CONFIG: &str = "config.json";
/// Unsharded weights.
const WEIGHTS: &str = "model.safetensors";
/// The index of sharded weights.
const INDEX: &str = "model.safetensors.index.json";
/// The other files the loader reads, fetched where the repository has them.
const OPTIONAL: [&str; 4] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
    "chat_template.jinja",
];

/// The files to fetch from a repository listing `files` before its shards (config, weights or
/// their index, and the optional files it has), or `None` when it is not a model folder.
pub(super) fn plan(files: &[String]) -> Option<Vec<&'static str>> {
    let has = |name: &str| files.iter().any(|f| f == name);
    let weights = if has(INDEX) {
        INDEX
    } else if has(WEIGHTS) {
        WEIGHTS
    } else {
        return None;
    };
    if !has(CONFIG) {
        return None;
    }
    let mut wanted = vec![CONFIG, weights];
    wanted.extend(OPTIONAL.into_iter().filter(|f| has(f)));
    Some(wanted)
}

/// Whether the cached snapshot `dir` holds a whole model folder (its config, and its weights:
/// every shard its index names), so that it runs without asking the hub.
pub(super) fn is_complete(dir: &Path) -> bool {
    if !dir.join(CONFIG).is_file() {
        return false;
    }
    if dir.join(WEIGHTS).is_file() {
        return true;
    }
    match shards(&dir.join(INDEX)) {
        Ok(shards) => shards.iter().all(|s| dir.join(s).is_file()),
        Err(_) => false,
    }
}

/// The shard files `model.safetensors.index.json` names, each once.
fn shards(index: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(index).map_err(|e| e.to_string())?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let map = json["weight_map"]
        .as_object()
        .ok_or("no weight_map object")?;
    let mut files: Vec<String> = Vec::new();
    for file in map.values() {
        let file = file
            .as_str()
            .ok_or("a weight_map entry is not a file name")?;
        let plain = Path::new(file).file_name().is_some_and(|n| n == file);
        if !plain {
            return Err(format!("{file:?} is not a file name in the repository"));
        }
        if !files.iter().any(|f| f == file) {
            files.push(file.to_string());
        }
    }
    Ok(files)
}

/// Fetches the files `wanted` (from [`plan`]) and, for sharded weights, every shard; returns
/// the snapshot directory that holds them.
pub(super) fn fetch(api: &ApiRepo, repo: &str, wanted: &[&str]) -> Result<PathBuf, HubError> {
    let hub_error = |file: &str, e: &dyn std::fmt::Display| HubError::Hub {
        repo: repo.to_string(),
        message: format!("{file}: {e}"),
    };
    let mut config = None;
    for &file in wanted {
        let path = api.get(file).map_err(|e| hub_error(file, &e))?;
        if file == INDEX {
            for shard in shards(&path).map_err(|e| hub_error(file, &e))? {
                api.get(&shard).map_err(|e| hub_error(&shard, &e))?;
            }
        }
        if file == CONFIG {
            config = Some(path);
        }
    }
    config
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .ok_or_else(|| hub_error(CONFIG, &"not fetched"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(files: &[&str]) -> Vec<String> {
        files.iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn a_folder_is_planned_from_the_listing() {
        let listing = names(&[
            "README.md",
            "config.json",
            "model.safetensors.index.json",
            "model-00001-of-00002.safetensors",
            "tokenizer.json",
            "generation_config.json",
        ]);
        assert_eq!(
            plan(&listing).unwrap(),
            [CONFIG, INDEX, "tokenizer.json", "generation_config.json"]
        );
        assert_eq!(
            plan(&names(&["config.json", WEIGHTS])).unwrap(),
            [CONFIG, WEIGHTS]
        );
        assert!(plan(&names(&["config.json", "pytorch_model.bin"])).is_none());
        assert!(plan(&names(&[WEIGHTS])).is_none());
    }

    #[test]
    fn a_cached_folder_is_complete_with_every_shard() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_complete(dir.path()));
        std::fs::write(dir.path().join(CONFIG), "{}").unwrap();
        std::fs::write(
            dir.path().join(INDEX),
            r#"{"weight_map": {"a": "one.safetensors", "b": "two.safetensors", "c": "one.safetensors"}}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("one.safetensors"), "").unwrap();
        assert!(!is_complete(dir.path()));
        std::fs::write(dir.path().join("two.safetensors"), "").unwrap();
        assert!(is_complete(dir.path()));
        std::fs::write(dir.path().join(INDEX), r#"{"weight_map": {"a": "../x"}}"#).unwrap();
        assert!(!is_complete(dir.path()));
    }
}
