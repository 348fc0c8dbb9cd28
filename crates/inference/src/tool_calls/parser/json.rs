//! The parser on formats whose calls are JSON objects (`{"name": ..., "arguments": {...}}`),
//! one by one, in a `[...]` list or between separators, inside the format's markers.

use super::super::ToolCallError;
use super::super::json_scan::ValueScanner;
use super::{Call, JsonCall, Lit, Member, Phase, Stage, Stepped, ToolCallParser};

impl ToolCallParser {
    pub(super) fn json_open(&mut self) -> Stepped {
        self.skip_blank();
        let Some(first) = self.buf.chars().next() else {
            return Ok(false);
        };
        self.in_list = first == '[';
        if self.in_list {
            self.buf.remove(0);
        }
        self.stage = Stage::JsonCall(JsonCall::new());
        Ok(true)
    }

    pub(super) fn json_call(&mut self, mut state: JsonCall) -> Stepped {
        if self.call.is_none() {
            self.call = Some(Call::default());
        }
        if state.scanner.is_none() {
            self.skip_blank();
        }
        let Some(first) = self.buf.chars().next() else {
            self.stage = Stage::JsonCall(state);
            return Ok(false);
        };
        match state.phase {
            Phase::Open => {
                if first != '{' {
                    return Err(self.malformed("`{` beginning a tool call"));
                }
                self.buf.remove(0);
                state.phase = Phase::Key { first: true };
            }
            Phase::Key { first: is_first } => match first {
                '}' => {
                    self.buf.remove(0);
                    return self.end_json_call();
                }
                ',' if !is_first => {
                    self.buf.remove(0);
                    state.phase = Phase::Key { first: false };
                }
                '"' => {
                    let Some(key) = self.take_string()? else {
                        self.stage = Stage::JsonCall(state);
                        return Ok(false);
                    };
                    state.member = match key.as_str() {
                        "name" => Member::Name,
                        "arguments" | "parameters" => Member::Args,
                        _ => Member::Other,
                    };
                    state.phase = Phase::Colon;
                }
                _ => return Err(self.malformed("a member name in the tool call object")),
            },
            Phase::Colon => {
                if first != ':' {
                    return Err(self.malformed("`:`"));
                }
                self.buf.remove(0);
                state.phase = Phase::Value;
            }
            Phase::Value => {
                if !self.json_value(&mut state, first)? {
                    self.stage = Stage::JsonCall(state);
                    return Ok(false);
                }
            }
            Phase::AfterValue => match first {
                ',' => {
                    self.buf.remove(0);
                    state.phase = Phase::Key { first: false };
                }
                '}' => {
                    self.buf.remove(0);
                    return self.end_json_call();
                }
                _ => return Err(self.malformed("`,` or `}` in the tool call object")),
            },
        }
        self.stage = Stage::JsonCall(state);
        Ok(true)
    }

    /// Reads (part of) a member's value; `Ok(false)` when more text is needed.
    pub(super) fn json_value(&mut self, state: &mut JsonCall, first: char) -> Stepped {
        match state.member {
            Member::Name => {
                if first != '"' {
                    return Err(self.malformed("the function name as a JSON string"));
                }
                let Some(name) = self.take_string()? else {
                    return Ok(false);
                };
                self.start_call(name)?;
                state.phase = Phase::AfterValue;
            }
            Member::Args if state.scanner.is_none() && first == '"' => {
                let name = self.call_name();
                let Some(inner) = self.take_string()? else {
                    return Ok(false);
                };
                let inner = inner.trim();
                match serde_json::from_str::<serde_json::Value>(inner) {
                    Ok(value) if value.is_object() => self.add_args(inner),
                    _ => {
                        return Err(ToolCallError::ArgumentsNotObject {
                            name,
                            detail: "a string that is not a JSON object".to_string(),
                        });
                    }
                }
                state.phase = Phase::AfterValue;
            }
            Member::Args | Member::Other => {
                if state.scanner.is_none() && state.member == Member::Args && first != '{' {
                    return Err(ToolCallError::ArgumentsNotObject {
                        name: self.call_name(),
                        detail: format!("it starts with {first:?}"),
                    });
                }
                let scanner = state.scanner.get_or_insert_with(ValueScanner::default);
                let scan = scanner.feed(&self.buf);
                let piece: String = self.buf.drain(..scan.consumed).collect();
                if state.member == Member::Args {
                    self.add_args(&piece);
                }
                if !scan.done {
                    return Ok(false);
                }
                state.scanner = None;
                state.phase = Phase::AfterValue;
            }
        }
        Ok(true)
    }

    pub(super) fn end_json_call(&mut self) -> Stepped {
        if self.call.as_ref().is_some_and(|call| call.index.is_none()) {
            return Err(ToolCallError::MissingName { index: self.calls });
        }
        self.end_call()?;
        self.stage = Stage::JsonAfter;
        Ok(true)
    }

    pub(super) fn json_after(&mut self) -> Stepped {
        self.skip_blank();
        let Some(first) = self.buf.chars().next() else {
            return Ok(false);
        };
        let syntax = self.json_syntax();
        if self.in_list {
            match first {
                ',' => {
                    self.buf.remove(0);
                    self.stage = Stage::JsonCall(JsonCall::new());
                }
                ']' => {
                    self.buf.remove(0);
                    self.in_list = false;
                    self.stage = Stage::JsonClose;
                }
                _ => return Err(self.malformed("`,` or `]` in the list of tool calls")),
            }
            return Ok(true);
        }
        if Some(first) == syntax.separator {
            self.buf.remove(0);
            self.stage = Stage::JsonCall(JsonCall::new());
            return Ok(true);
        }
        if first == '{' {
            self.stage = Stage::JsonCall(JsonCall::new());
            return Ok(true);
        }
        self.json_close()
    }

    pub(super) fn json_close(&mut self) -> Stepped {
        let close = self.json_syntax().close.filter(|_| !self.bare);
        self.close_section(close)
    }

    /// Ends the section at its `close` marker (at once where it has none).
    pub(super) fn close_section(&mut self, close: Option<&str>) -> Stepped {
        let Some(close) = close else {
            self.end_section();
            return Ok(true);
        };
        match self.eat(close) {
            Lit::Yes => {
                self.end_section();
                Ok(true)
            }
            Lit::Maybe => Ok(false),
            Lit::No => Err(self.malformed(&format!("`{close}`"))),
        }
    }
}

impl JsonCall {
    pub(super) fn new() -> Self {
        Self {
            phase: Phase::Open,
            member: Member::Other,
            scanner: None,
        }
    }
}
