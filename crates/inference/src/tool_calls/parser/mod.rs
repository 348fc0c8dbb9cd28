//! [`ToolCallParser`]: generated text in, content and tool-call events out, as the text arrives.

mod json;
mod steps;

use self::steps::describe;

use super::json_scan::ValueScanner;
use super::syntax::{BareStart, JsonSyntax, StepSyntax, Syntax};
use super::{CallIds, ToolCallError, ToolCallEvent, ToolCallFormat};

/// Longest function name accepted before its end marker (guards against buffering a whole reply).
const MAX_NAME_BYTES: usize = 256;

/// Where the parser is in the reply.
#[derive(Debug, Clone)]
enum Stage {
    /// Ordinary text, watching for the format's markers.
    Text,
    /// After a JSON section's marker: an optional `[`.
    JsonOpen,
    /// Inside one JSON call object.
    JsonCall(JsonCall),
    /// After a JSON call object: another call, the list's end or the section's end.
    JsonAfter,
    /// After a JSON list's `]`: the section's closing marker.
    JsonClose,
    /// At step `at` of a named call; `scanner` while an arguments object streams.
    Step {
        at: usize,
        scanner: Option<ValueScanner>,
    },
    /// After a named call: another call or the section's end.
    StepAfter,
    /// The markup was malformed; nothing more is parsed.
    Failed(ToolCallError),
}

/// Progress through one JSON call object.
#[derive(Debug, Clone)]
struct JsonCall {
    phase: Phase,
    /// The member whose value is being read.
    member: Member,
    /// Scans a streaming value (arguments object or a skipped value).
    scanner: Option<ValueScanner>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    Key { first: bool },
    Colon,
    Value,
    AfterValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    Name,
    Args,
    Other,
}

/// Whether the text at hand starts with a literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lit {
    Yes,
    /// The text so far is a proper prefix of the literal (wait for more).
    Maybe,
    No,
}

/// The call being parsed.
#[derive(Debug, Clone, Default)]
struct Call {
    /// Its index once [`ToolCallEvent::CallStart`] has been sent.
    index: Option<usize>,
    /// Its function name, once known.
    name: String,
    /// Its arguments' text so far.
    args: String,
    /// How much of `args` has been sent.
    sent: usize,
    /// Whether any arguments were written.
    has_args: bool,
}

/// Outcome of one parsing step.
type Stepped = Result<bool, ToolCallError>;

/// A streaming tool-call parser for one reply: feed it the generated text with
/// [`push`](Self::push) as it is decoded, in chunks of any size, then call
/// [`finish`](Self::finish).
///
/// Text that might begin a marker is held back until it is known not to be one, so markup never
/// reaches [`ToolCallEvent::Content`]. After an error the parser stops producing events and
/// [`finish`](Self::finish) returns the error; [`raw_text`](Self::raw_text) still holds the whole
/// reply, for a server that falls back to sending it as plain content.
#[derive(Debug, Clone)]
pub struct ToolCallParser {
    format: ToolCallFormat,
    ids: CallIds,
    raw: String,
    /// Text received but not yet consumed.
    buf: String,
    stage: Stage,
    /// No content decided yet (Llama 3's bare JSON reply).
    at_reply_start: bool,
    /// A call section just ended: blank text after it is dropped.
    after_call: bool,
    /// The call began without a marker, so none closes it.
    bare: bool,
    /// The marker-less call was wrapped in a Markdown fence, whose closing ``` is dropped.
    fenced: bool,
    /// Inside a JSON `[...]` list of calls.
    in_list: bool,
    calls: usize,
    call: Option<Call>,
    out: Vec<ToolCallEvent>,
}

impl ToolCallParser {
    /// A parser for `format` whose call ids come from a random seed.
    pub fn new(format: ToolCallFormat) -> Self {
        Self::with_ids(format, CallIds::random())
    }

