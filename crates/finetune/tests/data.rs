//! Fine-tuning data: assistant-only loss masks on SmolLM2's own chat template and tokenizer, plain
//! text lines, ChatML without a model file, and the errors bad lines get.

use std::path::{Path, PathBuf};

use claude_finetune::data::{DataError, Example, ExampleSet, Overlong, ReadOptions, read_examples};
use claude_inference::{ChatMessage, ChatTemplate};
use claude_tokenizer::gguf::DecodeOptions;
use claude_tokenizer::{BpeTrainer, Tokenizer};
use serde_json::{Value, json};

/// SmolLM2's end-of-turn marker (ChatML's).
const IM_END: &str = "<|im_end|>";

/// SmolLM2-135M-Instruct's GGUF file in the shared data.
fn smollm2_path() -> PathBuf {
    claude_files::shared_data_dir()
        .join("models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// SmolLM2's tokenizer and its own chat template, read from the GGUF metadata alone (no weights),
/// with BOS / EOS texts as the inference loader gives them.
fn smollm2() -> (Tokenizer, ChatTemplate) {
    let path = smollm2_path();
    let tokenizer = Tokenizer::from_gguf(&path).unwrap();
    let file = claude_gguf::GgufFile::open(&path).unwrap();
    let source = file
        .metadata()
        .opt_str("tokenizer.chat_template")
        .unwrap()
        .expect("SmolLM2 ships a chat template");
    let Tokenizer::Gguf(gguf) = &tokenizer else {
        unreachable!()
    };
    let ids = gguf.special_ids();
    let text = |id: Option<u32>| id.and_then(|id| gguf.token_text(id)).unwrap_or("");
    let template = ChatTemplate::jinja(source, text(ids.bos), text(ids.eos)).unwrap();
    (tokenizer, template)
}

/// Control tokens rendered as their text (`<|im_end|>`), nothing dropped.
fn decode(tokenizer: &Tokenizer, ids: &[u32]) -> String {
    let Tokenizer::Gguf(gguf) = tokenizer else {
        return tokenizer.decode(ids).unwrap();
    };
    let options = DecodeOptions {
        remove_special: false,
        unparse_special: true,
    };
    gguf.decode(ids, options).unwrap()
}

/// The runs of consecutive counted tokens.
fn counted_runs(example: &Example) -> Vec<Vec<u32>> {
    let mut runs: Vec<Vec<u32>> = Vec::new();
    let mut previous = false;
    for (&id, &counted) in example.tokens.iter().zip(&example.targets_mask) {
        if counted {
            if !previous {
                runs.push(Vec::new());
            }
            runs.last_mut().unwrap().push(id);
        }
        previous = counted;
    }
    runs
}

/// The messages of a conversation line as the template takes them.
fn messages(line: &Value) -> Vec<ChatMessage> {
    line["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| ChatMessage::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect()
}

fn two_turns() -> Value {
    json!({"messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of Italy? Answer in a sentence."},
        {"role": "assistant", "content": "The capital of Italy is Rome, a city of\nmany hills."},
    ]})
}

/// A data file in `dir` holding `text`.
fn file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("data.jsonl");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn smollm2_counts_each_reply_and_its_end_of_turn_and_nothing_else() {
    let (tokenizer, template) = smollm2();
    let lines = [
        json!({"messages": [
            {"role": "user", "content": "Say hello."},
            {"role": "assistant", "content": "Hello! How can I help you today?"},
        ]}),
        two_turns(),
    ];
    let set = ExampleSet::from_values(
        "memory.jsonl",
        lines.clone(),
        &template,
        &tokenizer,
        ReadOptions::new(4096),
    )
    .unwrap();
    assert_eq!(set.examples.len(), 2);
    for (line, example) in lines.iter().zip(&set.examples) {
        let messages = messages(line);
        // The tokens are the encoding of the whole conversation, without a generation prompt.
        let whole = template
            .render_conversation_with(&messages, &[], false)
            .unwrap();
        assert_eq!(example.tokens, template.encode(&tokenizer, &whole).unwrap());
        assert_eq!(example.tokens.len(), example.targets_mask.len());
        // The counted tokens are each reply and its <|im_end|>, nothing else.
        let replies: Vec<String> = messages
            .iter()
            .filter(|m| m.role == "assistant")
            .map(|m| format!("{}{IM_END}", m.content.as_deref().unwrap()))
            .collect();
        let runs: Vec<String> = counted_runs(example)
            .iter()
            .map(|run| decode(&tokenizer, run))
            .collect();
        assert_eq!(runs, replies);
        // <|im_end|> is the end-of-generation token that closes each run; the newline after it
        // does not count.
        for run in counted_runs(example) {
            assert!(tokenizer.is_end_of_generation(*run.last().unwrap()));
        }
        assert!(!example.targets_mask[0]);
        assert!(!example.targets_mask.last().unwrap());
    }
    let stats = &set.stats;
    assert_eq!((stats.read, stats.conversations, stats.examples), (2, 2, 2));
    assert_eq!(
        stats.tokens,
        set.examples.iter().map(Example::len).sum::<usize>()
    );
    assert_eq!(
        stats.target_tokens,
        set.examples
            .iter()
            .map(Example::target_count)
            .sum::<usize>()
    );
    let json = serde_json::to_value(stats).unwrap();
    assert_eq!(json["target_tokens"], stats.target_tokens);
}

#[test]
fn text_lines_count_every_token_and_end_with_eos() {
    let (tokenizer, template) = smollm2();
    let dir = tempfile::tempdir().unwrap();
    let text = "Once upon a time, a small model read a story.";
    let path = file(dir.path(), &format!("\n{}\n\n", json!({ "text": text })));
    let set = read_examples(&path, &template, &tokenizer, ReadOptions::new(512)).unwrap();
    assert_eq!(set.examples.len(), 1);
    let example = &set.examples[0];
    let mut expected = tokenizer.encode(text).unwrap();
    expected.push(tokenizer.end_of_text().unwrap());
    assert_eq!(example.tokens, expected);
    assert!(!example.targets_mask[0]);
    assert!(example.targets_mask[1..].iter().all(|&m| m));
    assert_eq!(set.stats.texts, 1);
    assert_eq!(set.stats.target_tokens, expected.len() - 1);
}

#[test]
fn an_assistant_message_of_weight_zero_is_context() {
    let (tokenizer, template) = smollm2();
    let mut line = two_turns();
    line["messages"][2]["weight"] = json!(0);
    let set = ExampleSet::from_values(
        "memory.jsonl",
        [line],
        &template,
        &tokenizer,
        ReadOptions::new(4096),
    )
    .unwrap();
    let runs = counted_runs(&set.examples[0]);
    assert_eq!(runs.len(), 1);
    assert_eq!(
        decode(&tokenizer, &runs[0]),
        format!("The capital of Italy is Rome, a city of\nmany hills.{IM_END}")
    );
}

#[test]
fn overlong_examples_are_truncated_or_skipped() {
    let (tokenizer, template) = smollm2();
    let short = json!({"messages": [
        {"role": "system", "content": "Hi."},
        {"role": "user", "content": "Hi."},
        {"role": "assistant", "content": "Hello."},
    ]});
    let long_reply = "word ".repeat(200);
    let long = json!({"messages": [
        {"role": "user", "content": "Talk."},
        {"role": "assistant", "content": long_reply},
    ]});
    let long_prompt = json!({"messages": [
        {"role": "user", "content": "word ".repeat(200)},
        {"role": "assistant", "content": "Fine."},
    ]});
    let lines = || [short.clone(), long.clone(), long_prompt.clone()];
    let options = ReadOptions::new(64);
    let truncated =
        ExampleSet::from_values("m.jsonl", lines(), &template, &tokenizer, options).unwrap();
    let stats = &truncated.stats;
    assert_eq!(stats.read, 3);
    // The long reply keeps its first 64 tokens; the long prompt has none of its reply left.
    assert_eq!(
        (stats.examples, stats.truncated, stats.skipped_no_targets),
        (2, 1, 1)
    );
    assert_eq!(truncated.examples[1].len(), 64);
    assert_eq!(stats.longest, 64);
    let skipped = ExampleSet::from_values(
        "m.jsonl",
        lines(),
        &template,
        &tokenizer,
        options.with_overlong(Overlong::Skip),
    )
    .unwrap();
    let stats = &skipped.stats;
    assert_eq!(
        (stats.examples, stats.truncated, stats.skipped_overlong),
        (1, 0, 2)
    );
    assert_eq!(skipped.examples[0], truncated.examples[0]);
}

#[test]
fn bad_lines_are_named_with_file_and_line() {
    let (tokenizer, template) = smollm2();
    let dir = tempfile::tempdir().unwrap();
    let good = two_turns().to_string();
    let read = |text: &str| {
        let path = file(dir.path(), text);
        read_examples(&path, &template, &tokenizer, ReadOptions::new(512)).unwrap_err()
    };

    let err = read(&format!("{good}\n\n{{\"messages\": [\n"));
    let DataError::Json { file, line, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        (file.file_name().unwrap(), *line),
        ("data.jsonl".as_ref(), 3)
    );
    let message = err.to_string();
    assert!(message.contains("data.jsonl:3: invalid JSON"), "{message}");

    let err = read(&format!("{good}\n{{\"foo\": 1}}\n"));
    assert!(matches!(err, DataError::Format { line: 2, .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(":2: ") && message.contains("\"messages\""),
        "{message}"
    );
    assert!(message.contains("\"foo\""), "{message}");

    let wizard = json!({"messages": [
        {"role": "user", "content": "Hi"},
        {"role": "wizard", "content": "Abracadabra"},
    ]});
    let err = read(&format!("{wizard}\n"));
    let message = err.to_string();
    assert!(matches!(err, DataError::Format { line: 1, .. }), "{err}");
    assert!(
        message.contains("message 1") && message.contains("\"wizard\""),
        "{message}"
    );

    let empty = json!({"messages": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant"},
    ]});
    let message = read(&format!("{empty}\n")).to_string();
    assert!(
        message.contains("neither content nor tool_calls"),
        "{message}"
    );

    let no_reply = json!({"messages": [{"role": "user", "content": "Hi"}]});
    let message = read(&format!("{no_reply}\n")).to_string();
    assert!(message.contains("no assistant message"), "{message}");

    let message = read("[1, 2]\n").to_string();
    assert!(message.contains("expected a JSON object"), "{message}");

    let err = read("\n  \n");
    assert!(matches!(err, DataError::Empty { .. }), "{err}");
    assert!(err.to_string().contains("data.jsonl"), "{err}");

    let missing = dir.path().join("missing.jsonl");
    let err = read_examples(&missing, &template, &tokenizer, ReadOptions::new(512)).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err}");
    assert!(err.to_string().contains("missing.jsonl"), "{err}");
}

#[test]
fn a_template_that_rewrites_earlier_turns_is_named() {
    let (tokenizer, _) = smollm2();
    // Drops every assistant message but the last: the later prompt no longer holds the reply.
    let source = "{% for m in messages %}{% if m.role != 'assistant' or loop.last %}\
        <|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endif %}{% endfor %}\
        {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
    let template = ChatTemplate::jinja(source, "", "").unwrap();
    let err = ExampleSet::from_values(
        "rewrite.jsonl",
        [two_turns()],
        &template,
        &tokenizer,
        ReadOptions::new(512),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            DataError::NotPrefix {
                line: 1,
                message: 4,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("rewrite.jsonl:1: message 4"),
        "{err}"
    );
}

#[test]
fn chatml_without_a_model_file_counts_replies_and_tool_calls() {
    let texts = ["hello there, how are you? fine thanks. the weather is sunny today."];
    let bpe = BpeTrainer::new(300)
        .with_special_tokens(["<|im_start|>", "<|im_end|>"])
        .train_from_texts(&texts)
        .unwrap();
    let tokenizer = Tokenizer::Bpe(bpe);
    let template = ChatTemplate::ChatMl;
    let lines = [
        two_turns().to_string(),
        String::new(),
        json!({
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [{
                    "id": "call_1", "type": "function",
                    "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"},
                }]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                {"role": "assistant", "content": "It is sunny."},
            ],
            "tools": [{"type": "function", "function": {"name": "weather", "parameters": {}}}],
        })
        .to_string(),
    ];
    let set = ExampleSet::from_lines(
        "chatml.jsonl",
        &lines,
        &template,
        &tokenizer,
        ReadOptions::new(4096),
    )
    .unwrap();
    assert_eq!(set.stats.read, 2);
    let runs: Vec<String> = counted_runs(&set.examples[0])
        .iter()
        .map(|run| tokenizer.decode(run).unwrap())
        .collect();
    assert_eq!(
        runs,
        [
            "Paris.<|im_end|>",
            "The capital of Italy is Rome, a city of\nmany hills.<|im_end|>"
        ]
    );
    let whole = template
        .render_conversation_with(&messages(&two_turns()), &[], false)
        .unwrap();
    assert_eq!(
        set.examples[0].tokens,
        template.encode(&tokenizer, &whole).unwrap()
    );
    let runs: Vec<String> = counted_runs(&set.examples[1])
        .iter()
        .map(|run| tokenizer.decode(run).unwrap())
        .collect();
    assert_eq!(
        runs,
        [
            "<tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>",
            "It is sunny.<|im_end|>"
        ]
    );
}

#[test]
fn plain_text_template_counts_through_the_blank_line() {
    let tokenizer = Tokenizer::Char(claude_tokenizer::CharTokenizer::new(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:.!? \n".chars(),
    ));
    let line = json!({"messages": [
        {"role": "user", "content": "Who art thou?"},
        {"role": "assistant", "content": "A player."},
        {"role": "user", "content": "Well met."},
    ]});
    let set = ExampleSet::from_values(
        "plain.jsonl",
        [line],
        &ChatTemplate::Plain,
        &tokenizer,
        ReadOptions::new(512),
    )
    .unwrap();
    let example = &set.examples[0];
    // The trailing user message is dropped: nothing after the last reply is taught.
    assert_eq!(
        tokenizer.decode(&example.tokens).unwrap(),
        "USER:\nWho art thou?\n\nASSISTANT:\nA player.\n\n"
    );
    let runs: Vec<String> = counted_runs(example)
        .iter()
        .map(|run| tokenizer.decode(run).unwrap())
        .collect();
    assert_eq!(runs, ["A player.\n\n"]);
}
