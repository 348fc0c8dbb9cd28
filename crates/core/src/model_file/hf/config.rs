//! A Hugging Face `config.json` as a [`ModelConfig`]: the `model_type` picks the architecture
//! (the variants [`Architecture::variants`] stands for), the fields give the sizes, with
//! transformers' own defaults for the fields a file leaves out (a multimodal Gemma 3 config
//! writes only what differs from them in its `text_config`).
//!
//! | `model_type` | architecture | refused by name |
//! |---|---|---|
//! | `llama` | `llama` | `rope_scaling` other than linear (Llama 3.1's `llama3`), `attention_bias`, `mlp_bias` |
//! | `mistral` | `llama`; `sliding_window` below the context makes every layer local | as `llama` |
//! | `qwen2` | `qwen2` | `use_sliding_window` |
//! | `qwen3` | `qwen3` | `use_sliding_window`, `attention_bias` |
//! | `gemma3_text`, `gemma3` (under `text_config`) | `gemma3` | `query_pre_attn_scalar` other than `head_dim`, logit soft-capping, layer types not in groups |
//! | `phi3` | `phi3`; `sliding_window` as `mistral` | `rope_scaling` `longrope`, `partial_rotary_factor` below 1 |
//!
//! RoPE settings are read in both spellings transformers has written: `rope_theta` and
//! `rope_scaling` (`type` or `rope_type`, `factor`), and `rope_parameters` (transformers 5: one
//! set, or one per layer type for Gemma 3); Gemma 3's local base is `rope_local_base_freq` in the
//! first.

use std::path::Path;

use serde_json::{Map, Value};

use crate::config::{Activation, ModelConfig, SlidingWindow};
use crate::model_file::gguf::arch::Architecture;
use crate::model_file::{InvalidModelFile, ModelFileError, UnsupportedModelFile};

/// The `model_type`s read, for messages.
pub(crate) const SUPPORTED: [&str; 7] = [
    "llama",
    "mistral",
    "qwen2",
    "qwen3",
    "gemma3_text",
    "gemma3",
    "phi3",
];

/// A parsed `config.json`: the model config and how the weights are stored.
#[derive(Debug, Clone)]
pub(crate) struct HfConfig {
    /// The file's (top-level) `model_type`.
    pub(crate) model_type: String,
    /// The architecture whose variants the model has (and whose tensor layout the file uses).
    pub(crate) arch: Architecture,
    /// The model config.
    pub(crate) config: ModelConfig,
}

impl HfConfig {
    /// Whether the norm weights are stored as `w` for a model computing `x * (1 + w)` (Gemma).
    pub(crate) fn norm_plus_one(&self) -> bool {
        self.arch == Architecture::Gemma3
    }
}

/// transformers' defaults of one config class, for the fields a file leaves out.
struct Defaults {
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    layers: usize,
    heads: usize,
    /// `None`: as many as the query heads.
    kv_heads: Option<usize>,
    /// `None`: `hidden_size / heads`.
    head_dim: Option<usize>,
    context: usize,
    eps: f64,
    rope_theta: f64,
    tie: bool,
    activation: &'static str,
    /// The default `sliding_window`.
    sliding_window: Option<usize>,
}

/// The defaults of `model_type`'s config class (transformers' `LlamaConfig`, ...).
fn defaults(model_type: &str) -> Defaults {
    let llama = Defaults {
        vocab_size: 32000,
        hidden_size: 4096,
        intermediate_size: 11008,
        layers: 32,
        heads: 32,
        kv_heads: None,
        head_dim: None,
        context: 2048,
        eps: 1e-6,
        rope_theta: 10_000.0,
        tie: false,
        activation: "silu",
        sliding_window: None,
    };
    match model_type {
        "mistral" => Defaults {
            intermediate_size: 14336,
            kv_heads: Some(8),
            context: 4096 * 32,
            sliding_window: Some(4096),
            ..llama
        },
        "qwen2" | "qwen3" => Defaults {
            vocab_size: 151_936,
            intermediate_size: 22016,
            kv_heads: Some(32),
            head_dim: (model_type == "qwen3").then_some(128),
            context: 32768,
            ..llama
        },
        "phi3" => Defaults {
            vocab_size: 32064,
            hidden_size: 3072,
            intermediate_size: 8192,
            context: 4096,
            eps: 1e-5,
            ..llama
        },
        "gemma3_text" => Defaults {
            vocab_size: 262_208,
            hidden_size: 2304,
            intermediate_size: 9216,
            layers: 26,
            heads: 8,
            kv_heads: Some(4),
            head_dim: Some(256),
            context: 131_072,
            rope_theta: 1_000_000.0,
            tie: true,
            activation: "gelu_pytorch_tanh",
            sliding_window: Some(4096),
            ..llama
        },
        _ => llama,
    }
}

