//! Constrained decoding and logprobs on the real SmolLM2-135M-Instruct: greedy output under a
//! JSON schema, any JSON object or a Lark grammar parses and ends with `Stop`; bad schemas and
//! grammars are named errors; logprobs describe the model's own distribution.

use std::sync::OnceLock;

use burn::prelude::*;
use claude_inference::{
    Completion, Constraint, ConstraintCompiler, ConstraintError, FinishReason, GenerateError,
    Generator, SamplingParams, SequenceRequest, open,
};
use claude_tokenizer::AllowedSpecial;
use serde_json::{Value, json};

struct Smol {
    generator: Generator,
    compiler: ConstraintCompiler,
}

/// The model and its constraint compiler, loaded once for all tests here.
fn smol() -> &'static Smol {
    static SMOL: OnceLock<Smol> = OnceLock::new();
    SMOL.get_or_init(|| {
        let path = claude_files::shared_data_dir()
            .join("models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf");
        let device = Device::flex();
        let generator = open(&path, None, &device).unwrap().into_generator(&device);
        let compiler = ConstraintCompiler::new(generator.tokenizer()).unwrap();
        Smol {
            generator,
            compiler,
        }
    })
}

/// A ChatML prompt (SmolLM2's format) for one user message.
fn chat(user: &str) -> Vec<u32> {
    let text = format!(
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n{user}\
         <|im_end|>\n<|im_start|>assistant\n"
    );
    smol()
        .generator
        .tokenizer()
        .encode_with_special(&text, AllowedSpecial::All)
        .unwrap()
}

fn greedy(user: &str, max_new_tokens: usize) -> SequenceRequest {
    SequenceRequest {
        prompt: chat(user),
        max_new_tokens,
        sampling: SamplingParams {
            temperature: 0.0,
            ..SamplingParams::default()
        },
        ..Default::default()
    }
}

fn constrained(user: &str, constraint: Constraint, max_new_tokens: usize) -> Completion {
    let compiled = smol().compiler.compile(&constraint).unwrap();
    let request = SequenceRequest {
        constraint: Some(compiled),
        ..greedy(user, max_new_tokens)
    };
    smol().generator.generate(request, |_| true).unwrap()
}

#[test]
fn greedy_output_under_a_json_schema_satisfies_it_and_stops() {
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 30},
            "age": {"type": "integer"},
            "color": {"enum": ["red", "green", "blue"]}
        },
        "required": ["name", "age", "color"],
        "additionalProperties": false
    });
    let completion = constrained(
        "Describe a person as JSON with their name, age and favourite color.",
        Constraint::JsonSchema(schema),
        120,
    );
    assert_eq!(completion.finish, FinishReason::Stop, "{completion:?}");
    let value: Value = serde_json::from_str(&completion.text).expect(&completion.text);
    let object = value.as_object().unwrap();
    assert_eq!(object.len(), 3, "{value}");
    assert!(object["name"].as_str().unwrap().chars().count() <= 30);
    assert!(object["age"].is_i64() || object["age"].is_u64(), "{value}");
    let color = object["color"].as_str().unwrap();
    assert!(["red", "green", "blue"].contains(&color), "{value}");
    let tokenizer = smol().generator.tokenizer();
    let last = *completion.tokens.last().unwrap();
    assert!(
        completion.text.ends_with('}') || tokenizer.is_end_of_generation(last),
        "{completion:?}"
    );
}

#[test]
fn json_object_mode_gives_an_object() {
    let completion = constrained(
        "Reply with a JSON object with one key, \"answer\", whose value is the capital of France.",
        Constraint::JsonObject,
        200,
    );
    assert_eq!(completion.finish, FinishReason::Stop, "{completion:?}");
    let value: Value = serde_json::from_str(&completion.text).expect(&completion.text);
    assert!(value.is_object(), "{value}");
}

