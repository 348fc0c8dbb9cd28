//! Adapter files ([`Gpt::save_adapter_peft`], [`Gpt::save_adapter_gguf`],
//! [`Gpt::load_adapter`]): both formats read back to the adapted logits on a Llama-like and a
//! NeoX-rotary (`qwen2`) model, hold the tensor names, shapes and row orders PEFT and llama.cpp
//! expect, and bad files are errors naming the file and the problem.

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use burn::tensor::Distribution;
use claude_core::{
    Activation, AdapterFormat, AdapterInfo, Gpt, LoraSettings, LoraTarget, ModelConfig,
    ModelFileError, NormKind, PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE, Positions,
};
use claude_gguf::GgufFile;

use crate::support::{device, tokens, values};

/// Four query heads of 8 sharing two key/value heads, SwiGLU, RMSNorm, rotary; `qkv_bias`
/// makes it `qwen2` (NeoX rotation in llama.cpp), else `llama`.
fn config(qkv_bias: bool) -> ModelConfig {
    ModelConfig {
        vocab_size: 48,
        context_length: 16,
        n_layer: 2,
        n_head: 4,
        n_kv_head: Some(2),
        d_model: 32,
        positions: Positions::Rope,
        activation: Activation::Swiglu,
        norm: NormKind::Rmsnorm,
        bias: false,
        qkv_bias,
        tie_embeddings: false,
        rope_theta: 500.0,
        ..ModelConfig::default()
    }
}

const RANK: usize = 4;
const ALPHA: f64 = 8.0;

/// The base model and the same with adapters on every module, their `B` random.
fn adapted(qkv_bias: bool, device: &Device) -> (Gpt, Gpt) {
    device.seed(11);
    let base = config(qkv_bias).init(device);
    let settings = LoraSettings {
        rank: RANK,
        alpha: ALPHA,
        dropout: 0.0,
        targets: LoraTarget::ALL.to_vec(),
    };
    let mut model = base.clone().with_lora(&settings, device).unwrap();
    let fresh: Vec<_> = model
        .adapters()
        .iter()
        .map(|a| (a.layer, a.slice.target, a.slice.a.val(), a.slice.b.dims()))
        .collect();
    for (layer, target, a, b_dims) in fresh {
        let b = Tensor::<2>::random(b_dims, Distribution::Normal(0.0, 0.3), device);
        model
            .set_adapter(layer, target, a, b, ALPHA / RANK as f64)
            .unwrap();
    }
    (base, model)
}

fn logits(model: &Gpt, device: &Device) -> Vec<f64> {
    values(model.forward(tokens(&[3, 17, 5, 9, 22, 1, 30], device)))
}

fn assert_close(got: &[f64], expected: &[f64], what: &str) {
    assert_eq!(got.len(), expected.len());
    let worst = got
        .iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-4, "{what}: logits differ by up to {worst}");
}

/// `B` of one adapter as `[width][r]` rows (the files' layout, in our row order).
fn b_rows(model: &Gpt, layer: usize, target: LoraTarget) -> Vec<Vec<f32>> {
    let adapter = model
        .adapters()
        .into_iter()
        .find(|a| a.layer == layer && a.slice.target == target)
        .unwrap();
    let [rank, width] = adapter.slice.b.dims();
    let b: Vec<f32> = adapter.slice.b.val().into_data().try_to_vec().unwrap();
    (0..width)
        .map(|col| (0..rank).map(|r| b[r * width + col]).collect())
        .collect()
}

/// The safetensors file's tensors: name -> (shape, f32 values).
fn safetensors_tensors(path: &Path) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
            let data = bytemuck::pod_collect_to_vec::<u8, f32>(view.data());
            (name, (view.shape().to_vec(), data))
        })
        .collect()
}