/// Reads `config.json` (the text `json` of the file `path`).
pub(crate) fn parse(json: &str, path: &Path) -> Result<HfConfig, ModelFileError> {
    let root: Value = serde_json::from_str(json).map_err(|e| field_error(path, "(file)", e))?;
    let Some(root) = root.as_object() else {
        return Err(field_error(path, "(file)", "not a JSON object"));
    };
    let top = Fields {
        map: root,
        prefix: "",
        path,
    };
    let model_type = top
        .opt_str("model_type")?
        .ok_or_else(|| field_error(path, "model_type", "missing"))?
        .to_string();
    let (fields, text_type) = if model_type == "gemma3" {
        let text = match root.get("text_config") {
            Some(Value::Object(map)) => map,
            _ => {
                return Err(field_error(
                    path,
                    "text_config",
                    "missing, or not an object",
                ));
            }
        };
        let fields = Fields {
            map: text,
            prefix: "text_config.",
            path,
        };
        let text_type = fields.opt_str("model_type")?.unwrap_or("gemma3_text");
        (fields, text_type.to_string())
    } else {
        (top.clone(), model_type.clone())
    };
    let arch = match text_type.as_str() {
        "llama" | "mistral" => Architecture::Llama,
        "qwen2" => Architecture::Qwen2,
        "qwen3" => Architecture::Qwen3,
        "gemma3_text" => Architecture::Gemma3,
        "phi3" => Architecture::Phi3,
        _ => {
            let cause = UnsupportedModelFile::ModelType {
                model_type: text_type,
                supported: SUPPORTED.to_vec(),
            };
            return Err(ModelFileError::unsupported(path, cause));
        }
    };
    let config = model_config(&fields, &top, &text_type, arch)?;
    config.validate().map_err(|cause| ModelFileError::Config {
        path: path.to_path_buf(),
        cause,
    })?;
    Ok(HfConfig {
        model_type,
        arch,
        config,
    })
}

