//! The OpenAI wire format: request bodies and response objects of `/v1/completions`,
//! `/v1/chat/completions` and `/v1/models`. Unknown request fields are ignored, as OpenAI's
//! clients send fields a small server has no use for.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A prompt: text, a one-element list of texts, or token ids.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Prompt {
    /// Plain text.
    Text(String),
    /// Token ids.
    Tokens(Vec<u32>),
    /// A list of texts (only one is supported).
    Texts(Vec<String>),
}

/// One stop string or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// A single stop string.
    One(String),
    /// Up to four stop strings.
    Many(Vec<String>),
}

impl Stop {
    /// The stop strings as a list.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s],
            Stop::Many(v) => v,
        }
    }
}

/// `stream_options` of a streaming request.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamOptions {
    /// Send a last chunk with token counts.
    #[serde(default)]
    pub include_usage: bool,
}

/// Sampling and length fields shared by both endpoints.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GenerationFields {
    /// Most new tokens (`max_completion_tokens` is accepted as an alias).
    #[serde(alias = "max_completion_tokens")]
    pub max_tokens: Option<i64>,
    /// Softmax temperature, 0..=2.
    pub temperature: Option<f64>,
    /// Nucleus mass, (0, 1].
    pub top_p: Option<f64>,
    /// Keep the k most likely tokens (0 = off). Not in OpenAI's API; as in vLLM.
    pub top_k: Option<i64>,
    /// Minimum probability relative to the most likely token. Not in OpenAI's API; as in vLLM.
    pub min_p: Option<f64>,
    /// OpenAI frequency penalty, -2..=2.
    pub frequency_penalty: Option<f64>,
    /// OpenAI presence penalty, -2..=2.
    pub presence_penalty: Option<f64>,
    /// CTRL-style repetition penalty (> 0, 1 = off). Not in OpenAI's API; as in vLLM.
    pub repetition_penalty: Option<f64>,
    /// Seed for reproducible sampling.
    pub seed: Option<u64>,
    /// Stop sequences.
    pub stop: Option<Stop>,
    /// Stream Server-Sent Events.
    #[serde(default)]
    pub stream: bool,
    /// Streaming options.
    pub stream_options: Option<StreamOptions>,
    /// Number of choices (only 1 is supported).
    pub n: Option<i64>,
}

/// Body of `POST /v1/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct CompletionRequest {
    /// Model name (must be the served one).
    pub model: String,
    /// What to continue.
    pub prompt: Prompt,
    /// Sampling and length.
    #[serde(flatten)]
    pub fields: GenerationFields,
}

/// Message content: text, or a list of parts of which the text parts are used.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// `[{"type": "text", "text": "..."}]`.
    Parts(Vec<ContentPart>),
}

/// One part of a message's content.
#[derive(Debug, Clone, Deserialize)]
pub struct ContentPart {
    /// Part type; only `"text"` is understood.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a text part.
    #[serde(default)]
    pub text: String,
}

impl Content {
    /// The text of the content.
    pub fn text(&self) -> Result<String, String> {
        match self {
            Content::Text(s) => Ok(s.clone()),
            Content::Parts(parts) => parts
                .iter()
                .map(|part| match part.kind.as_str() {
                    "text" => Ok(part.text.as_str()),
                    other => Err(format!("content parts of type {other:?} are not supported")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|texts| texts.concat()),
        }
    }
}

/// One chat message.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    /// `system`, `user`, `assistant` (`developer` is read as `system`).
    pub role: String,
    /// What was said.
    pub content: Content,
}

/// Body of `POST /v1/chat/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatRequest {
    /// Model name (must be the served one).
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Sampling and length.
    #[serde(flatten)]
    pub fields: GenerationFields,
    /// Retrieval for this request, when the server has an index (an extension; see
    /// [`crate::rag`]).
    #[serde(default)]
    pub retrieval: Option<Value>,
}

/// Token counts of a request.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Their sum.
    pub total_tokens: usize,
}

impl Usage {
    /// Counts for `prompt` and `completion` tokens.
    pub fn new(prompt: usize, completion: usize) -> Self {
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
        }
    }
}

/// Which endpoint a response belongs to; decides the object names and the shape of a choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/completions`.
    Completions,
    /// `/v1/chat/completions`.
    Chat,
}

/// Identity of one response: its id, creation time and model.
#[derive(Debug, Clone)]
pub struct ResponseMeta {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// `cmpl-…` or `chatcmpl-…`.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    /// The model name.
    pub model: String,
    /// Chat only: how many of the oldest messages were left out of the prompt to fit the
    /// context. Sent as a top-level `"truncated_messages"` field of the response and of every
    /// streamed chunk when above 0; absent when 0 (an extension; OpenAI's clients ignore it).
    pub truncated_messages: usize,
    /// Chat only: the retrieved chunks the prompt was grounded in, by number. Sent as a
    /// top-level `"sources"` list of the response and of a stream's first chunk when any
    /// (an extension, see [`crate::rag`]).
    pub sources: Vec<claude_retrieval::Source>,
}