fn write_safetensors(path: &Path, tensors: &BTreeMap<String, (Vec<usize>, Vec<f32>)>) {
    let views: Vec<_> = tensors
        .iter()
        .map(|(name, (shape, data))| {
            let view = safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                shape.clone(),
                bytemuck::cast_slice(data),
            )
            .unwrap();
            (name.clone(), view)
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

fn info() -> AdapterInfo {
    AdapterInfo {
        base_model_name_or_path: "tiny-base".into(),
        lora_dropout: 0.05,
    }
}

#[test]
fn peft_folders_read_back_to_the_adapted_logits() {
    let device = device();
    for qkv_bias in [false, true] {
        let (base, model) = adapted(qkv_bias, &device);
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("adapter");
        model.save_adapter_peft(&folder, &info()).unwrap();
        let mut loaded = base.clone();
        let (format, count) = loaded.load_adapter(&folder, &device).unwrap();
        assert_eq!((format, count), (AdapterFormat::Peft, 14));
        assert_close(&logits(&loaded, &device), &logits(&model, &device), "PEFT");
        let moved = logits(&base, &device)
            .iter()
            .zip(logits(&model, &device))
            .any(|(a, b)| (a - b).abs() > 1e-2);
        assert!(moved, "the adapters change the logits");
    }
}

#[test]
fn gguf_adapters_read_back_to_the_adapted_logits() {
    let device = device();
    for (qkv_bias, arch) in [(false, "llama"), (true, "qwen2")] {
        let (base, model) = adapted(qkv_bias, &device);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lora.gguf");
        let name = vec![("general.name".to_string(), "tiny".into())];
        assert_eq!(model.save_adapter_gguf(&path, name).unwrap(), arch);
        let mut loaded = base.clone();
        let (format, count) = loaded.load_adapter(&path, &device).unwrap();
        assert_eq!((format, count), (AdapterFormat::Gguf, 14));
        assert_close(&logits(&loaded, &device), &logits(&model, &device), arch);
    }
}

#[test]
fn peft_tensors_have_peft_names_shapes_and_config() {
    let device = device();
    let (_, model) = adapted(false, &device);
    let dir = tempfile::tempdir().unwrap();
    model.save_adapter_peft(dir.path(), &info()).unwrap();
    let tensors = safetensors_tensors(&dir.path().join(PEFT_WEIGHTS_FILE));
    assert_eq!(tensors.len(), 2 * 2 * 7);
    // [in, out] of each module: 32 wide, 4 x 8 queries, 2 x 8 keys and values.
    let hidden = config(false).mlp_hidden();
    let modules = [
        ("self_attn.q_proj", 32, 32),
        ("self_attn.k_proj", 32, 16),
        ("self_attn.v_proj", 32, 16),
        ("self_attn.o_proj", 32, 32),
        ("mlp.gate_proj", 32, hidden),
        ("mlp.up_proj", 32, hidden),
        ("mlp.down_proj", hidden, 32),
    ];
    for layer in 0..2 {
        for (module, d_in, d_out) in modules {
            let name = |which| {
                format!("base_model.model.model.layers.{layer}.{module}.lora_{which}.weight")
            };
            assert_eq!(tensors[&name("A")].0, [RANK, d_in], "{module}");
            assert_eq!(tensors[&name("B")].0, [d_out, RANK], "{module}");
        }
    }
    let text = std::fs::read_to_string(dir.path().join(PEFT_CONFIG_FILE)).unwrap();
    let config: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(config["peft_type"], "LORA");
    assert_eq!(config["task_type"], "CAUSAL_LM");
    assert_eq!(config["r"], 4);
    assert_eq!(config["lora_alpha"], 8);
    assert_eq!(config["lora_dropout"], 0.05);
    assert_eq!(config["bias"], "none");
    assert_eq!(config["use_rslora"], false);
    assert_eq!(config["fan_in_fan_out"], false);
    assert_eq!(config["inference_mode"], true);
    assert_eq!(config["base_model_name_or_path"], "tiny-base");
    assert_eq!(config["modules_to_save"], serde_json::Value::Null);
    assert_eq!(config["layers_to_transform"], serde_json::Value::Null);
    let targets: Vec<&str> = config["target_modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        [
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj"
        ]
    );
}

/// Stored row `stored` of a head of 8 rows in NeoX order holds our row `neox(stored)`: the
/// first half our even rows, the second our odd ones.
fn neox(stored: usize) -> usize {
    let (head, j) = (stored / 8, stored % 8);
    head * 8 + if j < 4 { 2 * j } else { 2 * (j - 4) + 1 }
}

#[test]
fn query_and_key_rows_are_stored_in_each_format_s_order() {
    let device = device();
    for (qkv_bias, gguf_neox) in [(false, false), (true, true)] {
        let (_, model) = adapted(qkv_bias, &device);
        let dir = tempfile::tempdir().unwrap();
        model.save_adapter_peft(dir.path(), &info()).unwrap();
        let gguf_path = dir.path().join("lora.gguf");
        model.save_adapter_gguf(&gguf_path, vec![]).unwrap();
        let peft = safetensors_tensors(&dir.path().join(PEFT_WEIGHTS_FILE));
        let gguf = GgufFile::open(&gguf_path).unwrap();
        for (target, module, gguf_name) in [
            (LoraTarget::Q, "self_attn.q_proj", "attn_q"),
            (LoraTarget::K, "self_attn.k_proj", "attn_k"),
            (LoraTarget::V, "self_attn.v_proj", "attn_v"),
        ] {
            let ours = b_rows(&model, 1, target);
            let rotated = target != LoraTarget::V;
            let name = format!("base_model.model.model.layers.1.{module}.lora_B.weight");
            let (_, hf) = &peft[&name];
            let info = gguf
                .tensor(&format!("blk.1.{gguf_name}.weight.lora_b"))
                .unwrap();
            assert_eq!(info.dims, [RANK as u64, ours.len() as u64]);
            let ggml: Vec<f32> = bytemuck::pod_collect_to_vec(gguf.data_of(info).unwrap());
            for stored in [1, 4, 5, 9, 14] {
                let row = |data: &[f32]| data[stored * RANK..(stored + 1) * RANK].to_vec();
                let hf_row = if rotated { neox(stored) } else { stored };
                assert_eq!(row(hf), ours[hf_row], "PEFT {module} row {stored}");
                let gguf_row = if rotated && gguf_neox {
                    neox(stored)
                } else {
                    stored
                };
                assert_eq!(row(&ggml), ours[gguf_row], "GGUF {gguf_name} row {stored}");
            }
            // The reordering moves rows: stored row 1 is our row 2.
            if rotated {
                assert_ne!(ours[1], ours[2]);
            }
        }
        assert_eq!(gguf.metadata().get_str("general.type").unwrap(), "adapter");
        assert_eq!(gguf.metadata().get_str("adapter.type").unwrap(), "lora");
        let alpha = gguf.metadata().get("adapter.lora.alpha").unwrap();
        assert_eq!(alpha.as_f64(), Some(ALPHA));
    }
}

#[test]
fn adapters_of_other_scales_keep_their_products() {
    let device = device();
    let (base, mut model) = adapted(false, &device);
    let (layer, target, a, b) = {
        let adapter = &model.adapters()[0];
        let slice = adapter.slice;
        (adapter.layer, slice.target, slice.a.val(), slice.b.val())
    };
    model.set_adapter(layer, target, a, b, 0.7).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for path in [dir.path().join("peft"), dir.path().join("lora.gguf")] {
        match path.extension() {
            Some(_) => model.save_adapter_gguf(&path, vec![]).map(|_| ()),
            None => model.save_adapter_peft(&path, &info()),
        }
        .unwrap();
        let mut loaded = base.clone();
        loaded.load_adapter(&path, &device).unwrap();
        assert_close(
            &logits(&loaded, &device),
            &logits(&model, &device),
            "rescaled",
        );
    }
}

/// The error of loading `path` onto a fresh model, which is left without adapters.
fn load_error(path: &Path) -> String {
    let device = device();
    let mut model = config(false).init(&device);
    let err = model.load_adapter(path, &device).unwrap_err();
    assert!(!model.has_adapters(), "a failed load attaches nothing");
    err.to_string()
}

/// A PEFT folder of the Llama-like model, its config edited by `edit`.
fn peft_folder(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let (_, model) = adapted(false, &device());
    model.save_adapter_peft(dir, &info()).unwrap();
    let path = dir.join(PEFT_CONFIG_FILE);
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(&path, config.to_string()).unwrap();
}

#[test]
fn bad_peft_folders_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    peft_folder(dir.path(), |_| {});
    std::fs::remove_file(dir.path().join(PEFT_CONFIG_FILE)).unwrap();
    let err = load_error(dir.path());
    assert!(err.contains(PEFT_CONFIG_FILE), "{err}");

    let cases: [(&str, serde_json::Value, &[&str]); 5] = [
        ("use_rslora", true.into(), &["use_rslora = true", "sqrt"]),
        ("fan_in_fan_out", true.into(), &["fan_in_fan_out"]),
        ("bias", "all".into(), &["bias = \"all\""]),
        (
            "modules_to_save",
            serde_json::json!(["lm_head"]),
            &["modules_to_save"],
        ),
        (
            "target_modules",
            serde_json::json!(["q_proj", "lm_head"]),
            &["lm_head"],
        ),
    ];
    for (key, value, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        peft_folder(dir.path(), |config| config[key] = value);
        let err = load_error(dir.path());
        assert!(err.contains(PEFT_CONFIG_FILE), "{err}");
        for part in expected {
            assert!(err.contains(part), "{key}: {err}");
        }
    }

    let dir = tempfile::tempdir().unwrap();
    peft_folder(dir.path(), |config| {
        config.as_object_mut().unwrap().remove("r");
    });
    let err = load_error(dir.path());
    assert!(err.contains("r: missing"), "{err}");
}