/// The model config of a text model whose fields are `f` (the top level's are `top`).
fn model_config(
    f: &Fields,
    top: &Fields,
    model_type: &str,
    arch: Architecture,
) -> Result<ModelConfig, ModelFileError> {
    let d = defaults(model_type);
    let variants = arch.variants();
    let hidden = f.uint("hidden_size", d.hidden_size)?;
    let heads = f.uint("num_attention_heads", d.heads)?;
    let kv_heads = f.uint("num_key_value_heads", d.kv_heads.unwrap_or(heads))?;
    let head_dim = match f.opt_uint("head_dim")?.or(d.head_dim) {
        Some(width) => width,
        None if heads > 0 => hidden / heads,
        None => 0,
    };
    let layers = f.uint("num_hidden_layers", d.layers)?;
    let context = f.uint("max_position_embeddings", d.context)?;
    let tie = match f.opt_bool("tie_word_embeddings")? {
        Some(tie) => tie,
        None => top.opt_bool("tie_word_embeddings")?.unwrap_or(d.tie),
    };

    let act_field = match arch {
        Architecture::Gemma3 => "hidden_activation",
        _ => "hidden_act",
    };
    let act = f.opt_str(act_field)?.unwrap_or(d.activation);
    let act_ok = match variants.activation {
        Activation::Swiglu => matches!(act, "silu" | "swish"),
        Activation::GegluTanh => matches!(act, "gelu_pytorch_tanh" | "gelu_tanh"),
        Activation::Gelu => false,
    };
    if !act_ok {
        return Err(f.refuse(
            act_field,
            format!("the {model_type} MLP is computed with {}", d.activation),
        ));
    }
    for flag in ["attention_bias", "mlp_bias"] {
        if f.opt_bool(flag)? == Some(true) {
            return Err(f.refuse(flag, "biases on these projections are not supported"));
        }
    }
    if f.opt_bool("use_sliding_window")? == Some(true) {
        return Err(f.refuse(
            "use_sliding_window",
            "Qwen's sliding-window layers are not supported",
        ));
    }
    if let Some(factor) = f.opt_float("partial_rotary_factor")?
        && factor != 1.0
    {
        let cause = UnsupportedModelFile::PartialRotary {
            rotated: (factor * head_dim as f64).round() as u64,
            head_dim,
        };
        return Err(ModelFileError::unsupported(f.path, cause));
    }

    let rope = Rope::read(f, d.rope_theta)?;
    let (rope_theta, rope_scale) = rope.global(f)?;
    let sliding_window = match arch {
        Architecture::Gemma3 => gemma3_window(f, &d, layers, &rope)?,
        _ => {
            let window = match f.get("sliding_window") {
                Some(_) => f.opt_uint("sliding_window")?,
                None if f.map.contains_key("sliding_window") => None,
                None => d.sliding_window,
            };
            if let Some(types) = f.get("layer_types") {
                let all_full = types
                    .as_array()
                    .is_some_and(|t| t.iter().all(|t| t == "full_attention"));
                if !all_full && model_type != "mistral" && model_type != "phi3" {
                    return Err(f.refuse(
                        "layer_types",
                        "sliding-window layers are not supported for this model type",
                    ));
                }
            }
            match window {
                // Mistral and Phi-3 attend in the window on every layer.
                Some(size) if size < context && matches!(model_type, "mistral" | "phi3") => {
                    if rope_scale.is_some() {
                        return Err(f.refuse(
                            "sliding_window",
                            "a window on every layer with scaled RoPE is not supported",
                        ));
                    }
                    Some(SlidingWindow {
                        size,
                        every: layers + 1,
                        rope_theta,
                    })
                }
                _ => None,
            }
        }
    };
    if arch == Architecture::Gemma3 {
        let scalar = f.opt_float("query_pre_attn_scalar")?.unwrap_or(256.0);
        if scalar != head_dim as f64 {
            return Err(f.refuse(
                "query_pre_attn_scalar",
                format!("attention is scaled by head_dim^-0.5 ({head_dim})"),
            ));
        }
        if f.opt_bool("use_bidirectional_attention")? == Some(true) {
            return Err(f.refuse(
                "use_bidirectional_attention",
                "the model attends causally (EmbeddingGemma is not supported)",
            ));
        }
        for cap in ["final_logit_softcapping", "attn_logit_softcapping"] {
            if f.get(cap).is_some() {
                return Err(f.refuse(cap, "logit soft-capping is not supported"));
            }
        }
    }
    let eps = f.float("rms_norm_eps", d.eps)?;
    Ok(ModelConfig {
        vocab_size: f.uint("vocab_size", d.vocab_size)?,
        context_length: context,
        n_layer: layers,
        n_head: heads,
        n_kv_head: (kv_heads != heads).then_some(kv_heads),
        d_model: hidden,
        d_ff: Some(f.uint("intermediate_size", d.intermediate_size)?),
        tie_embeddings: tie,
        dropout: 0.0,
        rope_theta,
        norm_eps: eps,
        head_dim: (head_dim * heads != hidden).then_some(head_dim),
        rope_scale,
        sliding_window,
        ..variants
    })
}

/// Gemma 3's local layers: the window, which layers are global (`layer_types`, else
/// `sliding_window_pattern`) and their RoPE base.
fn gemma3_window(
    f: &Fields,
    d: &Defaults,
    layers: usize,
    rope: &Rope,
) -> Result<Option<SlidingWindow>, ModelFileError> {
    let size = f.uint("sliding_window", d.sliding_window.unwrap_or(4096))?;
    let every = match f.get("layer_types") {
        Some(Value::Array(types)) => {
            let full: Vec<bool> = types
                .iter()
                .map(|t| match t.as_str() {
                    Some("full_attention") => Ok(true),
                    Some("sliding_attention") => Ok(false),
                    _ => Err(field_error(
                        f.path,
                        &f.name("layer_types"),
                        format!("{t} is neither \"full_attention\" nor \"sliding_attention\""),
                    )),
                })
                .collect::<Result<_, _>>()?;
            if full.len() != layers {
                return Err(field_error(
                    f.path,
                    &f.name("layer_types"),
                    format!("{} types for {layers} layers", full.len()),
                ));
            }
            let every = full.iter().position(|&g| g).map_or(layers + 1, |i| i + 1);
            if (0..layers).any(|i| full[i] != (i + 1).is_multiple_of(every)) {
                return Err(f.refuse(
                    "layer_types",
                    format!("global layers come every {every} layers, or not at all"),
                ));
            }
            every
        }
        Some(_) => return Err(field_error(f.path, &f.name("layer_types"), "not a list")),
        None => f.uint("sliding_window_pattern", 6)?,
    };
    if every == 1 {
        return Ok(None);
    }
    let rope_theta = rope.local(f)?;
    Ok(Some(SlidingWindow {
        size,
        every,
        rope_theta,
    }))
}

