//! Our `Q4_K_M` and `Q5_K_M` files are `llama-quantize`'s, tensor for tensor and byte for byte:
//! SmolLM2-135M (shared data, Q4_1) decoded to float and stored as F16 (as `llama-quantize
//! --allow-requantize ... F16` does), then mixed. The sha256 of every tensor `llama-quantize`
//! wrote from the same F16 file is in `data/llama-quantize/` (how it was made is in each file).

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use claude_core::{Gpt, QuantScheme};
use claude_files::shared_data_dir;
use claude_gguf::GgufFile;
use claude_quant::{GgmlType, RowFormat};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `(type, sha256)` of every tensor of a GGUF file.
fn digests(path: &Path) -> BTreeMap<String, (String, String)> {
    let file = GgufFile::open(path).unwrap();
    file.tensors()
        .iter()
        .map(|info| {
            let ty = GgmlType::from_id(info.ggml_type)
                .unwrap()
                .name()
                .to_string();
            let sha = format!("{:x}", Sha256::digest(file.data_of(info).unwrap()));
            (info.name.clone(), (ty, sha))
        })
        .collect()
}

/// llama-quantize's digests for `scheme`.
fn reference(scheme: &str) -> BTreeMap<String, (String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/llama-quantize")
        .join(format!("smollm2-135m-{scheme}.json"));
    let json: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json["tensors"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, t)| {
            let field = |key: &str| t[key].as_str().unwrap().to_string();
            (name.clone(), (field("type"), field("sha256")))
        })
        .collect()
}

#[test]
fn k_quant_mixtures_equal_llama_quantize_byte_for_byte() {
    let device = Device::flex();
    let source =
        shared_data_dir().join("models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf");
    let dir = tempfile::tempdir().unwrap();
    let mut model = Gpt::load(&source, &device).unwrap();
    model.dequantize(&device);
    model
        .quantize(QuantScheme::Uniform(RowFormat::Ggml(GgmlType::F16)), true)
        .unwrap();
    // The F16 file's values are what both quantizers start from.
    model.dequantize(&device);
    for (scheme, name) in [(QuantScheme::Q4KM, "q4_k_m"), (QuantScheme::Q5KM, "q5_k_m")] {
        let mut mixed = model.clone();
        mixed.quantize(scheme, false).unwrap();
        let out = dir.path().join(format!("{name}.gguf"));
        mixed.save_gguf(&out, Vec::new()).unwrap();
        let ours = digests(&out);
        let theirs = reference(name);
        let differing: Vec<_> = theirs
            .iter()
            .filter(|(tensor, digest)| ours.get(*tensor) != Some(digest))
            .map(|(tensor, (ty, _))| {
                format!("{tensor} ({ty}; ours {:?})", ours.get(tensor).map(|d| &d.0))
            })
            .collect();
        assert!(
            differing.is_empty() && ours.len() == theirs.len(),
            "{name}: {} of {} tensors differ from llama-quantize's ({} ours): {differing:?}",
            differing.len(),
            theirs.len(),
            ours.len()
        );
    }
}
