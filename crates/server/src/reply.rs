//! From the engine's tokens to a reply, whichever API answers: its text, its tool calls (parsed
//! from the model's markup as it streams), each token's log probabilities, and why it ended.
//! The wire formats (OpenAI's chat and completions, Anthropic's messages) are rendered from
//! what [`ReplyReader`] reads: the parser's [`ToolCallEvent`]s (plain text as `Content`),
//! gathered for a whole answer into a
//! [`ParsedReply`](claude_inference::tool_calls::ParsedReply).

use claude_inference::TokenEvent;
use claude_inference::tool_calls::{ToolCallEvent, ToolCallFormat, ToolCallParser};

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

/// Reads a request's engine tokens into [`ToolCallEvent`]s, parsing tool calls when the
/// request offered tools.
pub struct ReplyReader {
    /// Present when tool calls are parsed.
    parser: Option<ToolCallParser>,
    /// Bytes of text given out, while no call has started (for the fallback).
    text_sent: usize,
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

    /// Reads one token: the events it completes, and the reply's ending when it is the last.
    pub fn read(&mut self, token: &TokenEvent) -> (Vec<ToolCallEvent>, Option<Ending>) {
        self.tokens += 1;
        let Some(parser) = &mut self.parser else {
            let events = text_event(&token.text);
            return (events, token.finish.map(|_| plain_ending(token)));
        };
        let mut events = parser.push(&token.text);
        if token.finish.is_none() {
            return (self.kept(events), None);
        }
        match parser.finish() {
            Ok(more) => events.extend(more),
            Err(_) => {
                // Not well-formed markup: what was held back goes out as text, unless a call
                // was already announced (then the calls made stand).
                let mut events = self.kept(events);
                if let Some(parser) = self.parser.as_ref().filter(|p| p.calls_started() == 0) {
                    let rest = parser.raw_text().get(self.text_sent..).unwrap_or_default();
                    events.extend(text_event(rest));
                }
                return (events, Some(self.ending(token)));
            }
        }
        (self.kept(events), Some(self.ending(token)))
    }

    /// The events that go out: calls after the first dropped without parallel calls; the text
    /// counted for the fallback.
    fn kept(&mut self, events: Vec<ToolCallEvent>) -> Vec<ToolCallEvent> {
        let parallel = self.parallel;
        let events: Vec<ToolCallEvent> = (events.into_iter())
            .filter(|event| match event {
                ToolCallEvent::CallStart { index, .. } | ToolCallEvent::Arguments { index, .. } => {
                    parallel || *index == 0
                }
                ToolCallEvent::Content(_) => true,
            })
            .collect();
        for event in &events {
            if let ToolCallEvent::Content(text) = event {
                self.text_sent += text.len();
            }
        }
        events
    }

    /// The reply's ending: a cut is a cut (a call it interrupted stays incomplete, as OpenAI
    /// reports it), else calls end it as calls.
    fn ending(&self, token: &TokenEvent) -> Ending {
        let calls = self
            .parser
            .as_ref()
            .map_or(0, ToolCallParser::calls_started);
        match plain_ending(token) {
            Ending::Length => Ending::Length,
            _ if calls > 0 => Ending::ToolCalls,
            ending => ending,
        }
    }
}

fn text_event(text: &str) -> Vec<ToolCallEvent> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![ToolCallEvent::Content(text.to_string())]
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

#[cfg(test)]
mod tests {
    use claude_inference::FinishReason;
    use claude_inference::tool_calls::ParsedReply;

    use super::*;

    /// Reads `pieces` of text as tokens, the last one finishing with `finish`.
    fn read(
        reader: &mut ReplyReader,
        texts: &[&str],
        finish: FinishReason,
    ) -> (ParsedReply, Ending) {
        let mut gathered = ParsedReply::default();
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
            gathered.extend(pieces);
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
        let names: Vec<&str> = reply.calls.iter().map(|call| call.name.as_str()).collect();
        assert_eq!(names, ["f", "g"]);
        assert_eq!(reply.calls[0].arguments, "{\"a\": 1}");
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
        assert_eq!(reply.content, texts.concat());
        assert!(reply.calls.is_empty());
    }

    #[test]
    fn plain_text_ends_as_the_engine_says() {
        let (reply, ending) = read(&mut ReplyReader::text(), &["Hel", "lo"], FinishReason::Stop);
        assert_eq!(
            (reply.content.as_str(), ending),
            ("Hello", Ending::EndOfTurn)
        );
    }
}
