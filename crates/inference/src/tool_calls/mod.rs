//! Tool calls as models write them: the markup each chat-template family teaches
//! ([`ToolCallFormat`], picked from a template's text by [`ToolCallFormat::detect`]), a
//! streaming parser that turns generated text into content and tool-call events
//! ([`ToolCallParser`]), a one-shot helper ([`parse_tool_calls`]) and a grammar that forces a
//! call for constrained decoding ([`ToolCallFormat::forced_call_grammar`]).

mod detect;
mod format;
mod grammar;
mod ids;
mod json_scan;
mod parser;
mod syntax;
#[cfg(test)]
mod tests;

pub use format::ToolCallFormat;
pub use ids::CallIds;
pub use parser::ToolCallParser;

/// One function the model may call, as an OpenAI `tools[].function` entry gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    /// The function's name, as the model must write it.
    pub name: String,
    /// What the function does (not used by the grammar; kept for callers).
    pub description: Option<String>,
    /// The JSON schema of the function's arguments object.
    pub parameters: serde_json::Value,
}

/// What the parser found in a piece of generated text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolCallEvent {
    /// Ordinary reply text: never tool-call markup.
    Content(String),
    /// A tool call begins; sent as soon as its function name is known.
    CallStart {
        /// The call's position among this reply's calls, from 0.
        index: usize,
        /// The call's id (`call_` and 24 alphanumerics).
        id: String,
        /// The function's name.
        name: String,
    },
    /// A piece of the arguments of call `index`: a call's fragments, concatenated in order, are
    /// the text of one JSON object.
    Arguments {
        /// The call these arguments belong to.
        index: usize,
        /// The next piece of the arguments' JSON text.
        fragment: String,
    },
}

/// Why generated text is not well-formed tool-call markup. After one, the parser stops; a server
/// can send [`ToolCallParser::raw_text`] as plain content instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolCallError {
    /// The reply ended inside a tool call.
    #[error("the reply ended inside a tool call (expected {expected})")]
    Unterminated {
        /// What was still expected.
        expected: String,
    },
    /// A call's arguments are not one JSON object.
    #[error("the arguments of tool call `{name}` are not a JSON object: {detail}")]
    ArgumentsNotObject {
        /// The function called (empty when not yet known).
        name: String,
        /// What is wrong with them.
        detail: String,
    },
    /// A call has no function name.
    #[error("tool call {index} has no function name")]
    MissingName {
        /// The call's position in the reply.
        index: usize,
    },
    /// The markup is not what the format prescribes.
    #[error("malformed tool-call markup: expected {expected}, found {found:?}")]
    Malformed {
        /// What the format wanted there.
        expected: String,
        /// The text found instead (at most a few dozen characters).
        found: String,
    },
}

/// One complete tool call, from [`parse_tool_calls`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCall {
    /// The call's id.
    pub id: String,
    /// The function's name.
    pub name: String,
    /// The arguments, as a JSON object's text (what OpenAI's `function.arguments` carries).
    pub arguments: String,
}

/// A whole reply split into its text and its tool calls.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedReply {
    /// The reply's ordinary text, markup removed.
    pub content: String,
    /// The tool calls, in order.
    pub calls: Vec<ParsedCall>,
}

impl ParsedReply {
    /// Folds parser events into the reply they describe.
    pub fn from_events(events: impl IntoIterator<Item = ToolCallEvent>) -> Self {
        let mut reply = ParsedReply::default();
        reply.extend(events);
        reply
    }

    /// Adds what more events describe (text, a new call, more of a call's arguments).
    pub fn extend(&mut self, events: impl IntoIterator<Item = ToolCallEvent>) {
        for event in events {
            match event {
                ToolCallEvent::Content(text) => self.content.push_str(&text),
                ToolCallEvent::CallStart { id, name, .. } => self.calls.push(ParsedCall {
                    id,
                    name,
                    arguments: String::new(),
                }),
                ToolCallEvent::Arguments { index, fragment } => {
                    if let Some(call) = self.calls.get_mut(index) {
                        call.arguments.push_str(&fragment);
                    }
                }
            }
        }
    }
}

/// Parses a whole reply written in `format` (ids from [`CallIds::random`]).
pub fn parse_tool_calls(format: ToolCallFormat, text: &str) -> Result<ParsedReply, ToolCallError> {
    parse_tool_calls_with_ids(format, text, CallIds::random())
}

/// Parses a whole reply written in `format`, taking the calls' ids from `ids`.
pub fn parse_tool_calls_with_ids(
    format: ToolCallFormat,
    text: &str,
    ids: CallIds,
) -> Result<ParsedReply, ToolCallError> {
    let mut parser = ToolCallParser::with_ids(format, ids);
    let mut events = parser.push(text);
    events.extend(parser.finish()?);
    Ok(ParsedReply::from_events(events))
}