    /// A parser for `format` whose call ids come from `ids`.
    pub fn with_ids(format: ToolCallFormat, ids: CallIds) -> Self {
        let stage = match format.syntax() {
            Syntax::Steps(syntax) if syntax.starts_in_call => Stage::Step {
                at: 0,
                scanner: None,
            },
            _ => Stage::Text,
        };
        Self {
            format,
            ids,
            raw: String::new(),
            buf: String::new(),
            stage,
            at_reply_start: true,
            after_call: false,
            bare: false,
            fenced: false,
            in_list: false,
            calls: 0,
            call: None,
            out: Vec::new(),
        }
    }

    /// The format this parser reads.
    pub fn format(&self) -> ToolCallFormat {
        self.format
    }

    /// Everything pushed so far, unparsed.
    pub fn raw_text(&self) -> &str {
        &self.raw
    }

    /// How many calls have started so far.
    pub fn calls_started(&self) -> usize {
        self.calls
    }

    /// The error that stopped the parser, if one did.
    pub fn error(&self) -> Option<&ToolCallError> {
        match &self.stage {
            Stage::Failed(error) => Some(error),
            _ => None,
        }
    }

    /// Feeds the next piece of generated text; returns the events it completes.
    pub fn push(&mut self, text: &str) -> Vec<ToolCallEvent> {
        self.raw.push_str(text);
        if matches!(self.stage, Stage::Failed(_)) {
            return Vec::new();
        }
        self.buf.push_str(text);
        self.run();
        std::mem::take(&mut self.out)
    }

    /// Ends the reply: returns the last events (held-back text that turned out to be content),
    /// or the error if the reply is not well-formed (an unterminated call, bad arguments).
    /// A section's closing marker may be missing after complete calls.
    pub fn finish(&mut self) -> Result<Vec<ToolCallEvent>, ToolCallError> {
        self.run();
        let unfinished = |expected: &str| ToolCallError::Unterminated {
            expected: expected.to_string(),
        };
        let result = match &self.stage {
            Stage::Failed(error) => Err(error.clone()),
            Stage::Text => {
                let rest = std::mem::take(&mut self.buf);
                let closing_fence = self.fenced && FENCE.starts_with(rest.trim());
                if !(self.after_call && (rest.trim().is_empty() || closing_fence)) {
                    self.content(&rest);
                }
                Ok(())
            }
            Stage::JsonAfter | Stage::JsonClose | Stage::StepAfter => Ok(()),
            Stage::JsonOpen => Err(unfinished("a tool call")),
            Stage::JsonCall(_) => Err(unfinished("the rest of the call's JSON object")),
            Stage::Step { at, .. } => {
                let call_done = self.call.is_none() && *at > 0;
                if call_done {
                    Ok(())
                } else {
                    let step = &self.step_syntax().steps[*at];
                    Err(unfinished(&describe(step)))
                }
            }
        };
        if let Err(error) = &result {
            self.stage = Stage::Failed(error.clone());
        }
        result.map(|()| std::mem::take(&mut self.out))
    }

