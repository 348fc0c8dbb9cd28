//! Grounding a question in retrieved chunks: the chunks that fit a token budget, best first,
//! numbered, as one system message that asks the model to answer from them and cite them by
//! number; the numbered sources go back to the user with the answer.

use crate::document_index::SearchHit;

/// What the message says before the sources.
const INSTRUCTION: &str = "Answer the question using the numbered sources below. Cite the \
sources you use by their number, like [1]. If the sources do not contain the answer, say so.";

/// A chunk given to the model, as the user is told of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Source {
    /// Its number in the message (from 1), as the answer cites it.
    pub index: usize,
    /// The document it comes from.
    pub source: String,
    /// Byte offset of its first character in the document.
    pub start: usize,
    /// Byte offset just past its last character.
    pub end: usize,
    /// Its search score.
    pub score: f32,
    /// Its text.
    pub text: String,
}

/// The system message that grounds a question, and the sources it holds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Grounding {
    /// The message (empty when no chunk fits).
    pub message: String,
    /// The chunks in it, by number.
    pub sources: Vec<Source>,
}

/// One source as the message shows it.
fn entry(index: usize, hit: &SearchHit<'_>) -> String {
    let chunk = hit.chunk;
    format!(
        "[{index}] {} (bytes {}..{})\n{}",
        chunk.source,
        chunk.start,
        chunk.end,
        chunk.text.trim()
    )
}

/// The best `hits` whose message fits in `budget` tokens (as `count_tokens` counts them, the
/// model's tokenizer), in rank order; a hit that does not fit is skipped for a smaller one
/// after it.
pub fn ground(
    hits: &[SearchHit<'_>],
    budget: usize,
    count_tokens: &dyn Fn(&str) -> usize,
) -> Grounding {
    let mut message = INSTRUCTION.to_string();
    let mut used = count_tokens(&message);
    let mut sources = Vec::new();
    for hit in hits {
        let entry = format!("\n\n{}", entry(sources.len() + 1, hit));
        let cost = count_tokens(&entry);
        if used + cost > budget {
            continue;
        }
        used += cost;
        message.push_str(&entry);
        sources.push(Source {
            index: sources.len() + 1,
            source: hit.chunk.source.clone(),
            start: hit.chunk.start,
            end: hit.chunk.end,
            score: hit.score,
            text: hit.chunk.text.clone(),
        });
    }
    if sources.is_empty() {
        return Grounding::default();
    }
    Grounding { message, sources }
}
