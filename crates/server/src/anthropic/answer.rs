//! A reply in Anthropic's format: the whole message, or its stream of events (a text block per
//! run of text, a `tool_use` block per call with its input streamed as JSON fragments).

use std::sync::atomic::{AtomicU64, Ordering};

use axum::response::sse::Event;
use claude_inference::TokenEvent;
use claude_inference::tool_calls::{ParsedReply, ToolCallEvent};
use serde_json::{Value, json};

use super::response::{
    BlockDelta, DeltaUsage, ErrorBody, Message, MessageDelta, ResponseBlock, StopReason,
    StreamEvent, Usage,
};
use crate::error::ApiError;
use crate::reply::{Ending, ReplyReader};
use crate::routes::generate::Finished;
use crate::stream::StreamFormat;

/// Identity of one message: its id, the model, and the request's own stop sequences (the
/// only ones reported as `stop_sequence`).
#[derive(Debug, Clone)]
pub struct MessageMeta {
    /// `msg_…`.
    pub id: String,
    /// The served model's name.
    pub model: String,
    /// The request's `stop_sequences`.
    pub stop_sequences: Vec<String>,
}

impl MessageMeta {
    /// A new message's identity.
    pub fn new(model: String, stop_sequences: Vec<String>) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = format!("msg_{:024x}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
        MessageMeta {
            id,
            model,
            stop_sequences,
        }
    }

    /// Anthropic's stop reason and stop sequence for an ending.
    fn stop(&self, ending: &Ending) -> (StopReason, Option<String>) {
        match ending {
            Ending::StopSequence(stop) if self.stop_sequences.contains(stop) => {
                (StopReason::StopSequence, Some(stop.clone()))
            }
            Ending::EndOfTurn | Ending::StopSequence(_) => (StopReason::EndTurn, None),
            Ending::Length => (StopReason::MaxTokens, None),
            Ending::ToolCalls => (StopReason::ToolUse, None),
        }
    }

    fn message(&self, content: Vec<ResponseBlock>, usage: Usage) -> Message {
        Message {
            id: self.id.clone(),
            role: "assistant",
            model: self.model.clone(),
            content,
            stop_reason: None,
            stop_sequence: None,
            usage,
        }
    }

    /// The answer of a finished request.
    pub fn response(&self, finished: Finished, prompt_tokens: usize) -> Message {
        let usage = Usage {
            input_tokens: prompt_tokens,
            output_tokens: finished.completion_tokens,
        };
        let (stop_reason, stop_sequence) = self.stop(&finished.ending);
        Message {
            stop_reason: Some(stop_reason),
            stop_sequence,
            ..self.message(blocks(finished.reply), usage)
        }
    }
}

/// A gathered reply's blocks: its text (when any), then its calls.
fn blocks(reply: ParsedReply) -> Vec<ResponseBlock> {
    let mut blocks = Vec::new();
    if !reply.content.is_empty() || reply.calls.is_empty() {
        blocks.push(ResponseBlock::Text {
            text: reply.content,
        });
    }
    for call in reply.calls {
        let input = serde_json::from_str(&call.arguments).unwrap_or_else(|_| json!({}));
        blocks.push(ResponseBlock::ToolUse {
            id: call.id,
            name: call.name,
            input,
        });
    }
    blocks
}

/// The SSE event of a stream event: named as its type.
pub fn event(value: &StreamEvent) -> Event {
    let data = serde_json::to_string(value).expect("a wire type serializes");
    Event::default().event(value.name()).data(data)
}

/// The block a stream has open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Call(usize),
}

/// A message's stream.
pub struct MessagesStream {
    meta: MessageMeta,
    reader: ReplyReader,
    /// The open block and its index.
    open: Option<(Open, usize)>,
    /// Blocks started.
    blocks: usize,
}

impl MessagesStream {
    /// The stream of `meta`'s message, read by `reader`.
    pub fn new(meta: MessageMeta, reader: ReplyReader) -> Self {
        MessagesStream {
            meta,
            reader,
            open: None,
            blocks: 0,
        }
    }

    /// `message_start` and a `ping`, sent before the first token.
    pub fn opening(&self, prompt_tokens: usize) -> Vec<Event> {
        let usage = Usage {
            input_tokens: prompt_tokens,
            output_tokens: 0,
        };
        vec![
            event(&StreamEvent::MessageStart {
                message: self.meta.message(Vec::new(), usage),
            }),
            event(&StreamEvent::Ping),
        ]
    }

    /// Closes the open block, if any.
    fn close(&mut self, events: &mut Vec<Event>) {
        if let Some((_, index)) = self.open.take() {
            events.push(event(&StreamEvent::ContentBlockStop { index }));
        }
    }

    /// Opens a block (closing the open one).
    fn open(&mut self, kind: Open, block: ResponseBlock, events: &mut Vec<Event>) -> usize {
        self.close(events);
        let index = self.blocks;
        self.blocks += 1;
        self.open = Some((kind, index));
        events.push(event(&StreamEvent::ContentBlockStart {
            index,
            content_block: block,
        }));
        index
    }

    fn piece(&mut self, piece: ToolCallEvent, events: &mut Vec<Event>) {
        let (index, delta) = match piece {
            ToolCallEvent::Content(text) => {
                let index = match self.open {
                    Some((Open::Text, index)) => index,
                    _ => self.open(
                        Open::Text,
                        ResponseBlock::Text {
                            text: String::new(),
                        },
                        events,
                    ),
                };
                (index, BlockDelta::TextDelta { text })
            }
            ToolCallEvent::CallStart { index, id, name } => {
                let block = ResponseBlock::ToolUse {
                    id,
                    name,
                    input: Value::Object(Default::default()),
                };
                self.open(Open::Call(index), block, events);
                return;
            }
            ToolCallEvent::Arguments {
                index: call,
                fragment,
            } => match self.open {
                Some((Open::Call(open), index)) if open == call => (
                    index,
                    BlockDelta::InputJsonDelta {
                        partial_json: fragment,
                    },
                ),
                _ => return,
            },
        };
        events.push(event(&StreamEvent::ContentBlockDelta { index, delta }));
    }
}

impl StreamFormat for MessagesStream {
    fn token(&mut self, token: TokenEvent) -> Vec<Event> {
        let (pieces, ending) = self.reader.read(&token);
        let mut events = Vec::new();
        for piece in pieces {
            self.piece(piece, &mut events);
        }
        if let Some(ending) = ending {
            if self.blocks == 0 {
                self.open(
                    Open::Text,
                    ResponseBlock::Text {
                        text: String::new(),
                    },
                    &mut events,
                );
            }
            self.close(&mut events);
            let (stop_reason, stop_sequence) = self.meta.stop(&ending);
            events.push(event(&StreamEvent::MessageDelta {
                delta: MessageDelta {
                    stop_reason,
                    stop_sequence,
                },
                usage: DeltaUsage {
                    output_tokens: self.reader.tokens(),
                },
            }));
            events.push(event(&StreamEvent::MessageStop));
        }
        events
    }

    fn error(&mut self, error: ApiError) -> Vec<Event> {
        let body: ErrorBody = super::error::body(&error);
        vec![event(&StreamEvent::Error { error: body.error })]
    }
}