#[test]
fn bad_peft_tensors_are_named_errors() {
    let weights = |dir: &Path| dir.join(PEFT_WEIGHTS_FILE);
    let q_b = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight";
    // An unknown module.
    let dir = tempfile::tempdir().unwrap();
    peft_folder(dir.path(), |_| {});
    let mut tensors = safetensors_tensors(&weights(dir.path()));
    let embed = "base_model.model.model.embed_tokens.lora_A.weight";
    tensors.insert(embed.into(), (vec![4, 48], vec![0.0; 4 * 48]));
    write_safetensors(&weights(dir.path()), &tensors);
    let err = load_error(dir.path());
    assert!(
        err.contains(embed) && err.contains(PEFT_WEIGHTS_FILE),
        "{err}"
    );

    // A lora_B of the query projection one row short (NeoX reordering must not panic on it),
    // and one of the right rows but another rank.
    for (shape, expected) in [(vec![31, 4], "[31, 4]"), (vec![32, 3], "B 3x32")] {
        let dir = tempfile::tempdir().unwrap();
        peft_folder(dir.path(), |_| {});
        let mut tensors = safetensors_tensors(&weights(dir.path()));
        let len = shape.iter().product();
        tensors.insert(q_b.into(), (shape, vec![0.5; len]));
        write_safetensors(&weights(dir.path()), &tensors);
        let err = load_error(dir.path());
        assert!(
            err.contains("q_proj.lora_B") && err.contains(expected),
            "{err}"
        );
    }

    // lora_A without its lora_B.
    let dir = tempfile::tempdir().unwrap();
    peft_folder(dir.path(), |_| {});
    let mut tensors = safetensors_tensors(&weights(dir.path()));
    tensors.remove(q_b);
    write_safetensors(&weights(dir.path()), &tensors);
    let err = load_error(dir.path());
    assert!(err.contains(q_b), "{err}");
}