impl ResponseMeta {
    /// A complete (non-streaming) response.
    pub fn response(&self, text: &str, finish: &str, usage: Usage) -> Value {
        let choice = match self.endpoint {
            Endpoint::Completions => json!({
                "index": 0, "text": text, "logprobs": null, "finish_reason": finish,
            }),
            Endpoint::Chat => json!({
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": null,
                "finish_reason": finish,
            }),
        };
        let object = match self.endpoint {
            Endpoint::Completions => "text_completion",
            Endpoint::Chat => "chat.completion",
        };
        let mut body = self.envelope(object, vec![choice], Some(usage));
        self.add_sources(&mut body);
        body
    }

    fn add_sources(&self, body: &mut Value) {
        if !self.sources.is_empty() {
            body["sources"] = json!(self.sources);
        }
    }

    /// A streaming chunk carrying `text` (and, on the last one, the finish reason and usage).
    pub fn chunk(&self, text: &str, finish: Option<&str>, usage: Option<Usage>) -> Value {
        let choice = match self.endpoint {
            Endpoint::Completions => json!({
                "index": 0, "text": text, "logprobs": null, "finish_reason": finish,
            }),
            Endpoint::Chat if finish.is_some() && text.is_empty() => json!({
                "index": 0, "delta": {}, "logprobs": null, "finish_reason": finish,
            }),
            Endpoint::Chat => json!({
                "index": 0, "delta": {"content": text}, "logprobs": null, "finish_reason": finish,
            }),
        };
        self.envelope(self.chunk_object(), vec![choice], usage)
    }

    /// The first chunk of a chat stream: the assistant role, no text yet (and the sources).
    pub fn role_chunk(&self) -> Value {
        let choice = json!({
            "index": 0,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": null,
            "finish_reason": null,
        });
        let mut body = self.envelope(self.chunk_object(), vec![choice], None);
        self.add_sources(&mut body);
        body
    }

    /// The usage-only chunk sent when `stream_options.include_usage` is set.
    pub fn usage_chunk(&self, usage: Usage) -> Value {
        self.envelope(self.chunk_object(), Vec::new(), Some(usage))
    }

    fn chunk_object(&self) -> &'static str {
        match self.endpoint {
            Endpoint::Completions => "text_completion",
            Endpoint::Chat => "chat.completion.chunk",
        }
    }

    fn envelope(&self, object: &str, choices: Vec<Value>, usage: Option<Usage>) -> Value {
        let mut body = json!({
            "id": self.id,
            "object": object,
            "created": self.created,
            "model": self.model,
            "choices": choices,
        });
        if let Some(usage) = usage {
            body["usage"] = json!(usage);
        }
        if self.truncated_messages > 0 {
            body["truncated_messages"] = json!(self.truncated_messages);
        }
        body
    }
}

#[cfg(test)]
mod snapshot_before {
    use super::*;

    fn meta(endpoint: Endpoint, truncated: usize, sources: bool) -> ResponseMeta {
        ResponseMeta {
            endpoint,
            id: "chatcmpl-1".into(),
            created: 7,
            model: "m".into(),
            truncated_messages: truncated,
            sources: if sources {
                vec![claude_retrieval::Source {
                    index: 1,
                    source: "a.md".into(),
                    start: 0,
                    end: 5,
                    score: 0.5,
                    text: "hello".into(),
                }]
            } else {
                Vec::new()
            },
        }
    }

    #[test]
    fn print_all() {
        let u = Usage::new(3, 2);
        for (e, t, s) in [(Endpoint::Completions, 0, false), (Endpoint::Chat, 0, false), (Endpoint::Chat, 2, true)] {
            let m = meta(e, t, s);
            println!("SNAP {e:?} {t} {s} response {}", m.response("hi", "stop", u));
            println!("SNAP {e:?} {t} {s} chunk_text {}", m.chunk("hi", None, None));
            println!("SNAP {e:?} {t} {s} chunk_finish_text {}", m.chunk("hi", Some("length"), Some(u)));
            println!("SNAP {e:?} {t} {s} chunk_finish_empty {}", m.chunk("", Some("stop"), Some(u)));
            println!("SNAP {e:?} {t} {s} role {}", m.role_chunk());
            println!("SNAP {e:?} {t} {s} usage {}", m.usage_chunk(u));
        }
        let err = crate::error::ApiError::invalid(Some("x".into()), "bad");
        println!("SNAP error {}", err.body());
        println!("SNAP error2 {}", crate::error::ApiError::invalid(None, "bad").body());
    }
}