/// The RoPE settings of a config, in either spelling.
struct Rope {
    /// The global (or only) layers' base and scaling: `rope_theta` and `rope_scaling`, or
    /// `rope_parameters` (its `full_attention` set where it has one per layer type).
    global: (f64, Option<(String, Value)>),
    /// The local layers' (`rope_parameters.sliding_attention`), when given apart.
    local: Option<(f64, Option<(String, Value)>)>,
}

impl Rope {
    fn read(f: &Fields, default_theta: f64) -> Result<Rope, ModelFileError> {
        let legacy_theta = f.float("rope_theta", default_theta)?;
        let Some(params) = f.get("rope_parameters") else {
            let scaling = f
                .get("rope_scaling")
                .map(|scaling| ("rope_scaling".to_string(), scaling.clone()));
            return Ok(Rope {
                global: (legacy_theta, scaling),
                local: None,
            });
        };
        let set = |key: &str,
                   value: &Value,
                   default_theta: f64|
         -> Result<(f64, Option<(String, Value)>), ModelFileError> {
            let name = f.name(key);
            let Some(map) = value.as_object() else {
                return Err(field_error(f.path, &name, "not an object"));
            };
            let theta = match map.get("rope_theta") {
                None | Some(Value::Null) => default_theta,
                Some(v) => v.as_f64().ok_or_else(|| {
                    field_error(f.path, &format!("{name}.rope_theta"), "not a number")
                })?,
            };
            Ok((theta, Some((key.to_string(), value.clone()))))
        };
        let per_type = params.get("full_attention").is_some();
        Ok(if per_type {
            let full = params.get("full_attention").expect("checked");
            Rope {
                global: set("rope_parameters.full_attention", full, legacy_theta)?,
                local: match params.get("sliding_attention") {
                    Some(local) => {
                        let base = f.float("rope_local_base_freq", 10_000.0)?;
                        Some(set("rope_parameters.sliding_attention", local, base)?)
                    }
                    None => None,
                },
            }
        } else {
            Rope {
                global: set("rope_parameters", params, legacy_theta)?,
                local: None,
            }
        })
    }

    /// The global layers' base and linear scaling factor.
    fn global(&self, f: &Fields) -> Result<(f32, Option<f32>), ModelFileError> {
        let (theta, scaling) = &self.global;
        Ok((*theta as f32, linear_factor(f, scaling.as_ref())?))
    }

    /// The local layers' base (Gemma 3); their RoPE is never scaled.
    fn local(&self, f: &Fields) -> Result<f32, ModelFileError> {
        match &self.local {
            Some((theta, scaling)) => {
                if linear_factor(f, scaling.as_ref())?.is_some() {
                    return Err(f.refuse(
                        "rope_parameters.sliding_attention",
                        "scaled RoPE on the local layers is not supported",
                    ));
                }
                Ok(*theta as f32)
            }
            None => Ok(f.float("rope_local_base_freq", 10_000.0)? as f32),
        }
    }
}

/// The factor of a linear RoPE scaling (`None` for none, or a factor of 1); another kind is
/// refused by name.
fn linear_factor(
    f: &Fields,
    scaling: Option<&(String, Value)>,
) -> Result<Option<f32>, ModelFileError> {
    let Some((key, scaling)) = scaling else {
        return Ok(None);
    };
    let name = f.name(key);
    let Some(map) = scaling.as_object() else {
        return Err(field_error(f.path, &name, "not an object"));
    };
    let kind = map
        .get("rope_type")
        .or_else(|| map.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    let factor = map.get("factor").and_then(Value::as_f64);
    match (kind, factor) {
        ("default", _) => Ok(None),
        ("linear", Some(1.0)) => Ok(None),
        ("linear", Some(factor)) if factor.is_finite() && factor > 0.0 => Ok(Some(factor as f32)),
        ("linear", _) => Err(field_error(
            f.path,
            &format!("{name}.factor"),
            "a linear scaling needs a positive factor",
        )),
        (kind, _) => Err(ModelFileError::unsupported(
            f.path,
            UnsupportedModelFile::RopeScaling {
                kind: kind.to_string(),
            },
        )),
    }
}

/// The fields of one config object (the top level, or `text_config`), read with named errors.
#[derive(Clone)]
struct Fields<'a> {
    map: &'a Map<String, Value>,
    /// `text_config.` for a nested text config, for messages.
    prefix: &'static str,
    /// `config.json`, for errors.
    path: &'a Path,
}

