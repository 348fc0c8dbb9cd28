//! Model files: saving and loading round-trip bit for bit, and a damaged file is a clear error
//! naming it.

use burn::prelude::*;
use claude_core::{Gpt, ModelConfig, NormKind, Positions, read_config};

use crate::support::device;

fn llama_like() -> ModelConfig {
    ModelConfig {
        vocab_size: 40,
        context_length: 16,
        n_layer: 1,
        n_head: 2,
        d_model: 16,
        positions: Positions::Rope,
        activation: claude_core::Activation::Swiglu,
        norm: NormKind::Rmsnorm,
        ..ModelConfig::default()
    }
}

/// Every tensor of a safetensors file by name, with its dtype and bytes.
fn tensors(path: &std::path::Path) -> Vec<(String, String, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<_> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, format!("{:?}", view.dtype()), view.data().to_vec()))
        .collect();
    tensors.sort();
    tensors
}

#[test]
fn a_model_file_round_trips_bit_for_bit() {
    let device = device();
    let config = llama_like();
    let model = config.init(&device);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    model.save(&path).unwrap();
    assert_eq!(read_config(&path).unwrap(), config);
    let loaded = Gpt::load(&path, &device).unwrap();
    assert_eq!(loaded.config(), &config);
    let again = dir.path().join("again.safetensors");
    loaded.save(&again).unwrap();
    assert_eq!(tensors(&path), tensors(&again));
    // A checkpoint directory holding the file loads too.
    let from_dir = Gpt::load(dir.path(), &device).unwrap();
    let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![1, 2, 3], [1, 3]), &device);
    let expected = model.forward(ids.clone()).into_data();
    assert_eq!(expected, loaded.forward(ids.clone()).into_data());
    assert_eq!(expected, from_dir.forward(ids).into_data());
    // Nothing is left beside the file.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn damaged_model_files_are_clear_errors_naming_the_file() {
    let device = device();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    llama_like().init(&device).save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = Gpt::load(&path, &device).unwrap_err();
    assert!(
        err.to_string().starts_with(&path.display().to_string()),
        "{err}"
    );
    std::fs::write(&path, b"not a checkpoint").unwrap();
    let err = Gpt::load(&path, &device).unwrap_err();
    assert!(err.to_string().contains("not a safetensors file"), "{err}");
    let missing = dir.path().join("nope.safetensors");
    let err = Gpt::load(&missing, &device).unwrap_err();
    assert!(err.to_string().contains("nope.safetensors"), "{err}");
}

#[test]
fn a_quantized_model_file_round_trips_its_packed_weights() {
    let device = device();
    // GPT-2 style (biases, GeLU, a separate head) and Llama style, 32 wide for GGML's blocks.
    let gpt2_like = ModelConfig {
        d_model: 32,
        bias: true,
        tie_embeddings: false,
        ..llama_like()
    };
    for config in [
        gpt2_like,
        ModelConfig {
            d_model: 32,
            ..llama_like()
        },
    ] {
        for format in ["int8", "q8_0", "q4_0", "q4_1"] {
            let mut model = config.init(&device);
            model.quantize(format.parse().unwrap(), true).unwrap();
            let packed = model.packed_tensor_names();
            assert_eq!(
                packed.len(),
                5 + usize::from(!config.tie_embeddings),
                "{packed:?}"
            );
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("model.safetensors");
            model.save(&path).unwrap();
            let loaded = Gpt::load(&path, &device).unwrap();
            assert_eq!(loaded.packed_tensor_names(), packed);
            let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![1, 2, 3], [1, 3]), &device);
            assert_eq!(
                model.forward(ids.clone()).into_data(),
                loaded.forward(ids).into_data(),
                "{format}"
            );
            let again = dir.path().join("again.safetensors");
            loaded.save(&again).unwrap();
            assert_eq!(tensors(&path), tensors(&again), "{format}");
            // Quantizing twice is refused.
            let mut twice = loaded;
            let err = twice.quantize(format.parse().unwrap(), false).unwrap_err();
            assert!(err.to_string().contains("already quantized"), "{err}");
        }
    }
}

