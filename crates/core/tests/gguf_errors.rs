//! A GGUF file we cannot run is a named error, never a panic: a tensor of a GGML type we do not
//! decode (named by ggml.h's name) or of an id ggml.h does not define, an architecture we do not
//! map (the error lists the ones we run), and a truncated file.

use burn::prelude::*;
use claude_core::{Gpt, ModelConfig, NormKind, Positions};
use claude_gguf::{GgufFile, GgufWriter};

/// A tiny Llama-style model written as GGUF (float weights) to `path`.
fn write_tiny(path: &std::path::Path, device: &Device) {
    let config = ModelConfig {
        vocab_size: 40,
        context_length: 16,
        n_layer: 1,
        n_head: 2,
        d_model: 32,
        positions: Positions::Rope,
        activation: claude_core::Activation::Swiglu,
        norm: NormKind::Rmsnorm,
        bias: false,
        ..ModelConfig::default()
    };
    config.init(device).save_gguf(path, Vec::new()).unwrap();
}

/// The file's bytes with the stored type id of tensor `name` replaced by `id`.
fn with_tensor_type(bytes: &[u8], name: &str, id: u32) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    let at = bytes
        .windows(name.len())
        .position(|w| w == name.as_bytes())
        .unwrap()
        + name.len();
    let n_dims = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let ty = at + 4 + 8 * n_dims;
    bytes[ty..ty + 4].copy_from_slice(&id.to_le_bytes());
    bytes
}

fn load_error(path: &std::path::Path, device: &Device) -> String {
    Gpt::load(path, device).unwrap_err().to_string()
}

#[test]
fn files_we_cannot_run_are_named_errors() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("tiny.gguf");
    write_tiny(&good, &device);
    let bytes = std::fs::read(&good).unwrap();

    let iq2 = dir.path().join("iq2.gguf");
    std::fs::write(&iq2, with_tensor_type(&bytes, "blk.0.attn_q.weight", 16)).unwrap();
    let err = load_error(&iq2, &device);
    assert!(
        err.contains("iq2.gguf") && err.contains("blk.0.attn_q.weight") && err.contains("IQ2_XXS"),
        "{err}"
    );

    let unknown = dir.path().join("unknown.gguf");
    std::fs::write(
        &unknown,
        with_tensor_type(&bytes, "blk.0.attn_q.weight", 999),
    )
    .unwrap();
    let err = load_error(&unknown, &device);
    assert!(err.contains("unknown.gguf") && err.contains("999"), "{err}");

    let truncated = dir.path().join("truncated.gguf");
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let err = load_error(&truncated, &device);
    assert!(err.contains("truncated.gguf"), "{err}");

    // The same tensors and metadata under an architecture we do not run.
    let file = GgufFile::open(&good).unwrap();
    let mut writer = GgufWriter::new();
    for (key, value) in file.metadata().iter() {
        writer.set(key, value.clone());
    }
    writer.set("general.architecture", "mamba");
    for info in file.tensors() {
        let data = file.data_of(info).unwrap();
        writer.add_tensor(info.name.clone(), &info.dims, info.ggml_type, data);
    }
    let mamba = dir.path().join("mamba.gguf");
    writer.write(&mamba).unwrap();
    let err = load_error(&mamba, &device);
    assert!(
        err.contains("mamba.gguf") && err.contains("\"mamba\"") && err.contains("gemma3"),
        "{err}"
    );
}