    fn step_syntax(&self) -> &'static StepSyntax {
        match self.format.syntax() {
            Syntax::Steps(syntax) => syntax,
            Syntax::Json(_) => unreachable!("a step stage in a JSON format"),
        }
    }

    fn json_syntax(&self) -> &'static JsonSyntax {
        match self.format.syntax() {
            Syntax::Json(syntax) => syntax,
            Syntax::Steps(_) => unreachable!("a JSON stage in a step format"),
        }
    }

    /// Parses as far as the buffered text allows.
    fn run(&mut self) {
        loop {
            let stepped = match self.stage.clone() {
                Stage::Failed(_) => return,
                Stage::Text => self.text(),
                Stage::JsonOpen => self.json_open(),
                Stage::JsonCall(call) => self.json_call(call),
                Stage::JsonAfter => self.json_after(),
                Stage::JsonClose => self.json_close(),
                Stage::Step { at, scanner } => self.step(at, scanner),
                Stage::StepAfter => self.step_after(),
            };
            match stepped {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => {
                    self.stage = Stage::Failed(error);
                    return;
                }
            }
        }
    }

    // ---- ordinary text ----

    fn text(&mut self) -> Stepped {
        if self.after_call {
            self.skip_blank();
            if self.fenced {
                match starts(&self.buf, FENCE) {
                    Lit::Yes => {
                        self.buf.drain(..FENCE.len());
                        self.fenced = false;
                        self.skip_blank();
                    }
                    Lit::Maybe => return Ok(false),
                    Lit::No => self.fenced = false,
                }
            }
            if self.buf.is_empty() {
                return Ok(false);
            }
            self.after_call = false;
        }
        let syntax = self.format.syntax();
        if self.at_reply_start {
            if let Syntax::Json(json) = syntax {
                match bare_call(&self.buf, json.bare_start) {
                    Bare::Undecided => return Ok(false),
                    Bare::Call { start, fenced } => {
                        self.at_reply_start = false;
                        self.bare = true;
                        self.fenced = fenced;
                        self.buf.drain(..start);
                        self.stage = Stage::JsonCall(JsonCall::new());
                        return Ok(true);
                    }
                    Bare::Text => {}
                }
            }
            self.at_reply_start = false;
        }
        let triggers: &[&str] = match syntax {
            Syntax::Json(json) => json.triggers,
            Syntax::Steps(steps) => std::slice::from_ref(&steps.trigger),
        };
        let found = triggers
            .iter()
            .filter_map(|trigger| self.buf.find(trigger).map(|at| (at, trigger.len())))
            .min();
        if let Some((at, len)) = found {
            let before: String = self.buf.drain(..at + len).take(at).collect();
            self.content(&before);
            self.stage = match syntax {
                Syntax::Json(_) => Stage::JsonOpen,
                Syntax::Steps(_) => Stage::Step {
                    at: 0,
                    scanner: None,
                },
            };
            return Ok(true);
        }
        let hold = held_back(&self.buf, triggers);
        let sure: String = self.buf.drain(..self.buf.len() - hold).collect();
        self.content(&sure);
        Ok(false)
    }

    // ---- calls and events ----

    fn start_call(&mut self, name: String) -> Result<(), ToolCallError> {
        if name.is_empty() {
            return Err(ToolCallError::MissingName { index: self.calls });
        }
        let call = self.call.get_or_insert_with(Call::default);
        if call.index.is_some() {
            return Err(ToolCallError::Malformed {
                expected: "one name per tool call".to_string(),
                found: name,
            });
        }
        let index = self.calls;
        self.calls += 1;
        call.index = Some(index);
        call.name = name.clone();
        let id = self.ids.next_id();
        self.out.push(ToolCallEvent::CallStart { index, id, name });
        self.flush_args();
        Ok(())
    }

    fn add_args(&mut self, piece: &str) {
        if piece.is_empty() {
            return;
        }
        let call = self.call.get_or_insert_with(Call::default);
        call.args.push_str(piece);
        call.has_args = true;
        self.flush_args();
    }

    fn flush_args(&mut self) {
        let Some(call) = self.call.as_mut() else {
            return;
        };
        let Some(index) = call.index else {
            return;
        };
        if call.sent < call.args.len() {
            let fragment = call.args[call.sent..].to_string();
            call.sent = call.args.len();
            self.out.push(ToolCallEvent::Arguments { index, fragment });
        }
    }

    /// Checks the finished call's arguments (`{}` when it had none).
    fn end_call(&mut self) -> Result<(), ToolCallError> {
        if !self.call.as_ref().is_some_and(|call| call.has_args) {
            self.add_args("{}");
        }
        let name = self.call_name();
        let Some(call) = self.call.take() else {
            return Ok(());
        };
        match serde_json::from_str::<serde_json::Value>(&call.args) {
            Ok(value) if value.is_object() => Ok(()),
            Ok(_) => Err(ToolCallError::ArgumentsNotObject {
                name,
                detail: "not an object".into(),
            }),
            Err(error) => Err(ToolCallError::ArgumentsNotObject {
                name,
                detail: error.to_string(),
            }),
        }
    }

    fn end_section(&mut self) {
        self.after_call = true;
        self.stage = Stage::Text;
    }

    fn call_name(&self) -> String {
        self.call
            .as_ref()
            .map(|call| call.name.clone())
            .unwrap_or_default()
    }

    fn content(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        if let Some(ToolCallEvent::Content(last)) = self.out.last_mut() {
            last.push_str(text);
        } else {
            self.out.push(ToolCallEvent::Content(text.to_string()));
        }
    }

    // ---- text helpers ----

    fn skip_blank(&mut self) {
        let blank = self.buf.len() - self.buf.trim_start().len();
        self.buf.drain(..blank);
    }

    /// Consumes `literal` after optional whitespace if the text starts with it.
    fn eat(&mut self, literal: &str) -> Lit {
        self.skip_blank();
        let found = starts(&self.buf, literal);
        if found == Lit::Yes {
            self.buf.drain(..literal.len());
        }
        found
    }

    /// A complete JSON string at the text's start, decoded and consumed; `None` until complete.
    fn take_string(&mut self) -> Result<Option<String>, ToolCallError> {
        let scan = ValueScanner::default().feed(&self.buf);
        if !scan.done {
            return Ok(None);
        }
        let text: String = self.buf.drain(..scan.consumed).collect();
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|_| ToolCallError::Malformed {
                expected: "a JSON string".into(),
                found: text,
            })
    }

    fn malformed(&self, expected: &str) -> ToolCallError {
        ToolCallError::Malformed {
            expected: expected.to_string(),
            found: self.buf.chars().take(40).collect(),
        }
    }
}

