//! From the engine's tokens to a reply, whichever API answers: its text, its tool calls (parsed
//! from the model's markup as it streams), each token's log probabilities, and why it ended.
//! The wire formats (OpenAI's chat and completions, Anthropic's messages) are rendered from
//! what [`ReplyReader`] reads.

use claude_inference::TokenEvent;
use claude_inference::tool_calls::{ToolCallEvent, ToolCallFormat, ToolCallParser};

/// A piece of a reply, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// More text.
    Text(String),
    /// A tool call begins.
    CallStart {
        /// Its position among the reply's calls.
        index: usize,
        /// Its id.
        id: String,
        /// The function called.
        name: String,
    },
    /// More of call `index`'s arguments (JSON text).
    CallArguments {
        /// The call.
        index: usize,
        /// The text.
        fragment: String,
    },
}

/// Why a reply ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The model ended its turn (an end-of-generation token, the template's end of turn, or
    /// a finished grammar).
    EndOfTurn,
    /// One of the request's stop sequences was generated (not part of the text).
    StopSequence(String),
    /// The token limit, the context or the request's time limit.
    Length,
    /// The reply made tool calls.
    ToolCalls,
}

/// Reads a request's engine tokens into [`Piece`]s, parsing tool calls when the request
/// offered tools.
pub struct ReplyReader {
    /// Present when tool calls are parsed.
    parser: Option<ToolCallParser>,
    /// Bytes of text given out as pieces, while no call has started (for the fallback).
    text_sent: usize,
    /// Calls started.
    calls: usize,
    /// Whether calls after the first are kept (OpenAI's `parallel_tool_calls`).
    parallel: bool,
    /// Tokens read.
    tokens: usize,
}

impl ReplyReader {
    /// A reader of plain text.
    pub fn text() -> Self {
        ReplyReader {
            parser: None,
            text_sent: 0,
            calls: 0,
            parallel: true,
            tokens: 0,
        }
    }

    /// A reader of text with tool calls in `format`; without `parallel`, calls after the
    /// first are dropped.
    pub fn with_tools(format: ToolCallFormat, parallel: bool) -> Self {
        ReplyReader {
            parser: Some(ToolCallParser::new(format)),
            parallel,
            ..ReplyReader::text()
        }
    }

    /// Tokens read so far.
    pub fn tokens(&self) -> usize {
        self.tokens
    }

    /// Reads one token: the pieces it completes, and the reply's ending when it is the last.
    pub fn read(&mut self, token: &TokenEvent) -> (Vec<Piece>, Option<Ending>) {
        self.tokens += 1;
        let Some(parser) = &mut self.parser else {
            let pieces = text_piece(&token.text);
            return (pieces, token.finish.map(|_| plain_ending(token)));
        };
        let mut events = parser.push(&token.text);
        let Some(_) = token.finish else {
            return (self.pieces(events), None);
        };
        match parser.finish() {
            Ok(more) => events.extend(more),
            Err(_) => {
                // Not well-formed markup: what was held back goes out as text, unless a call
                // was already announced (then the calls made stand).
                let mut pieces = self.pieces(events);
                if self.calls == 0 {
                    let raw = self.parser.as_ref().map_or("", |p| p.raw_text());
                    let rest = raw.get(self.text_sent..).unwrap_or_default().to_string();
                    pieces.extend(text_piece(&rest));
                }
                let ending = self.ending(token);
                return (pieces, Some(ending));
            }
        }
        let pieces = self.pieces(events);
        (pieces, Some(self.ending(token)))
    }

    fn pieces(&mut self, events: Vec<ToolCallEvent>) -> Vec<Piece> {
        let mut pieces = Vec::with_capacity(events.len());
        for event in events {
            pieces.push(match event {
                ToolCallEvent::Content(text) => {
                    self.text_sent += text.len();
                    Piece::Text(text)
                }
                ToolCallEvent::CallStart { index, .. } | ToolCallEvent::Arguments { index, .. }
                    if index > 0 && !self.parallel =>
                {
                    continue;
                }
                ToolCallEvent::CallStart { index, id, name } => {
                    self.calls += 1;
                    Piece::CallStart { index, id, name }
                }
                ToolCallEvent::Arguments { index, fragment } => {
                    Piece::CallArguments { index, fragment }
                }
            });
        }
        pieces
    }