#[test]
fn a_dequantized_model_computes_what_its_packed_weights_compute() {
    use claude_tensors::kernels::packed_matmul::PackedArithmetic;
    let device = device();
    let config = ModelConfig {
        d_model: 32,
        bias: true,
        tie_embeddings: false,
        ..llama_like()
    };
    for format in ["int8", "q8_0", "q4_1"] {
        let mut packed = config.init(&device);
        packed.quantize(format.parse().unwrap(), true).unwrap();
        packed.set_packed_arithmetic(PackedArithmetic::Exact);
        let mut float = packed.clone();
        float.dequantize(&device);
        assert!(float.packed_tensor_names().is_empty(), "{format}");
        let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![1, 2, 3], [1, 3]), &device);
        let diff: f32 = (packed.forward(ids.clone()) - float.forward(ids))
            .abs()
            .max()
            .into_scalar();
        assert!(diff < 1e-4, "{format}: {diff}");
    }
}

/// The lengths of a model's rotary tables: the global one and, with sliding-window layers,
/// the local layers' own.
fn rope_lengths(model: &Gpt) -> (usize, Option<usize>) {
    let global = model.wpe.rope().unwrap().freq_complex.dims()[0];
    let local = model.local_rope.as_ref().map(|r| r.freq_complex.dims()[0]);
    (global, local)
}

/// `model` saved in a temporary directory as `name` (ours, or GGUF for `.gguf`), opened again;
/// the directory lives as long as the returned guard.
fn saved_and_opened(model: &Gpt, name: &str) -> (tempfile::TempDir, claude_core::ModelFile) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    match name.ends_with(".gguf") {
        true => model.save_gguf(&path, Vec::new()).map(|_| ()).unwrap(),
        false => model.save(&path).unwrap(),
    }
    let file = claude_core::ModelFile::open(&path).unwrap();
    (dir, file)
}

#[test]
fn a_model_loaded_with_a_context_cap_builds_its_rotary_tables_at_the_cap() {
    let device = device();
    let config = ModelConfig {
        context_length: 64,
        n_layer: 2,
        sliding_window: Some(claude_core::SlidingWindow {
            size: 4,
            every: 2,
            rope_theta: 10_000.0,
        }),
        ..llama_like()
    };
    let model = config.init(&device);
    let (_dir, file) = saved_and_opened(&model, "model.safetensors");

    let capped = Gpt::from_file_limited(&file, &device, Some(8)).unwrap();
    assert_eq!(capped.context_length(), 8);
    assert_eq!(rope_lengths(&capped), (8, Some(8)));
    // Within the cap it computes what the whole model does.
    let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![1, 2, 3, 4, 5], [1, 5]), &device);
    assert_eq!(
        model.forward(ids.clone()).into_data(),
        capped.forward(ids).into_data()
    );

    // As `limit_context`: at most the model's own, at least 1; no cap is the model's own.
    let above = Gpt::from_file_limited(&file, &device, Some(1000)).unwrap();
    assert_eq!(
        (above.context_length(), rope_lengths(&above)),
        (64, (64, Some(64)))
    );
    let zero = Gpt::from_file_limited(&file, &device, Some(0)).unwrap();
    assert_eq!(
        (zero.context_length(), rope_lengths(&zero)),
        (1, (1, Some(1)))
    );
    let whole = Gpt::from_file(&file, &device).unwrap();
    assert_eq!(
        (whole.context_length(), rope_lengths(&whole)),
        (64, (64, Some(64)))
    );
}

#[test]
fn a_gguf_file_loaded_with_a_context_cap_builds_its_rotary_table_at_the_cap() {
    let device = device();
    let config = ModelConfig {
        context_length: 64,
        bias: false,
        ..llama_like()
    };
    let model = config.init(&device);
    let (_dir, file) = saved_and_opened(&model, "model.gguf");
    let capped = Gpt::from_file_limited(&file, &device, Some(10)).unwrap();
    assert_eq!(capped.context_length(), 10);
    assert_eq!(rope_lengths(&capped), (10, None));
}

#[test]
fn a_context_cap_on_learned_positions_keeps_the_files_table() {
    let device = device();
    let config = ModelConfig {
        context_length: 32,
        positions: Positions::Learned,
        ..llama_like()
    };
    let model = config.init(&device);
    let (_dir, file) = saved_and_opened(&model, "model.safetensors");
    // The table is a weight of the file, read whole; the context is capped after.
    let capped = Gpt::from_file_limited(&file, &device, Some(8)).unwrap();
    assert_eq!(capped.context_length(), 8);
    let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![1, 2, 3], [1, 3]), &device);
    assert_eq!(
        model.forward(ids.clone()).into_data(),
        capped.forward(ids).into_data()
    );
}
