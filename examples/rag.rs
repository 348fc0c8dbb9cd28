//! Retrieval-augmented generation through the library API: index a folder of documents, find
//! the passages that answer a question (dense and BM25 search fused), put them in the prompt of
//! a chat model, and print its answer with the sources it was given.
//!
//! Run with:
//!
//! ```text
//! cargo run --release --example rag -- docs/ \
//!     ../shared/data/models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf \
//!     "How do I reset the Zorblax router?"
//! ```
//!
//! With `docs/` holding a `router.md` that says how, and unrelated files, it prints
//!
//! ```text
//! To reset the Zorblax router, hold the red button on its back for twelve seconds until the light blinks green.
//! [1] docs/router.md (bytes 0..126, score 0.0328)
//! [2] docs/garden.txt (bytes 0..68, score 0.0323)
//! ```
//!
//! (A 135M-parameter model is easily led astray by long, loosely related passages; larger chat
//! models use the sources far better.)
//!
//! The sentence model is all-MiniLM-L6-v2 from the shared data folder (or the directory in
//! `CLAUDE_RUST_EMBEDDER`). The same steps run behind `claude-rust index build --docs DIR --out
//! INDEX` and `claude-rust serve --model FILE.gguf --index INDEX`.

use std::io::Write;
use std::path::PathBuf;

use burn::prelude::*;
use claude_rust::inference::{SamplingParams, SequenceRequest, open};
use claude_rust::retrieval::{ChunkConfig, DocumentIndex, SearchMode, SentenceEmbedder, ground};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(docs), Some(model), Some(question)) = (
        args.next().map(PathBuf::from),
        args.next().map(PathBuf::from),
        args.next(),
    ) else {
        anyhow::bail!("usage: rag DOCS_DIR MODEL.gguf \"a question\"");
    };
    let device = Device::flex();

    // 1. Index the folder: text and Markdown files cut into overlapping 200-token chunks, each
    //    embedded (unit vectors) and indexed for BM25. The index is a directory; here a
    //    temporary one, `claude-rust index build` keeps it.
    let embedder_dir = std::env::var_os("CLAUDE_RUST_EMBEDDER").map_or_else(
        || claude_rust::files::shared_data_dir().join("models/all-minilm-l6-v2"),
        PathBuf::from,
    );
    let embedder = SentenceEmbedder::load(&embedder_dir, &device)?;
    let index_dir = tempfile::tempdir()?;
    let (index, report) = DocumentIndex::build(
        index_dir.path(),
        &[docs],
        &embedder,
        ChunkConfig::default(),
        &mut |_| {},
    )?;
    eprintln!(
        "indexed {} documents as {} chunks",
        report.documents, report.chunks
    );

    // 2. Retrieve: the four best chunks, dense and BM25 rankings fused by reciprocal rank.
    let hits = index.search(&question, &embedder, 4, SearchMode::Hybrid)?;

    // 3. Ground: as many of them as fit the context beside the question and the reply,
    //    numbered, in the question's message, which asks the model to answer from them and cite
    //    them.
    let opened = open(&model, None, &device)?;
    let template = opened.chat_template.clone();
    let generator = opened
        .into_generator(&device)
        .with_context_limit(Some(2048));
    let tokenizer = generator.tokenizer().clone();
    let count = |text: &str| {
        tokenizer
            .encode(text)
            .map_or(usize::MAX / 4, |ids| ids.len())
    };
    let grounding = ground(&hits, 2048 - 256 - 128, &count);
    let messages = vec![("user".to_string(), grounding.ask(&question))];

    // 4. Generate with the model's own chat template, as in the chat_gguf example.
    let text = template.render(&messages)?;
    let prompt = template.encode(&tokenizer, &text)?;
    let request = SequenceRequest {
        prompt,
        max_new_tokens: 256,
        sampling: SamplingParams {
            temperature: 0.0,
            ..SamplingParams::OPENAI
        },
        stop: template.stop_sequences(),
        ..Default::default()
    };
    let mut out = std::io::stdout().lock();
    generator.generate(request, |event| {
        out.write_all(event.text.as_bytes())
            .and_then(|()| out.flush())
            .is_ok()
    })?;
    writeln!(out)?;

    // 5. The sources the answer may cite, where they are in their documents.
    for source in &grounding.sources {
        writeln!(
            out,
            "[{}] {} (bytes {}..{}, score {:.4})",
            source.index, source.source, source.start, source.end, source.score
        )?;
    }
    Ok(())
}