impl<'a> Fields<'a> {
    /// The field's name in messages.
    fn name(&self, field: &str) -> String {
        format!("{}{field}", self.prefix)
    }

    /// A field that is present and not `null`.
    fn get(&self, field: &str) -> Option<&'a Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    fn bad(&self, field: &str, expected: &str) -> ModelFileError {
        let value = self.get(field).map(Value::to_string).unwrap_or_default();
        field_error(
            self.path,
            &self.name(field),
            format!("{value} is not {expected}"),
        )
    }

    fn opt_uint(&self, field: &str) -> Result<Option<usize>, ModelFileError> {
        self.get(field)
            .map(|v| {
                v.as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| self.bad(field, "a whole number"))
            })
            .transpose()
    }

    fn uint(&self, field: &str, default: usize) -> Result<usize, ModelFileError> {
        Ok(self.opt_uint(field)?.unwrap_or(default))
    }

    fn opt_float(&self, field: &str) -> Result<Option<f64>, ModelFileError> {
        self.get(field)
            .map(|v| v.as_f64().ok_or_else(|| self.bad(field, "a number")))
            .transpose()
    }

    fn float(&self, field: &str, default: f64) -> Result<f64, ModelFileError> {
        Ok(self.opt_float(field)?.unwrap_or(default))
    }

    fn opt_bool(&self, field: &str) -> Result<Option<bool>, ModelFileError> {
        self.get(field)
            .map(|v| v.as_bool().ok_or_else(|| self.bad(field, "true or false")))
            .transpose()
    }

    fn opt_str(&self, field: &str) -> Result<Option<&'a str>, ModelFileError> {
        self.get(field)
            .map(|v| v.as_str().ok_or_else(|| self.bad(field, "a string")))
            .transpose()
    }

    /// The setting `field` (as the file has it), refused for `reason`.
    fn refuse(&self, field: &str, reason: impl Into<String>) -> ModelFileError {
        let cause = UnsupportedModelFile::HfSetting {
            field: self.name(field),
            value: self.get(field).map(Value::to_string).unwrap_or_default(),
            reason: reason.into(),
        };
        ModelFileError::unsupported(self.path, cause)
    }
}

