//! Tool-call format detection on every shared chat template: each template's expected
//! [`ToolCallFormat`] (or `None` where it renders no tool calls or uses a markup not supported).
//! And every format's forced-call grammar against its own parser, on a real vocabulary.

use burn::prelude::*;
use claude_inference::ToolCallFormat::{self, *};
use claude_inference::tool_calls::{CallIds, FunctionSpec, parse_tool_calls_with_ids};
use claude_inference::{Constraint, ConstraintCompiler, open};
use serde_json::{Value, json};

/// Every shared template and the format it teaches.
const EXPECTED: &[(&str, Option<ToolCallFormat>)] = &[
    ("Apertus-8B-Instruct.jinja", None),
    ("Apriel-1.6-15b-Thinker-fixed.jinja", Some(ToolCallsTag)),
    ("Bielik-11B-v3.0-Instruct.jinja", Some(Hermes)),
    ("ByteDance-Seed-OSS.jinja", Some(SeedXml)),
    ("Cohere2MoE.jinja", None),
    ("CohereForAI-c4ai-command-r-plus-tool_use.jinja", None),
    ("CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja", None),
    ("GLM-4.6.jinja", Some(Glm)),
    ("GLM-4.7-Flash.jinja", Some(Glm)),
    ("GigaChat3-10B-A1.8B.jinja", None),
    ("GigaChat3.1-10B-A1.8B.jinja", None),
    ("HuggingFaceTB-SmolLM3-3B.jinja", None),
    ("Kimi-K2-Instruct.jinja", Some(KimiK2)),
    ("Kimi-K2-Thinking.jinja", Some(KimiK2)),
    ("Kimi-K3.jinja", None),
    ("LFM2-8B-A1B.jinja", None),
    ("LFM2.5-8B-A1B.jinja", None),
    ("LFM2.5-Instruct.jinja", None),
    ("MiMo-VL.jinja", Some(Hermes)),
    ("MiniMax-M1.jinja", Some(ToolCallsTag)),
    ("MiniMax-M2.jinja", Some(MiniMaxXml)),
    ("MiniMax-M3.jinja", None),
    (
        "Mistral-Small-3.2-24B-Instruct-2506.jinja",
        Some(MistralArgs),
    ),
    ("NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.jinja", Some(QwenXml)),
    ("NVIDIA-Nemotron-Nano-v2.jinja", None),
    (
        "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja",
        Some(Hermes),
    ),
    (
        "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja",
        Some(Hermes),
    ),
    ("Qwen-QwQ-32B.jinja", Some(Hermes)),
    ("Qwen-Qwen2.5-7B-Instruct.jinja", Some(Hermes)),
    ("Qwen-Qwen3-0.6B.jinja", Some(Hermes)),
    ("Qwen3-Coder.jinja", Some(QwenXml)),
    ("Qwen3.5-4B.jinja", Some(QwenXml)),
    ("Reka-Edge.jinja", Some(Hermes)),
    ("Spark2.5.jinja", Some(Glm)),
    ("StepFun3.5-Flash.jinja", Some(QwenXml)),
    (
        "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
        Some(DeepSeekR1),
    ),
    (
        "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
        Some(DeepSeekR1),
    ),
    ("deepseek-ai-DeepSeek-V3.1.jinja", Some(DeepSeekV31)),
    ("deepseek-ai-DeepSeek-V3.2.jinja", None),
    ("deepseek-ai-DeepSeek-V4-Flash-0731.jinja", None),
    ("deepseek-ai-DeepSeek-V4.jinja", None),
    (
        "fireworks-ai-llama-3-firefunction-v2.jinja",
        Some(FireFunction),
    ),
    ("google-gemma-2-2b-it.jinja", None),
    ("google-gemma-4-31B-it-interleaved.jinja", None),
    ("google-gemma-4-31B-it.jinja", None),
    (
        "ibm-granite-granite-3.3-2B-Instruct.jinja",
        Some(GraniteJsonList),
    ),
    ("ibm-granite-granite-4.0.jinja", Some(Hermes)),
    ("ibm-granite-granite-4.1.jinja", Some(Hermes)),
    ("inclusionai-ling-3.0-flash.jinja", Some(Glm)),
    ("llama-cpp-deepseek-r1.jinja", Some(DeepSeekR1)),
    ("llama-cpp-rwkv-world.jinja", None),
    (
        "meetkai-functionary-medium-v3.1.jinja",
        Some(FunctionaryV31),
    ),
    (
        "meetkai-functionary-medium-v3.2.jinja",
        Some(FunctionaryV32),
    ),
    ("meta-llama-Llama-3.1-8B-Instruct.jinja", Some(Llama3Json)),
    ("meta-llama-Llama-3.2-3B-Instruct.jinja", Some(Llama3Json)),
    ("meta-llama-Llama-3.3-70B-Instruct.jinja", Some(Llama3Json)),
    ("microsoft-Phi-3.5-mini-instruct.jinja", None),
    (
        "mistralai-Ministral-3-14B-Reasoning-2512.jinja",
        Some(MistralArgs),
    ),
    (
        "mistralai-Mistral-Nemo-Instruct-2407.jinja",
        Some(MistralJsonList),
    ),
    ("moonshotai-Kimi-K2.jinja", Some(KimiK2)),
    ("muse-glimmer.jinja", None),
    ("openai-gpt-oss-120b.jinja", None),
    ("openbmb-MiniCPM5-1B.jinja", None),
    ("poolside-Laguna-S-2.1.jinja", Some(Glm)),
    ("poolside-Laguna-XS-2.1.jinja", Some(Glm)),
    ("poolside-Laguna-XS.2.jinja", Some(Glm)),
    ("tencent-Hy3.jinja", None),
    ("unsloth-Apriel-1.5.jinja", Some(ToolCallsTag)),
    (
        "unsloth-mistral-Devstral-Small-2507.jinja",
        Some(MistralArgs),
    ),
    ("upstage-Solar-Open-100B.jinja", None),
];

