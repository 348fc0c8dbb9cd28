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
//! have, which its clients send through `extra_body`.

use std::sync::Arc;

use claude_retrieval::{DocumentIndex, SearchMode, Source, TextEmbedder, ground};
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;

/// Tokens kept free beyond the reply's room: the template's markers around the message, and
/// the difference between counting entries alone and in one text.
const MARGIN: usize = 16;

/// The most chunks a request may ask to search for.
const MAX_K: usize = 64;

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

/// A request's `retrieval` field: `true` (the default), `false`, or search settings.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Retrieval {
    Off,
    On {
        k: Option<usize>,
        mode: Option<SearchMode>,
    },
}

impl Retrieval {
    /// Reads the field, or says what is wrong with it.
    fn parse(field: Option<&Value>) -> Result<Self, ApiError> {
        let invalid = |message: String| ApiError::invalid(Some("retrieval".into()), message);
        match field {
            None | Some(Value::Null) | Some(Value::Bool(true)) => Ok(Retrieval::On {
                k: None,
                mode: None,
            }),
            Some(Value::Bool(false)) => Ok(Retrieval::Off),
            Some(Value::Object(settings)) => {
                let mut k = None;
                let mut mode = None;
                for (key, value) in settings {
                    match key.as_str() {
                        "k" => {
                            let n = value.as_u64().filter(|&n| n <= MAX_K as u64);
                            let n = n.ok_or_else(|| {
                                invalid(format!(
                                    "retrieval.k must be a count up to {MAX_K}, not {value}"
                                ))
                            })?;
                            k = Some(n as usize);
                        }
                        "mode" => {
                            let name = value.as_str().unwrap_or_default();
                            mode = Some(
                                name.parse()
                                    .map_err(|e| invalid(format!("retrieval.mode: {e}")))?,
                            );
                        }
                        other => {
                            return Err(invalid(format!(
                                "retrieval has no setting {other:?} (k, mode)"
                            )));
                        }
                    }
                }
                Ok(Retrieval::On { k, mode })
            }
            Some(other) => Err(invalid(format!(
                "retrieval must be true, false or {{\"k\": N, \"mode\": M}}, not {other}"
            ))),
        }
    }
}

/// Grounds the latest user message of `messages` in the index (see the module doc), given the
/// tokens the conversation already takes and the room its reply needs; the sources put in (none
/// when the server has no index, the request turned retrieval off, nothing was found or nothing
/// fits).
pub async fn ground_conversation(
    state: &AppState,
    messages: &mut [(String, String)],
    field: Option<&Value>,
    prompt_tokens: usize,
    reply_room: usize,
) -> Result<Vec<Source>, ApiError> {
    let retrieval = Retrieval::parse(field)?;
    let Some(served) = state.inner.index.clone() else {
        return Ok(Vec::new());
    };
    let (k, mode) = match retrieval {
        Retrieval::Off => return Ok(Vec::new()),
        Retrieval::On { k, mode } => (k.unwrap_or(served.k), mode.unwrap_or(served.mode)),
    };
    let Some(asked) = messages.iter().rposition(|(role, _)| role == "user") else {
        return Ok(Vec::new());
    };
    let context = state.inner.config.context_length;
    let budget = context.saturating_sub(prompt_tokens + reply_room + MARGIN);
    if budget == 0 || k == 0 {
        return Ok(Vec::new());
    }
    let question = messages[asked].1.clone();
    let task_state = state.clone();
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
    messages[asked].1 = grounding.ask(&messages[asked].1);
    Ok(grounding.sources)
}
