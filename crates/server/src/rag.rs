//! Retrieval-augmented chat: with an index (`serve --index`), each chat request's latest user
//! message is searched for, the chunks found that fit the context are put in that message, ahead
//! of an instruction to answer from them and cite them by number, then the question (see
//! [`claude_retrieval::Grounding::ask`]), and the numbered sources are returned with the answer:
//! as a top-level `"sources"` list in a response, and in the first chunk (the one with the
//! assistant role) of a stream.
//!
//! A request may set `"retrieval": false` to skip the search, or
//! `"retrieval": {"k": 3, "mode": "bm25"}` to change how many chunks are searched for and how
//! (`dense`, `exact`, `bm25` or `hybrid`); these fields are extensions OpenAI's API does not
//! have, which its clients send through `extra_body` (read as [`Retrieval`]).

use std::sync::Arc;

use claude_inference::ChatMessage;
use claude_retrieval::{DocumentIndex, SearchMode, Source, TextEmbedder, ground};

use crate::AppState;
use crate::error::ApiError;
use crate::openai::{Checked, Retrieval};

/// Tokens kept free beyond the reply's room: the template's markers around the message, and
/// the difference between counting entries alone and in one text.
const MARGIN: usize = 16;

/// The index a server searches, with its embedder and defaults.
pub struct ServedIndex {
    /// The index.
    pub index: DocumentIndex,
    /// The model that embeds questions (the index's own).
    pub embedder: Arc<dyn TextEmbedder>,
    /// Chunks searched for by default.
    pub k: usize,
    /// How, by default.
    pub mode: SearchMode,
}

/// Grounds the latest user message of `messages` in the index (see the module doc), given the
/// tokens the conversation already takes and the room its reply needs; the sources put in (none
/// when the server has no index, the request turned retrieval off, nothing was found or nothing
/// fits).
pub async fn ground_conversation(
    state: &AppState,
    messages: &mut [ChatMessage],
    retrieval: &Checked<Retrieval>,
    prompt_tokens: usize,
    reply_room: usize,
) -> Result<Vec<Source>, ApiError> {
    let retrieval = (retrieval.get())
        .map_err(|message| ApiError::invalid(Some("retrieval".into()), message))?;
    let Some(served) = state.inner.index.clone() else {
        return Ok(Vec::new());
    };
    let (k, mode) = match retrieval {
        Retrieval::Off => return Ok(Vec::new()),
        Retrieval::On(settings) => (
            settings.k.unwrap_or(served.k),
            settings.mode.unwrap_or(served.mode),
        ),
    };
    let Some(asked) = messages.iter().rposition(|m| m.role == "user") else {
        return Ok(Vec::new());
    };
    let context = state.inner.config.context_length;
    let budget = context.saturating_sub(prompt_tokens + reply_room + MARGIN);
    if budget == 0 || k == 0 {
        return Ok(Vec::new());
    }
    let question = messages[asked].content.clone().unwrap_or_default();
    let task_state = state.clone();
    let asked_text = question.clone();
    let grounding = tokio::task::spawn_blocking(move || {
        let hits = (served.index)
            .search(&question, served.embedder.as_ref(), k, mode)
            .map_err(|e| ApiError::internal(format!("retrieval failed: {e}")))?;
        let tokenizer = &task_state.generation()?.tokenizer;
        let count = |text: &str| {
            tokenizer
                .encode(text)
                .map_or(usize::MAX / 4, |ids| ids.len())
        };
        Ok::<_, ApiError>(ground(&hits, budget, &count))
    })
    .await
    .map_err(|_| ApiError::unavailable())??;
    messages[asked].content = Some(grounding.ask(&asked_text));
    Ok(grounding.sources)
}