/// An error about field `field` of the JSON file `path`.
pub(crate) fn field_error(
    path: &Path,
    field: &str,
    message: impl std::fmt::Display,
) -> ModelFileError {
    ModelFileError::invalid(
        path,
        InvalidModelFile::HfField {
            field: field.to_string(),
            message: message.to_string(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NormKind;

    fn parse_json(json: &str) -> Result<HfConfig, ModelFileError> {
        parse(json, Path::new("config.json"))
    }

    const LLAMA: &str = r#"{"model_type": "llama", "hidden_size": 64, "intermediate_size": 96,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "vocab_size": 128, "max_position_embeddings": 256, "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0, "hidden_act": "silu", "tie_word_embeddings": false}"#;

    #[test]
    fn llama_fields_become_the_config() {
        let hf = parse_json(LLAMA).unwrap();
        let c = &hf.config;
        assert_eq!(hf.arch, Architecture::Llama);
        assert_eq!(
            (c.d_model, c.n_head, c.kv_heads(), c.head_dim()),
            (64, 4, 2, 16)
        );
        assert_eq!((c.n_layer, c.vocab_size, c.context_length), (2, 128, 256));
        assert_eq!(
            (c.d_ff, c.norm, c.norm_eps),
            (Some(96), NormKind::Rmsnorm, 1e-5)
        );
        assert_eq!(
            (c.rope_theta, c.rope_scale, c.tie_embeddings),
            (500000.0, None, false)
        );
        assert!(!c.bias && !c.qkv_bias && c.sliding_window.is_none());
    }

    #[test]
    fn gemma3_nested_config_takes_the_class_defaults() {
        let json = r#"{"model_type": "gemma3", "text_config": {"hidden_size": 2560,
            "intermediate_size": 10240, "model_type": "gemma3_text", "num_hidden_layers": 34,
            "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "sliding_window": 1024}}"#;
        let hf = parse_json(json).unwrap();
        let c = &hf.config;
        assert_eq!(hf.model_type, "gemma3");
        assert_eq!((c.n_head, c.kv_heads(), c.head_dim()), (8, 4, 256));
        assert_eq!((c.rope_theta, c.rope_scale), (1_000_000.0, Some(8.0)));
        let window = c.sliding_window.unwrap();
        assert_eq!(
            (window.size, window.every, window.rope_theta),
            (1024, 6, 10_000.0)
        );
        assert!(c.tie_embeddings && c.scale_embeddings && c.post_norms && c.qk_norm);
        assert_eq!(c.activation, Activation::GegluTanh);
    }

    #[test]
    fn gemma3_rope_parameters_and_layer_types() {
        let json = r#"{"model_type": "gemma3_text", "hidden_size": 64, "num_hidden_layers": 4,
            "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32,
            "query_pre_attn_scalar": 32, "sliding_window": 8,
            "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
            "rope_parameters": {"full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 100000.0},
                                "sliding_attention": {"rope_type": "default", "rope_theta": 1000.0}}}"#;
        let c = parse_json(json).unwrap().config;
        let window = c.sliding_window.unwrap();
        assert_eq!(
            (window.size, window.every, window.rope_theta),
            (8, 2, 1000.0)
        );
        assert_eq!((c.rope_theta, c.rope_scale), (100_000.0, Some(2.0)));
        let bad = json.replace(
            r#""sliding_attention", "full_attention", "sliding_attention", "full_attention""#,
            r#""sliding_attention", "full_attention", "full_attention", "sliding_attention""#,
        );
        let err = parse_json(&bad).unwrap_err().to_string();
        assert!(err.contains("layer_types"), "{err}");
        let bad = json.replace(
            r#""query_pre_attn_scalar": 32"#,
            r#""query_pre_attn_scalar": 64"#,
        );
        let err = parse_json(&bad).unwrap_err().to_string();
        assert!(err.contains("query_pre_attn_scalar = 64"), "{err}");
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (
                r#""model_type": "llama""#,
                r#""model_type": "bert""#,
                "\"bert\"",
            ),
            (
                r#""hidden_act": "silu""#,
                r#""hidden_act": "gelu""#,
                "hidden_act",
            ),
            (
                r#""rope_theta": 500000.0"#,
                r#""rope_scaling": {"rope_type": "llama3", "factor": 8.0}"#,
                "llama3",
            ),
            (
                r#""hidden_size": 64"#,
                r#""hidden_size": "wide""#,
                "hidden_size",
            ),
            (
                r#""hidden_size": 64"#,
                r#""hidden_size": 64, "mlp_bias": true"#,
                "mlp_bias",
            ),
        ];
        for (from, to, named) in cases {
            let err = parse_json(&LLAMA.replace(from, to))
                .unwrap_err()
                .to_string();
            assert!(err.contains(named) && err.contains("config.json"), "{err}");
        }
        let err = parse_json(&LLAMA.replace(r#""model_type": "llama""#, r#""model_type": "bert""#))
            .unwrap_err()
            .to_string();
        assert!(err.contains("qwen3") && err.contains("phi3"), "{err}");
        let phi = LLAMA.replace(r#""model_type": "llama""#, r#""model_type": "phi3""#);
        let longrope = phi.replace(
            r#""rope_theta": 500000.0"#,
            r#""rope_scaling": {"type": "longrope", "short_factor": [1.0], "long_factor": [1.0]}"#,
        );
        let err = parse_json(&longrope).unwrap_err().to_string();
        assert!(err.contains("\"longrope\""), "{err}");
        assert!(
            parse_json("[1, 2]")
                .unwrap_err()
                .to_string()
                .contains("not a JSON object")
        );
    }

    #[test]
    fn mistral_window_makes_every_layer_local() {
        let json = LLAMA.replace(
            r#""model_type": "llama""#,
            r#""model_type": "mistral", "sliding_window": 16"#,
        );
        let c = parse_json(&json).unwrap().config;
        assert!((0..c.n_layer).all(|layer| c.layer_window(layer) == Some(16)));
        let json = json.replace(r#""sliding_window": 16"#, r#""sliding_window": null"#);
        assert!(parse_json(&json).unwrap().config.sliding_window.is_none());
    }
}