    /// The reply's ending: a cut is a cut (a call it interrupted stays incomplete, as OpenAI
    /// reports it), else calls end it as calls.
    fn ending(&self, token: &TokenEvent) -> Ending {
        match plain_ending(token) {
            Ending::Length => Ending::Length,
            _ if self.calls > 0 => Ending::ToolCalls,
            ending => ending,
        }
    }
}

fn text_piece(text: &str) -> Vec<Piece> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![Piece::Text(text.to_string())]
    }
}

/// The ending a last token carries by itself.
fn plain_ending(token: &TokenEvent) -> Ending {
    match (token.finish, &token.stop_sequence) {
        (Some(claude_inference::FinishReason::Length), _) => Ending::Length,
        (_, Some(stop)) => Ending::StopSequence(stop.clone()),
        _ => Ending::EndOfTurn,
    }
}

/// A whole reply, gathered for a non-streamed answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gathered {
    /// The text.
    pub text: String,
    /// The calls: id, name, arguments.
    pub calls: Vec<(String, String, String)>,
}

impl Gathered {
    /// Adds pieces.
    pub fn add(&mut self, pieces: Vec<Piece>) {
        for piece in pieces {
            match piece {
                Piece::Text(text) => self.text.push_str(&text),
                Piece::CallStart { id, name, .. } => self.calls.push((id, name, String::new())),
                Piece::CallArguments { index, fragment } => {
                    if let Some(call) = self.calls.get_mut(index) {
                        call.2.push_str(&fragment);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use claude_inference::FinishReason;

    use super::*;

    /// Reads `pieces` of text as tokens, the last one finishing with `finish`.
    fn read(reader: &mut ReplyReader, texts: &[&str], finish: FinishReason) -> (Gathered, Ending) {
        let mut gathered = Gathered::default();
        for (at, text) in texts.iter().enumerate() {
            let last = at + 1 == texts.len();
            let token = TokenEvent {
                token: 0,
                text: text.to_string(),
                finish: last.then_some(finish),
                logprobs: None,
                stop_sequence: None,
            };
            let (pieces, ending) = reader.read(&token);
            gathered.add(pieces);
            if let Some(ending) = ending {
                return (gathered, ending);
            }
        }
        panic!("no ending");
    }

    const TWO_CALLS: &[&str] = &[
        "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_call>\n",
        "<tool_call>\n{\"name\": \"g\", \"arguments\": {}}\n</tool_call>",
    ];

    #[test]
    fn calls_end_the_reply_as_tool_calls_and_parallel_ones_can_be_cut() {
        let hermes = ToolCallFormat::Hermes;
        let (reply, ending) = read(
            &mut ReplyReader::with_tools(hermes, true),
            TWO_CALLS,
            FinishReason::Stop,
        );
        assert_eq!(ending, Ending::ToolCalls);
        let names: Vec<&str> = reply
            .calls
            .iter()
            .map(|(_, name, _)| name.as_str())
            .collect();
        assert_eq!(names, ["f", "g"]);
        assert_eq!(reply.calls[0].2, "{\"a\": 1}");
        let (reply, _) = read(
            &mut ReplyReader::with_tools(hermes, false),
            TWO_CALLS,
            FinishReason::Stop,
        );
        assert_eq!(reply.calls.len(), 1);
    }

    #[test]
    fn a_call_cut_by_the_token_limit_ends_as_length() {
        let texts = ["<tool_call>\n{\"name\": \"f\", ", "\"arguments\": {\"a"];
        let mut reader = ReplyReader::with_tools(ToolCallFormat::Hermes, true);
        let (reply, ending) = read(&mut reader, &texts, FinishReason::Length);
        assert_eq!(ending, Ending::Length);
        assert_eq!(reply.calls.len(), 1);
    }

    #[test]
    fn broken_markup_comes_back_as_text() {
        let texts = ["Sure. <tool_call>\n{\"argu", "ments\": {}"];
        let mut reader = ReplyReader::with_tools(ToolCallFormat::Hermes, true);
        let (reply, ending) = read(&mut reader, &texts, FinishReason::Length);
        assert_eq!(ending, Ending::Length);
        assert_eq!(reply.text, texts.concat());
        assert!(reply.calls.is_empty());
    }

    #[test]
    fn plain_text_ends_as_the_engine_says() {
        let (reply, ending) = read(&mut ReplyReader::text(), &["Hel", "lo"], FinishReason::Stop);
        assert_eq!((reply.text.as_str(), ending), ("Hello", Ending::EndOfTurn));
    }
}