#[test]
fn every_shared_template_gets_its_tool_call_format() {
    let dir = claude_files::shared_data_dir().join("chat-templates");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("the shared chat-templates folder")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".jinja"))
        .collect();
    names.sort();
    let listed: Vec<&str> = EXPECTED.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, listed, "the table names every shared template");
    let mut wrong = Vec::new();
    for (name, expected) in EXPECTED {
        let source = std::fs::read_to_string(dir.join(name)).unwrap();
        let detected = ToolCallFormat::detect(&source);
        if detected != *expected {
            wrong.push(format!(
                "{name}: expected {expected:?}, detected {detected:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Two tools whose arguments a walk through the grammar cannot make endless (enums and bounded
/// integers): what a forced call may go to.
fn alarm_tools() -> Vec<FunctionSpec> {
    let alarm = json!({
        "type": "object",
        "properties": {
            "hour": {"type": "integer", "minimum": 0, "maximum": 23},
            "period": {"type": "string", "enum": ["am", "pm"]}
        },
        "required": ["hour", "period"],
        "additionalProperties": false
    });
    vec![
        FunctionSpec {
            name: "set_alarm".into(),
            description: None,
            parameters: alarm,
        },
        FunctionSpec {
            name: "ping".into(),
            description: None,
            parameters: json!({"type": "object", "properties": {}, "additionalProperties": false}),
        },
    ]
}

/// Whether `arguments` fit the tool `name` of [`alarm_tools`].
fn fits(name: &str, arguments: &Value) -> bool {
    match name {
        "set_alarm" => {
            let hour = arguments["hour"].as_i64();
            let period = arguments["period"].as_str();
            hour.is_some_and(|h| (0..=23).contains(&h)) && matches!(period, Some("am" | "pm"))
        }
        "ping" => arguments.as_object().is_some_and(|o| o.is_empty()),
        _ => false,
    }
}

/// Every format's forced-call grammar compiles for SmolLM2's vocabulary, and walks through it
/// (at each step the end where allowed, else the shortest allowed token that is not blank,
/// ties broken by a seeded generator) are text that the format's own parser reads as calls to
/// offered tools with arguments that fit their schemas: one call without `parallel`, one or
/// more with it.
#[test]
fn forced_call_grammars_write_what_the_parsers_read() {
    let path = claude_files::shared_data_dir()
        .join("models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf");
    let device = Device::flex();
    let generator = open(&path, None, &device).unwrap().into_generator(&device);
    let tokenizer = generator.tokenizer();
    let compiler = ConstraintCompiler::new(tokenizer).unwrap();
    // End wherever the grammar allows it (else a parallel walk repeats calls forever), never
    // write blank text where there is a choice (these grammars never require it), and take
    // short tokens (a long one such as `};` would run past the end into another call).
    let weight: Vec<f32> = (0..tokenizer.vocab_size() as u32)
        .map(|id| {
            let bytes = tokenizer.decode_bytes(&[id]).unwrap_or_default();
            if tokenizer.is_end_of_generation(id) {
                1e6
            } else if bytes.iter().all(u8::is_ascii_whitespace) {
                -1e3
            } else {
                100.0 - bytes.len() as f32
            }
        })
        .collect();
    let tools = alarm_tools();
    let mut failures = Vec::new();
    for (at, format) in ToolCallFormat::ALL.iter().enumerate() {
        for parallel in [false, true] {
            let grammar = format.forced_call_grammar(&tools, parallel);
            let compiled = match compiler.compile(&Constraint::Lark(grammar.clone())) {
                Ok(compiled) => compiled,
                Err(error) => {
                    failures.push(format!("{format:?}: does not compile: {error}\n{grammar}"));
                    continue;
                }
            };
            let mut matcher = compiled.matcher();
            let mut seed = 0x9E37_79B9_7F4A_7C15_u64 ^ (at as u64) << 8 ^ parallel as u64;
            let mut text = Vec::new();
            for _ in 0..3000 {
                let mut scores: Vec<f32> = (weight.iter())
                    .map(|w| {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        w + (seed >> 40) as f32 / (1u64 << 24) as f32
                    })
                    .collect();
                if !matcher.mask(&mut scores) {
                    break;
                }
                let token = (0..scores.len())
                    .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
                    .unwrap() as u32;
                if tokenizer.is_end_of_generation(token) || !matcher.consume(token) {
                    break;
                }
                text.extend(tokenizer.decode_bytes(&[token]).unwrap());
                if matcher.is_finished() {
                    break;
                }
            }
            let text = String::from_utf8_lossy(&text).into_owned();
            let shown: String = text.chars().take(300).collect();
            let parsed = match parse_tool_calls_with_ids(*format, &text, CallIds::seeded(1)) {
                Ok(parsed) => parsed,
                Err(error) => {
                    failures.push(format!(
                        "{format:?} (parallel {parallel}): {error}: {shown:?}"
                    ));
                    continue;
                }
            };
            let calls_fit = !parsed.calls.is_empty()
                && (parallel || parsed.calls.len() == 1)
                && parsed.calls.iter().all(|call| {
                    let arguments: Value = serde_json::from_str(&call.arguments).unwrap();
                    fits(&call.name, &arguments)
                });
            if !calls_fit || !parsed.content.trim().is_empty() {
                failures.push(format!(
                    "{format:?} (parallel {parallel}): {parsed:?} from {shown:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
