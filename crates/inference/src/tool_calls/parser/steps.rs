//! The parser on formats whose markup names the function itself, followed by a JSON arguments
//! object or by XML-ish parameters: a short program of steps per call.

use super::super::ToolCallError;
use super::super::json_scan::ValueScanner;
use super::super::syntax::{Step, XmlParams};
use super::{Call, Lit, MAX_NAME_BYTES, Stage, Stepped, ToolCallParser, starts};

impl ToolCallParser {
    pub(super) fn step(&mut self, at: usize, scanner: Option<ValueScanner>) -> Stepped {
        let syntax = self.step_syntax();
        let Some(step) = syntax.steps.get(at) else {
            self.stage = Stage::StepAfter;
            return Ok(true);
        };
        if at == 0 {
            self.call.get_or_insert_with(Call::default);
        }
        let next = Stage::Step {
            at: at + 1,
            scanner: None,
        };
        match step {
            Step::Lit(literal) => match self.eat(literal) {
                Lit::Yes => {}
                Lit::Maybe => return Ok(false),
                Lit::No => return Err(self.malformed(&format!("`{literal}`"))),
            },
            Step::SkipUntil(marker) => {
                let Some(found) = self.buf.find(marker) else {
                    return Ok(false);
                };
                self.buf.drain(..found);
            }
            Step::SkipOptional { open, until } => match starts(&self.buf, open) {
                Lit::Maybe => return Ok(false),
                Lit::No => {}
                Lit::Yes => {
                    let Some(found) = self.buf.find(until) else {
                        return Ok(false);
                    };
                    self.buf.drain(..found);
                }
            },
            Step::Name(ends) => {
                let Some(end) = ends.iter().filter_map(|end| self.buf.find(end)).min() else {
                    if self.buf.len() > MAX_NAME_BYTES {
                        return Err(self.malformed("the end of the function name"));
                    }
                    return Ok(false);
                };
                let written: String = self.buf.drain(..end).collect();
                let written = written.trim();
                if syntax.content_name == Some(written) {
                    // Functionary's `all\n`: ordinary text follows.
                    if self.buf.starts_with('\n') {
                        self.buf.remove(0);
                    }
                    self.call = None;
                    self.stage = Stage::Text;
                    return Ok(true);
                }
                let name = if syntax.kimi_ids {
                    kimi_name(written)
                } else {
                    written
                };
                self.start_call(name.to_string())?;
            }
            Step::Args => {
                if scanner.is_none() {
                    self.skip_blank();
                    let Some(first) = self.buf.chars().next() else {
                        return Ok(false);
                    };
                    if first != '{' {
                        return Err(ToolCallError::ArgumentsNotObject {
                            name: self.call_name(),
                            detail: format!("it starts with {first:?}"),
                        });
                    }
                }
                let mut scanner = scanner.unwrap_or_default();
                let scan = scanner.feed(&self.buf);
                let piece: String = self.buf.drain(..scan.consumed).collect();
                self.add_args(&piece);
                if !scan.done {
                    self.stage = Stage::Step {
                        at,
                        scanner: Some(scanner),
                    };
                    return Ok(false);
                }
                self.end_call()?;
            }
            Step::Params(params) => {
                if !self.params(params)? {
                    return Ok(false);
                }
                self.end_call()?;
            }
        }
        self.stage = next;
        Ok(true)
    }

    /// Reads the XML-ish parameters that are complete; `Ok(true)` once they end.
    pub(super) fn params(&mut self, params: &XmlParams) -> Stepped {
        loop {
            let blank = self.buf.len() - self.buf.trim_start().len();
            let rest = &self.buf[blank..];
            match starts(rest, params.open) {
                Lit::Maybe => return Ok(false),
                Lit::No => {
                    let has_args = self.call.as_ref().is_some_and(|call| call.has_args);
                    self.add_args(if has_args { "}" } else { "{}" });
                    return Ok(true);
                }
                Lit::Yes => {}
            }
            let after_open = &rest[params.open.len()..];
            let Some(key_len) = after_open.find(params.key_end) else {
                return Ok(false);
            };
            let key = after_open[..key_len].trim().to_string();
            let mut value_part = &after_open[key_len + params.key_end.len()..];
            if let Some(start) = params.value_start {
                let trimmed = value_part.trim_start();
                match starts(trimmed, start) {
                    Lit::Maybe => return Ok(false),
                    Lit::No => return Err(self.malformed(&format!("`{start}`"))),
                    Lit::Yes => value_part = &trimmed[start.len()..],
                }
            }
            let Some(value_len) = value_part.find(params.value_end) else {
                return Ok(false);
            };
            let mut value = &value_part[..value_len];
            if params.trim_newlines {
                value = value.strip_prefix('\n').unwrap_or(value);
                value = value.strip_suffix('\n').unwrap_or(value);
            }
            let value = match serde_json::from_str::<serde_json::Value>(value) {
                Ok(parsed) => parsed,
                Err(_) => serde_json::Value::String(value.to_string()),
            };
            let consumed = self.buf.len() - value_part.len() + value_len + params.value_end.len();
            let has_args = self.call.as_ref().is_some_and(|call| call.has_args);
            let fragment = format!(
                "{}{}:{}",
                if has_args { "," } else { "{" },
                serde_json::Value::String(key),
                value
            );
            self.buf.drain(..consumed);
            self.add_args(&fragment);
        }
    }

    pub(super) fn step_after(&mut self) -> Stepped {
        let syntax = self.step_syntax();
        self.skip_blank();
        if let Some(repeat) = syntax.repeat {
            match starts(&self.buf, repeat) {
                Lit::Yes => {
                    self.stage = Stage::Step {
                        at: 0,
                        scanner: None,
                    };
                    return Ok(true);
                }
                Lit::Maybe => return Ok(false),
                Lit::No => {}
            }
        }
        self.close_section(syntax.close)
    }
}

/// The function name in Kimi's `functions.NAME:INDEX` call id.
fn kimi_name(id: &str) -> &str {
    let id = id.strip_prefix("functions.").unwrap_or(id);
    match id.rsplit_once(':') {
        Some((name, index)) if index.chars().all(|c| c.is_ascii_digit()) => name,
        _ => id,
    }
}

/// What a step expects, for errors.
pub(super) fn describe(step: &Step) -> String {
    match step {
        Step::Lit(literal) => format!("`{literal}`"),
        Step::SkipUntil(marker) | Step::SkipOptional { until: marker, .. } => format!("`{marker}`"),
        Step::Name(_) => "the function name".to_string(),
        Step::Args => "the rest of the arguments object".to_string(),
        Step::Params(params) => format!("`{}`", params.value_end),
    }
}