#[test]
fn bad_gguf_adapters_are_named_errors() {
    let device = device();
    let dir = tempfile::tempdir().unwrap();
    // A qwen2 adapter onto a llama model.
    let (_, qwen) = adapted(true, &device);
    let path = dir.path().join("qwen.gguf");
    qwen.save_adapter_gguf(&path, vec![]).unwrap();
    let err = load_error(&path);
    assert!(err.contains("general.architecture = \"qwen2\""), "{err}");
    assert!(err.contains("llama"), "{err}");

    // A model file is no adapter.
    let model_path = dir.path().join("model.gguf");
    qwen.clone()
        .without_adapters()
        .save_gguf(&model_path, vec![])
        .unwrap();
    let err = load_error(&model_path);
    assert!(err.contains("general.type"), "{err}");

    // Neither format.
    let other = dir.path().join("notes.txt");
    std::fs::write(&other, "hello").unwrap();
    let err = load_error(&other);
    assert!(err.contains("not an adapter"), "{err}");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(load_error(&empty).contains("not an adapter"));
}

#[test]
fn models_without_adapters_or_for_fused_layouts_are_refused() {
    let device = device();
    let dir = tempfile::tempdir().unwrap();
    let plain = config(false).init(&device);
    let err = plain
        .save_adapter_peft(&dir.path().join("peft"), &info())
        .unwrap_err();
    assert!(matches!(err, ModelFileError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("no adapters"), "{err}");
    // gpt2 stores q, k and v in one tensor.
    let gpt2 = ModelConfig {
        positions: Positions::Learned,
        activation: Activation::Gelu,
        norm: NormKind::Layernorm,
        bias: true,
        n_kv_head: None,
        ..config(false)
    };
    let settings = LoraSettings {
        rank: 2,
        alpha: 2.0,
        dropout: 0.0,
        targets: vec![LoraTarget::Q],
    };
    let model = gpt2.init(&device).with_lora(&settings, &device).unwrap();
    let err = model
        .save_adapter_gguf(&dir.path().join("gpt2.gguf"), vec![])
        .unwrap_err()
        .to_string();
    assert!(err.contains("attn_q") && err.contains("gpt2"), "{err}");
}

#[test]
fn saving_into_a_folder_with_other_files_keeps_them() {
    let device = device();
    let (_, model) = adapted(false, &device);
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("README.md");
    std::fs::write(&keep, "mine").unwrap();
    model.save_adapter_peft(dir.path(), &info()).unwrap();
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), "mine");
    assert!(dir.path().join(PEFT_WEIGHTS_FILE).is_file());
}

