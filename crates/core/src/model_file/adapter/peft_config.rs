//! PEFT's `adapter_config.json`: written with the keys `LoraConfig.save_pretrained` writes
//! (PEFT needs only `peft_type`, and fills the rest from its defaults, ignoring keys it does
//! not know), and read back refusing every setting whose computation is not `scale · x A B`
//! with `scale = lora_alpha / r`.

use std::path::Path;

use serde_json::{Value, json};

use crate::lora::LoraTarget;
use crate::model_file::{InvalidModelFile, ModelFileError, UnsupportedModelFile};

/// What an `adapter_config.json` says that reading needs.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PeftConfig {
    /// `r`.
    pub rank: usize,
    /// `lora_alpha`.
    pub alpha: f64,
}

/// The JSON of an `adapter_config.json` for adapters of rank `rank` on `targets`, as PEFT's
/// `LoraConfig` writes it. `layers`: the blocks adapted, when not all of them.
pub(super) fn to_json(
    rank: usize,
    alpha: f64,
    targets: &[LoraTarget],
    layers: Option<&[usize]>,
    info: &super::AdapterInfo,
) -> String {
    let modules: Vec<&str> = targets.iter().map(|t| t.hf_module()).collect();
    let config = json!({
        "alpha_pattern": {},
        "auto_mapping": null,
        "base_model_name_or_path": info.base_model_name_or_path,
        "bias": "none",
        "fan_in_fan_out": false,
        "inference_mode": true,
        "init_lora_weights": true,
        "layers_pattern": null,
        "layers_to_transform": layers,
        "loftq_config": {},
        "lora_alpha": number(alpha),
        "lora_dropout": info.lora_dropout,
        "megatron_config": null,
        "megatron_core": "megatron.core",
        "modules_to_save": null,
        "peft_type": "LORA",
        "r": rank,
        "rank_pattern": {},
        "revision": null,
        "target_modules": modules,
        "task_type": "CAUSAL_LM",
        "use_dora": false,
        "use_rslora": false,
    });
    serde_json::to_string_pretty(&config).expect("JSON values serialize")
}

/// A key, when its value is refused, and why.
type Refusal = (&'static str, fn(&Value) -> bool, &'static str);

/// Reads and checks the `adapter_config.json` at `path`.
pub(super) fn read(path: &Path) -> Result<PeftConfig, ModelFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelFileError::io(path, e))?;
    let json: Value = serde_json::from_str(&text)
        .map_err(|e| field_error(path, "(file)", format!("not JSON: {e}")))?;
    let Some(object) = json.as_object() else {
        return Err(field_error(path, "(file)", "not a JSON object".into()));
    };
    let get = |key: &str| object.get(key).filter(|value| !value.is_null());
    match get("peft_type").and_then(Value::as_str) {
        Some("LORA") => {}
        Some(other) => {
            return Err(refused(
                path,
                "peft_type",
                other,
                "only LORA adapters are read",
            ));
        }
        None => {
            return Err(field_error(
                path,
                "peft_type",
                "missing (expected \"LORA\")".into(),
            ));
        }
    }
    let refusals: [Refusal; 9] = [
        (
            "use_rslora",
            is_true,
            "rank-stabilised scaling (alpha / sqrt(r)) is not supported",
        ),
        (
            "fan_in_fan_out",
            is_true,
            "transposed (Conv1D) base weights are not supported",
        ),
        (
            "use_dora",
            is_true,
            "DoRA's magnitude vectors are not supported",
        ),
        ("lora_bias", is_true, "biases on lora_B are not supported"),
        (
            "bias",
            |v| v.as_str() != Some("none"),
            "only bias = \"none\" is supported",
        ),
        (
            "modules_to_save",
            non_empty,
            "fully trained modules beside the adapters are not supported",
        ),
        (
            "rank_pattern",
            non_empty,
            "per-module ranks are not supported",
        ),
        (
            "alpha_pattern",
            non_empty,
            "per-module alphas are not supported",
        ),
        (
            "trainable_token_indices",
            non_empty,
            "trained token embeddings are not supported",
        ),
    ];
    for (key, refuse, reason) in refusals {
        if let Some(value) = get(key).filter(|value| refuse(value)) {
            return Err(refused(path, key, &value.to_string(), reason));
        }
    }
    if let Some(Value::Array(modules)) = get("target_modules") {
        for module in modules {
            let name = module.as_str().unwrap_or_default();
            let known = LoraTarget::ALL.iter().any(|t| t.hf_module() == name);
            if !known {
                let cause = UnsupportedModelFile::AdapterModule {
                    module: module.to_string(),
                    reason: format!(
                        "target_modules names a module we do not adapt (we adapt {:?})",
                        LoraTarget::ALL.map(LoraTarget::hf_module)
                    ),
                };
                return Err(ModelFileError::unsupported(path, cause));
            }
        }
    }
    let rank = get("r")
        .and_then(Value::as_u64)
        .filter(|&r| r > 0)
        .ok_or_else(|| field_error(path, "r", "missing, or not a positive integer".into()))?;
    let alpha = get("lora_alpha")
        .and_then(Value::as_f64)
        .ok_or_else(|| field_error(path, "lora_alpha", "missing, or not a number".into()))?;
    Ok(PeftConfig {
        rank: rank as usize,
        alpha,
    })
}

/// `value` as a JSON integer when it is whole (as PEFT's configs usually hold `lora_alpha`).
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

fn is_true(value: &Value) -> bool {
    value.as_bool() == Some(true)
}

/// A value other than `false`, an empty list, map or string.
fn non_empty(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => false,
        Value::Array(items) => !items.is_empty(),
        Value::Object(items) => !items.is_empty(),
        Value::String(text) => !text.is_empty(),
        _ => true,
    }
}

fn field_error(path: &Path, field: &str, message: String) -> ModelFileError {
    let cause = InvalidModelFile::AdapterField {
        field: field.to_string(),
        message,
    };
    ModelFileError::invalid(path, cause)
}

fn refused(path: &Path, field: &str, value: &str, reason: &str) -> ModelFileError {
    let cause = UnsupportedModelFile::AdapterSetting {
        field: field.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    };
    ModelFileError::unsupported(path, cause)
}