/// Whether `text` starts with `literal`, or could once more text arrives.
fn starts(text: &str, literal: &str) -> Lit {
    if text.starts_with(literal) {
        Lit::Yes
    } else if literal.starts_with(text) {
        Lit::Maybe
    } else {
        Lit::No
    }
}

/// The Markdown fence a model may wrap a marker-less call in (```` ```json ````).
const FENCE: &str = "```";

/// What the start of a reply says about a marker-less call.
enum Bare {
    /// Too little text to tell.
    Undecided,
    /// The reply is a call: its JSON object starts at byte `start`, after `fenced` a fence.
    Call {
        /// Where the object starts.
        start: usize,
        /// Whether a fence line came first.
        fenced: bool,
    },
    /// The reply is text.
    Text,
}

/// Whether `reply` (its text so far) starts with a call that needs no marker, per `rule`. A
/// Hermes-style reply may also wrap it in a fence (```` ```json ````), as small models do.
fn bare_call(reply: &str, rule: BareStart) -> Bare {
    if rule == BareStart::Never {
        return Bare::Text;
    }
    let mut start = reply.len() - reply.trim_start().len();
    let mut fenced = false;
    if rule == BareStart::NamedObject {
        let rest = &reply[start..];
        if let Some(after_fence) = rest.strip_prefix(FENCE) {
            let Some(line_end) = rest.find('\n') else {
                return if after_fence.chars().all(|c| c.is_ascii_alphanumeric()) {
                    Bare::Undecided
                } else {
                    Bare::Text
                };
            };
            start += line_end + 1;
            start += reply[start..].len() - reply[start..].trim_start().len();
            fenced = true;
        } else if !rest.is_empty() && FENCE.starts_with(rest) {
            return Bare::Undecided;
        }
    }
    let rest = &reply[start..];
    let Some(object) = rest.strip_prefix('{') else {
        return if rest.is_empty() {
            Bare::Undecided
        } else {
            Bare::Text
        };
    };
    if rule == BareStart::AnyObject {
        return Bare::Call { start, fenced };
    }
    const NAME: &str = "\"name\"";
    let key = object.trim_start();
    if key.starts_with(NAME) {
        Bare::Call { start, fenced }
    } else if NAME.starts_with(key) {
        Bare::Undecided
    } else {
        Bare::Text
    }
}

/// Bytes at the end of `text` that could be the start of one of `markers`.
fn held_back(text: &str, markers: &[&str]) -> usize {
    let longest = markers.iter().map(|marker| marker.len()).max().unwrap_or(0);
    let earliest = text.len().saturating_sub(longest);
    (earliest..text.len())
        .filter(|&at| text.is_char_boundary(at))
        .find(|&at| markers.iter().any(|marker| marker.starts_with(&text[at..])))
        .map_or(0, |at| text.len() - at)
}