/// One real model for the llama.cpp check: its file, the modules adapted and a prompt.
struct RealCase {
    name: &'static str,
    path: std::path::PathBuf,
    targets: &'static [LoraTarget],
    prompt: &'static [u32],
}

fn real_cases() -> [RealCase; 2] {
    use LoraTarget::*;
    [
        // llama: query and key rows stored as ours.
        RealCase {
            name: "smollm2-135m",
            path: claude_files::shared_data_dir()
                .join("models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf"),
            targets: &[Q, K, V, O, Gate, Up, Down],
            prompt: &[504, 3575, 282, 4649, 314],
        },
        // qwen2: NeoX rotation, so query and key rows stored in NeoX order (only the attention is
        // adapted, which keeps the merged model mostly packed).
        RealCase {
            name: "qwen2.5-coder-0.5b",
            path: claude_files::models_dir().join("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
            targets: &[Q, K],
            prompt: &[785, 6722, 315, 9625, 374],
        },
    ]
}

/// Deterministic adapters (no random numbers, so the script's llama.cpp run and this test see
/// the same): `A[i][j] = 0.05 sin(0.37 i + 1.3 j + l)`, `B[j][k] = 0.1 cos(0.11 k + 0.7 j + 0.3
/// l)` on block `l`, rank 4, alpha 8.
fn attach_wave_adapters(model: &mut Gpt, targets: &[LoraTarget], device: &Device) {
    let settings = LoraSettings {
        rank: RANK,
        alpha: ALPHA,
        dropout: 0.0,
        targets: targets.to_vec(),
    };
    *model = model.clone().with_lora(&settings, device).unwrap();
    let shapes: Vec<_> = model
        .adapters()
        .iter()
        .map(|a| (a.layer, a.slice.target, a.slice.a.dims(), a.slice.b.dims()))
        .collect();
    for (layer, target, [d_in, rank], [_, width]) in shapes {
        let l = layer as f32;
        let a: Vec<f32> = (0..d_in * rank)
            .map(|n| 0.05 * (0.37 * (n / rank) as f32 + 1.3 * (n % rank) as f32 + l).sin())
            .collect();
        let b: Vec<f32> = (0..rank * width)
            .map(|n| 0.1 * (0.11 * (n % width) as f32 + 0.7 * (n / width) as f32 + 0.3 * l).cos())
            .collect();
        let a = Tensor::from_data(TensorData::new(a, [d_in, rank]), device);
        let b = Tensor::from_data(TensorData::new(b, [rank, width]), device);
        model
            .set_adapter(layer, target, a, b, ALPHA / RANK as f64)
            .unwrap();
    }
}

fn greedy(model: &Gpt, prompt: &[u32], steps: usize, device: &Device) -> Vec<u32> {
    let argmax = |row: Vec<f32>| {
        (0..row.len()).fold(0, |best, i| if row[i] > row[best] { i } else { best }) as u32
    };
    let mut out = Vec::new();
    let mut logits = stepwise_logits(model, prompt, device);
    out.push(argmax(logits.next_row(None)));
    while out.len() < steps {
        out.push(argmax(logits.next_row(out.last().copied())));
    }
    out
}

/// Next-token logits one step at a time: the prompt's, then after each token fed.
struct Stepwise<'a> {
    model: &'a Gpt,
    device: &'a Device,
    prompt: Option<Vec<i32>>,
    cache: Option<claude_core::KvCache>,
}

