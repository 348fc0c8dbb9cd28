//! OpenAI's wire format as serde types: the request bodies and the response objects of
//! `/v1/completions`, `/v1/chat/completions`, `/v1/embeddings` and `/v1/models`, the chunks of
//! their streams, and the error body. A field of the format is one field of one type here.
//!
//! Unknown request fields are ignored, as OpenAI's clients send fields a small server has no
//! use for. Chat completions carry extensions OpenAI's clients ignore: `retrieval` in requests
//! ([`Retrieval`]), `truncated_messages` and `sources` in responses ([`Extensions`]).

mod chunk;
mod embeddings;
mod error;
mod models;
mod request;
mod response;
mod retrieval;

pub use chunk::{ChatCompletionChunk, ChunkChoice, Delta};
pub use embeddings::{
    Embedding, EmbeddingInput, EmbeddingList, EmbeddingRequest, EmbeddingUsage, EmbeddingVector,
};
pub use error::{ErrorBody, ErrorDetail};
pub use models::{Model, ModelList};
pub use request::{
    ChatRequest, CompletionRequest, Content, ContentPart, GenerationFields, Message, Prompt, Stop,
    StreamOptions,
};
pub use response::{
    ChatChoice, ChatCompletion, Completion, CompletionChoice, Extensions, FinishReason, Head,
    Logprobs, ResponseMessage, Role, Usage,
};
pub use retrieval::{Checked, MAX_K, Retrieval, RetrievalSettings};
