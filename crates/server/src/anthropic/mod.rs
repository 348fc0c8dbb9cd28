//! Anthropic's Messages API as serde types and its conversions: the request bodies of
//! `/v1/messages` and `/v1/messages/count_tokens`, the message, its stream's events and the
//! error body; a request as a [`Conversation`](crate::conversation::Conversation); a reply as a
//! message or a stream.
//!
//! Unknown fields and content blocks this server cannot use (images, documents, thinking) are
//! refused by name. `cache_control` is accepted everywhere and has no effect.

mod answer;
mod convert;
mod error;
mod request;
mod response;

pub use answer::{MessageMeta, MessagesStream};
pub use convert::conversation;
pub use error::AnthropicError;
pub use request::{
    ContentBlock, CountTokensRequest, InputContent, InputMessage, InputRole, MessagesRequest,
    Metadata, SystemPrompt, TextBlock, TextKind, ToolChoice, ToolDefinition, ToolResultContent,
};
pub use response::{
    BlockDelta, DeltaUsage, ErrorBody, ErrorDetail, Message, MessageDelta, ResponseBlock,
    StopReason, StreamEvent, TokenCount, Usage,
};