#[test]
fn a_lark_grammar_allows_exactly_its_words_and_ends_the_sequence() {
    for question in ["Is the sky blue? Answer yes or no.", "Is 2 + 2 = 5?"] {
        let completion = constrained(
            question,
            Constraint::Lark(r#"start: "yes" | "no""#.into()),
            10,
        );
        assert!(
            completion.text == "yes" || completion.text == "no",
            "{completion:?}"
        );
        assert_eq!(completion.finish, FinishReason::Stop);
        // Done as soon as the grammar is: no end-of-text token is needed or shown.
        let tokenizer = smol().generator.tokenizer();
        assert!(
            !tokenizer.is_end_of_generation(*completion.tokens.last().unwrap()),
            "{completion:?}"
        );
    }
}

#[test]
fn a_grammar_cut_by_max_tokens_ends_with_length() {
    let completion = constrained(
        "Write a long sentence.",
        Constraint::Lark("start: /[a-z ]+/ \".\"".into()),
        4,
    );
    assert_eq!(completion.finish, FinishReason::Length, "{completion:?}");
    assert_eq!(completion.tokens.len(), 4);
}

#[test]
fn unsupported_schemas_and_broken_grammars_are_named_errors() {
    let compiler = &smol().compiler;
    let schema = json!({"type": "array", "items": {"type": "integer"}, "uniqueItems": true});
    match compiler.compile(&Constraint::JsonSchema(schema)) {
        Err(ConstraintError::Schema(message)) => {
            assert!(message.contains("uniqueItems"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    match compiler.compile(&Constraint::Lark(r#"start: ("yes" | "no""#.into())) {
        Err(ConstraintError::Grammar(message)) => assert!(!message.is_empty()),
        other => panic!("{other:?}"),
    }
    match compiler.compile(&Constraint::Lark("start: missing_rule".into())) {
        Err(error @ ConstraintError::Grammar(_)) => {
            assert!(error.to_string().contains("missing_rule"), "{error}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn greedy_logprobs_put_the_chosen_token_first() {
    let request = SequenceRequest {
        logprobs: Some(5),
        ..greedy("What is the capital of France?", 12)
    };
    let mut events = Vec::new();
    smol()
        .generator
        .generate(request, |event| {
            events.push(event.clone());
            true
        })
        .unwrap();
    assert!(!events.is_empty() && events.last().unwrap().finish.is_some());
    // Every token of the reply has them; an end-of-generation token is not part of it.
    let tokenizer = smol().generator.tokenizer();
    for event in &events {
        if tokenizer.is_end_of_generation(event.token) {
            assert!(event.logprobs.is_none());
            continue;
        }
        let logprobs = event.logprobs.as_ref().unwrap();
        assert_eq!(logprobs.token, event.token);
        assert_eq!(logprobs.top.len(), 5);
        assert_eq!(logprobs.top[0], (event.token, logprobs.logprob));
        assert!(logprobs.top.windows(2).all(|w| w[0].1 >= w[1].1));
        assert!(logprobs.top.iter().all(|&(_, l)| l <= 0.0));
        let mass: f32 = logprobs.top.iter().map(|&(_, l)| l.exp()).sum();
        assert!(mass <= 1.0 + 1e-4, "{mass}");
    }
}

#[test]
fn logprobs_are_only_there_when_asked_and_k_zero_lists_no_alternatives() {
    let none = smol()
        .generator
        .generate(greedy("Hi", 3), |event| {
            assert!(event.logprobs.is_none());
            true
        })
        .unwrap();
    assert_eq!(none.tokens.len(), 3);
    let request = SequenceRequest {
        logprobs: Some(0),
        ..greedy("Hi", 3)
    };
    smol()
        .generator
        .generate(request, |event| {
            let logprobs = event.logprobs.as_ref().unwrap();
            assert!(logprobs.top.is_empty() && logprobs.logprob <= 0.0);
            true
        })
        .unwrap();
    let too_many = SequenceRequest {
        logprobs: Some(21),
        ..greedy("Hi", 3)
    };
    assert!(matches!(
        smol().generator.generate(too_many, |_| true),
        Err(GenerateError::Sampling(bad)) if bad.field == "top_logprobs"
    ));
}

#[test]
fn constrained_logprobs_describe_the_unmasked_model() {
    // The grammar forces "no"; the logprobs still rank the model's own favourites.
    let compiled = smol()
        .compiler
        .compile(&Constraint::Lark(r#"start: "no""#.into()))
        .unwrap();
    let request = SequenceRequest {
        constraint: Some(compiled),
        logprobs: Some(3),
        ..greedy("Say hello.", 5)
    };
    let mut first = None;
    let completion = smol()
        .generator
        .generate(request, |event| {
            first.get_or_insert_with(|| event.logprobs.clone().unwrap());
            true
        })
        .unwrap();
    assert_eq!(completion.text, "no");
    let first = first.unwrap();
    assert_eq!(first.top.len(), 3);
    assert!(first.top[0].1 >= first.logprob, "{first:?}");
}