fn stepwise_logits<'a>(model: &'a Gpt, prompt: &[u32], device: &'a Device) -> Stepwise<'a> {
    let prompt = prompt.iter().map(|&t| t as i32).collect();
    Stepwise {
        model,
        device,
        prompt: Some(prompt),
        cache: None,
    }
}

impl Stepwise<'_> {
    /// The prompt's logits (first call, `None`), then those after feeding `token`.
    fn next_row(&mut self, token: Option<u32>) -> Vec<f32> {
        let row = match (self.prompt.take(), token) {
            (Some(ids), _) => {
                let len = ids.len();
                let ids = Tensor::from_data(TensorData::new(ids, [1, len]), self.device);
                let (row, cache) = self.model.prefill(ids);
                self.cache = Some(cache);
                row
            }
            (None, Some(token)) => {
                let cache = self.cache.as_mut().expect("the prompt first");
                let token = TensorData::new(vec![token as i32], [1]);
                (self.model).decode(Tensor::from_data(token, self.device), cache)
            }
            (None, None) => panic!("a token to feed"),
        };
        row.into_data().try_into_vec_as::<f32>().unwrap()
    }
}

/// How far below our best logit each of `theirs` is, fed one after the other after `prompt`
/// (0 where we would pick it too).
fn teacher_forced_gaps(model: &Gpt, prompt: &[u32], theirs: &[u32], device: &Device) -> Vec<f32> {
    let mut logits = stepwise_logits(model, prompt, device);
    let mut fed = None;
    theirs
        .iter()
        .map(|&token| {
            let row = logits.next_row(fed.replace(token));
            let best = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            best - row[token as usize]
        })
        .collect()
}

/// How far below our best logit llama.cpp's greedy token may be: both programs round the
/// activations to 8 bits, but they add the products in different orders, and a value that
/// lands on the other side of a rounding step moves the logits by tenths in a 30-layer model.
const NEAR_TIE: f32 = 0.2;

/// How far below the unmerged model's choice the merged model's logit may be: merging turns the
/// adapted projections into f32 weights, multiplied by f32 activations where the packed base
/// and llama.cpp round them to 8 bits.
const MERGED_NEAR_TIE: f32 = 0.5;

