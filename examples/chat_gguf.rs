//! Chat with a GGUF model through the library API: load the file (its quantized weights stay
//! packed, its tokenizer and chat template come from the file), render a conversation with the
//! model's own Jinja template, and stream the reply.
//!
//! Run with:
//!
//! ```text
//! cargo run --release --example chat_gguf -- \
//!     ../shared/data/models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf \
//!     "What is the capital of France?"
//! ```
//!
//! prints something like `The capital of France is Paris.`. The same model serves
//! OpenAI-compatible clients with `claude-rust serve --model FILE.gguf`.

use std::io::Write;
use std::path::PathBuf;

use burn::prelude::*;
use claude_rust::inference::{SamplingParams, SequenceRequest, open};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(model), Some(question)) = (args.next().map(PathBuf::from), args.next()) else {
        anyhow::bail!("usage: chat_gguf MODEL.gguf \"a question\"");
    };

    // The model, with the tokenizer inside its file, on the CPU; a 2048-token context is plenty
    // for a chat (key/value memory grows with the conversation up to it).
    // The file is read once: the model, its tokenizer and its chat template come from it together.
    let device = Device::flex();
    let opened = open(&model, None, &device)?;
    // The conversation, rendered by the template in the file (if it has none: ChatML where the
    // tokenizer has ChatML's markers, else plain text). The template may add its own default
    // system message.
    let template = opened.chat_template.clone();
    let generator = opened
        .into_generator(&device)
        .with_context_limit(Some(2048));
    let messages = [
        (
            "system".to_string(),
            "You are a helpful assistant. Answer in one sentence.".to_string(),
        ),
        ("user".to_string(), question),
    ];
    let prompt_text = template.render(&messages)?;
    // The rendered text spells the template's control tokens (`<|im_start|>`...): encode them as
    // the special ids they are.
    let prompt = template.encode(generator.tokenizer(), &prompt_text)?;

    // Sample as OpenAI's API does by default, and stop at the end of the assistant's turn.
    let request = SequenceRequest {
        prompt,
        max_new_tokens: 128,
        sampling: SamplingParams {
            temperature: 0.2,
            ..SamplingParams::OPENAI
        },
        stop: template.stop_sequences(),
        ..Default::default()
    };
    let mut out = std::io::stdout().lock();
    let completion = generator.generate(request, |event| {
        out.write_all(event.text.as_bytes())
            .and_then(|()| out.flush())
            .is_ok()
    })?;
    writeln!(out)?;
    eprintln!(
        "({} tokens, {:?})",
        completion.tokens.len(),
        completion.finish
    );
    Ok(())
}
