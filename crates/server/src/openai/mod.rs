//! OpenAI's wire format as serde types: the request bodies and the response objects of
//! `/v1/completions`, `/v1/chat/completions`, `/v1/embeddings` and `/v1/models`, the chunks of
//! their streams, and the error body. A field of the format is one field of one type here.
//!
//! A request field this server does not know is refused by name (400), never ignored: the
//! request types list their fields (`FIELDS`) or deny unknown ones. Chat completions carry extensions OpenAI's clients ignore: `retrieval` in requests
//! ([`Retrieval`]), `truncated_messages` and `sources` in responses ([`Extensions`]).

mod chunk;
mod embeddings;
mod error;
mod models;
mod request;
mod response;
mod retrieval;
mod structured;
mod tools;

pub use chunk::{ChatCompletionChunk, ChunkChoice, Delta};
pub use embeddings::{
    Embedding, EmbeddingInput, EmbeddingList, EmbeddingRequest, EmbeddingUsage, EmbeddingVector,
};
pub use error::{ErrorBody, ErrorDetail};
pub use models::{Model, ModelList};
pub use request::{
    ChatRequest, CompletionRequest, Content, ContentPart, GenerationFields, Message, MessageRole,
    Prompt, Stop, StreamOptions,
};
pub use response::{
    ChatChoice, ChatCompletion, ChatLogprobs, Completion, CompletionChoice, CompletionLogprobs,
    Extensions, FinishReason, Head, ResponseMessage, Role, TokenLogprob, TopLogprob, Usage,
};
pub use retrieval::{Checked, MAX_K, Retrieval, RetrievalSettings};
pub use structured::{JsonSchemaFormat, ResponseFormat};
pub use tools::{
    FunctionCall, FunctionCallDelta, FunctionDefinition, Tool, ToolCall, ToolCallDelta, ToolChoice,
    ToolKind,
};