/// Real models with adapters written as llama.cpp LoRA files: fed llama.cpp's greedy tokens
/// with `--lora` (`data/adapter/llama_cpp_lora.sh` ran libllama on the files this writes and
/// saved its tokens in `llama_cpp_greedy.json`), the model with the adapters kept apart (as
/// llama.cpp applies them) picks each of them or holds it within a near-tie ([`NEAR_TIE`]), as
/// the base model does llama.cpp's plain tokens; the merged model does the same with the
/// unmerged model's tokens ([`MERGED_NEAR_TIE`]); and the adapters change the greedy
/// continuation. `CLAUDE_ADAPTER_OUT` keeps the files (for the script); a missing model skips
/// its case.
#[test]
fn real_gguf_adapters_continue_as_in_llama_cpp() {
    let device = device();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/adapter");
    let reference: Option<serde_json::Value> =
        std::fs::read_to_string(data.join("llama_cpp_greedy.json"))
            .ok()
            .map(|text| serde_json::from_str(&text).unwrap());
    let temp = tempfile::tempdir().unwrap();
    let out = std::env::var_os("CLAUDE_ADAPTER_OUT").map_or(temp.path().to_path_buf(), Into::into);
    for case in real_cases() {
        if !case.path.is_file() {
            eprintln!("skipping {}: {} is missing", case.name, case.path.display());
            continue;
        }
        let base = Gpt::load(&case.path, &device).unwrap();
        let mut model = base.clone();
        attach_wave_adapters(&mut model, case.targets, &device);
        let lora = out.join(format!("{}-lora.gguf", case.name));
        model.save_adapter_gguf(&lora, vec![]).unwrap();
        // What we wrote reads back to the same adapters.
        let mut again = base.clone();
        again.load_adapter(&lora, &device).unwrap();
        let (ours, theirs) = (model.adapters(), again.adapters());
        assert_eq!(ours.len(), theirs.len());
        for (x, y) in ours.iter().zip(&theirs) {
            assert_eq!(
                values(x.slice.b.val()),
                values(y.slice.b.val()),
                "{}",
                case.name
            );
        }
        let unmerged = greedy(&model, case.prompt, 16, &device);
        let unmerged_model = model.clone();
        model.merge_lora(&device);
        let adapted = greedy(&model, case.prompt, 16, &device);
        let plain = greedy(&base, case.prompt, 16, &device);
        eprintln!(
            "{}: base {plain:?}, merged {adapted:?}, unmerged {unmerged:?}",
            case.name
        );
        assert_ne!(
            adapted, plain,
            "{}: the adapters change the continuation",
            case.name
        );
        let gaps = teacher_forced_gaps(&model, case.prompt, &unmerged, &device);
        assert!(
            gaps.iter().all(|&gap| gap <= MERGED_NEAR_TIE),
            "{}: merged against unmerged {unmerged:?}: gaps {gaps:?}",
            case.name
        );
        let Some(expected) = reference.as_ref().map(|r| &r[case.name]) else {
            continue;
        };
        let ids = |key: &str| -> Vec<u32> {
            (expected[key].as_array().unwrap().iter())
                .map(|id| id.as_u64().unwrap() as u32)
                .collect()
        };
        // Fed llama.cpp's own greedy tokens, each is our choice or a near-tie with it: for the
        // base model, and for the adapters kept apart against llama.cpp with `--lora`.
        let cases = [
            (&base, &plain, "base"),
            (&unmerged_model, &unmerged, "lora"),
        ];
        for (model, ours, key) in cases {
            let theirs = ids(key);
            let gaps = teacher_forced_gaps(model, case.prompt, &theirs, &device);
            let what = format!("{} ({key}): llama.cpp {theirs:?}, ours {ours:?}", case.name);
            assert!(
                gaps.iter().all(|&gap| gap <= NEAR_TIE),
                "{what}: gaps {gaps:?}"
            );
            let agreed = gaps.iter().filter(|&&gap| gap == 0.0).count();
            assert!(agreed + 2 >= theirs.len(), "{what}: gaps {gaps:?}");
        }
    }
}
