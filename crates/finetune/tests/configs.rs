//! Every fine-tuning config in `configs/` parses and validates, and a wrong one is refused by
//! name.

use std::path::Path;

use claude_finetune::{FinetuneConfig, Method};

#[test]
fn every_finetune_config_parses_and_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut methods = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.starts_with("finetune-") && name.ends_with(".toml") {
            let config = FinetuneConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
            methods.push(config.method);
        }
    }
    assert!(methods.contains(&Method::Lora) && methods.contains(&Method::Qlora));
}

#[test]
fn a_lora_method_without_its_table_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let text = "method = \"lora\"\nmax_length = 64\n[schedule]\nlr = 1e-3\n[train]\nmax_steps = 1\nbatch_size = 1\n";
    std::fs::write(&path, text).unwrap();
    let error = FinetuneConfig::load(&path).unwrap_err().to_string();
    assert!(
        error.contains("bad.toml") && error.contains("[lora]"),
        "{error}"
    );
    std::fs::write(&path, text.replace("max_length", "max_lenght")).unwrap();
    let error = FinetuneConfig::load(&path).unwrap_err().to_string();
    assert!(error.contains("max_lenght"), "{error}");
}
