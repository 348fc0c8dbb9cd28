//! The answer of `POST /v1/messages`, the events of its stream, `count_tokens`' answer and the
//! error body, in Anthropic's format.

use serde::Serialize;
use serde_json::Value;

/// Token counts of a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Tokens of the prompt.
    pub input_tokens: usize,
    /// Tokens generated.
    pub output_tokens: usize,
}

/// Why a message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model ended its turn.
    EndTurn,
    /// `max_tokens` (or the context) was reached.
    MaxTokens,
    /// One of the request's `stop_sequences` was generated.
    StopSequence,
    /// The reply ends in tool calls.
    ToolUse,
}

/// A block of the answer's content.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseBlock {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// A tool call.
    ToolUse {
        /// Its id (`toolu_…`).
        id: String,
        /// The tool.
        name: String,
        /// The arguments object (`{}` in a stream's `content_block_start`).
        input: Value,
    },
}

/// The answer of `POST /v1/messages` (also, empty, in a stream's `message_start`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename = "message")]
pub struct Message {
    /// `msg_…`.
    pub id: String,
    /// Always `assistant`.
    pub role: &'static str,
    /// The served model's name.
    pub model: String,
    /// The reply's blocks.
    pub content: Vec<ResponseBlock>,
    /// Why it ended (`null` in `message_start`).
    pub stop_reason: Option<StopReason>,
    /// The stop sequence met, when that ended it.
    pub stop_sequence: Option<String>,
    /// Token counts.
    pub usage: Usage,
}

/// What a `content_block_delta` adds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockDelta {
    /// More text of a text block.
    TextDelta {
        /// The text.
        text: String,
    },
    /// More of a tool call's input JSON text.
    InputJsonDelta {
        /// The fragment.
        partial_json: String,
    },
}

/// The `delta` of a `message_delta` event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageDelta {
    /// Why the message ended.
    pub stop_reason: StopReason,
    /// The stop sequence met, when that ended it.
    pub stop_sequence: Option<String>,
}

/// The usage of a `message_delta` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DeltaUsage {
    /// Tokens generated.
    pub output_tokens: usize,
}

/// One event of a streamed message, in the order Anthropic sends them: `message_start`, then per
/// block `content_block_start`, `content_block_delta`s and `content_block_stop`, then
/// `message_delta` and `message_stop` (or `error`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// The message, with no content yet.
    MessageStart {
        /// The message so far.
        message: Message,
    },
    /// A block begins.
    ContentBlockStart {
        /// Its position.
        index: usize,
        /// The block, empty.
        content_block: ResponseBlock,
    },
    /// Keep-alive.
    Ping,
    /// A block grows.
    ContentBlockDelta {
        /// Its position.
        index: usize,
        /// What it adds.
        delta: BlockDelta,
    },
    /// A block is complete.
    ContentBlockStop {
        /// Its position.
        index: usize,
    },
    /// The message's end: why, and the token count.
    MessageDelta {
        /// Why it ended.
        delta: MessageDelta,
        /// Tokens generated.
        usage: DeltaUsage,
    },
    /// The stream's end.
    MessageStop,
    /// Serving failed midway.
    Error {
        /// What failed.
        error: ErrorDetail,
    },
}

impl StreamEvent {
    /// The SSE event name: the same as the `type` field.
    pub fn name(&self) -> &'static str {
        match self {
            StreamEvent::MessageStart { .. } => "message_start",
            StreamEvent::ContentBlockStart { .. } => "content_block_start",
            StreamEvent::Ping => "ping",
            StreamEvent::ContentBlockDelta { .. } => "content_block_delta",
            StreamEvent::ContentBlockStop { .. } => "content_block_stop",
            StreamEvent::MessageDelta { .. } => "message_delta",
            StreamEvent::MessageStop => "message_stop",
            StreamEvent::Error { .. } => "error",
        }
    }
}

/// The answer of `POST /v1/messages/count_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TokenCount {
    /// Tokens of the prompt the request would make.
    pub input_tokens: usize,
}

/// An error body: `{"type": "error", "error": {"type": ..., "message": ...}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename = "error")]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The `error` of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorDetail {
    /// Anthropic's error type (`invalid_request_error`, `not_found_error`, ...).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// What went wrong, for a person.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_serialize_as_anthropic_sends_them() {
        let start = StreamEvent::ContentBlockStart {
            index: 1,
            content_block: ResponseBlock::ToolUse {
                id: "toolu_1".into(),
                name: "f".into(),
                input: json!({}),
            },
        };
        assert_eq!(
            serde_json::to_value(&start).unwrap(),
            json!({"type": "content_block_start", "index": 1,
                   "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}})
        );
        let end = StreamEvent::MessageDelta {
            delta: MessageDelta {
                stop_reason: StopReason::ToolUse,
                stop_sequence: None,
            },
            usage: DeltaUsage { output_tokens: 9 },
        };
        assert_eq!(
            serde_json::to_value(&end).unwrap(),
            json!({"type": "message_delta",
                   "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                   "usage": {"output_tokens": 9}})
        );
        let error = ErrorBody {
            error: ErrorDetail {
                kind: "invalid_request_error",
                message: "bad".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}})
        );
    }
}
