//! A model's own Jinja chat template (GGUF `tokenizer.chat_template`), compiled once and
//! rendered with minijinja as Hugging Face's `apply_chat_template` renders it: blocks trimmed
//! (`trim_blocks`, `lstrip_blocks`), no autoescaping, Python string and dict methods
//! (`.strip()`, `.split()`, `.items()`...), `raise_exception`, `strftime_now`, and a `tojson`
//! that writes what Python's `json.dumps` writes.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Value, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};

use super::{ChatMessage, ChatTemplateError, at_line, pyjson, pystr, strftime};

/// The name the template is compiled under (errors name it with a line number).
const NAME: &str = "chat_template";

/// A compiled Jinja chat template with the tokenizer's BOS and EOS texts. Cloning is cheap (the
/// compiled template is shared).
#[derive(Clone)]
pub struct JinjaTemplate {
    env: Arc<Environment<'static>>,
    /// The template's text as given (for writing it into a model file).
    source: Arc<str>,
    bos: String,
    eos: String,
    end_of_turn: Option<String>,
    /// The clock templates read (seconds since the Unix epoch, UTC); `None`: the real one.
    clock: Option<i64>,
}

impl fmt::Debug for JinjaTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JinjaTemplate")
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("end_of_turn", &self.end_of_turn)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl JinjaTemplate {
    /// Compiles `source`; `bos` and `eos` are what `bos_token` and `eos_token` render as (the
    /// tokenizer's texts for them, empty where it has none). An error names the syntax problem
    /// and its line.
    pub fn new(source: &str, bos: &str, eos: &str) -> Result<Self, ChatTemplateError> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| describe(&e))?;
        env.set_syntax(syntax);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", |format: &str| {
            strftime::strftime_now(format)
        });
        env.add_test("iterable", is_iterable);
        env.add_test("sequence", is_sequence);
        env.add_filter("tojson", pyjson::tojson);
        env.add_filter("from_json", pyjson::from_json);
        env.add_filter("indent", pystr::indent);
        env.add_template_owned(NAME, generation_blocks_as_ifs(source).into_owned())
            .map_err(|e| ChatTemplateError::Compile(describe(&e).to_string()))?;
        Ok(JinjaTemplate {
            env: Arc::new(env),
            source: source.into(),
            bos: bos.to_string(),
            eos: eos.to_string(),
            end_of_turn: None,
            clock: None,
        })
    }

    /// The same template with `text` as the text that ends the assistant's turn (a stop
    /// sequence), for tokenizers whose end-of-turn token is not an end-of-generation token.
    pub fn with_end_of_turn(mut self, text: impl Into<String>) -> Self {
        self.end_of_turn = Some(text.into());
        self
    }

    /// The same template reading a fixed clock: `strftime_now` (and Firefunction's `datetime`)
    /// give the time `unix_seconds` (UTC) instead of now, for renders that must not change
    /// from day to day.
    pub fn with_clock(mut self, unix_seconds: i64) -> Self {
        self.clock = Some(unix_seconds);
        self
    }

    /// The template's Jinja text, as it was given to [`JinjaTemplate::new`] (what a GGUF
    /// file's `tokenizer.chat_template` holds).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The text that ends the assistant's turn, if one was set.
    pub fn end_of_turn(&self) -> Option<&str> {
        self.end_of_turn.as_deref()
    }

    /// The prompt for `messages`, ready for the assistant's reply (`add_generation_prompt` is
    /// true), with `tools` (OpenAI tool objects, `{"type": "function", "function": {"name",
    /// "description", "parameters"}}`) offered to the model. The template sees what Hugging
    /// Face's `apply_chat_template(messages, tools=tools)` gives it: `messages` as dicts (see
    /// [`ChatMessage`]; OpenAI's `developer` role as `system`), `tools` as the list (none when
    /// there are none), `documents` as none, `bos_token`, `eos_token`, and `strftime_now`. An
    /// error says what went wrong and where, or what the template's `raise_exception` said.
    pub fn render_conversation(
        &self,
        messages: &[ChatMessage],
        tools: &[serde_json::Value],
    ) -> Result<String, ChatTemplateError> {
        self.render_conversation_with(messages, tools, true)
    }

    /// [`render_conversation`](Self::render_conversation) with `add_generation_prompt` as
    /// given: `false` renders the conversation as it stands, without opening the assistant's
    /// turn (Hugging Face's `apply_chat_template(..., add_generation_prompt=False)`).
    pub fn render_conversation_with(
        &self,
        messages: &[ChatMessage],
        tools: &[serde_json::Value],
        add_generation_prompt: bool,
    ) -> Result<String, ChatTemplateError> {
        let messages: Value = messages.iter().map(ChatMessage::to_value).collect();
        let (tools, functions) = if tools.is_empty() {
            (Value::from(()), String::new())
        } else {
            let tools: Value = tools.iter().map(pyjson::from_serde).collect();
            let functions = pyjson::dumps(&tools, Some(2)).map_err(|e| describe(&e))?;
            (tools, functions)
        };
        let clock = self.clock;
        let now = move |format: &str| match clock {
            Some(seconds) => strftime::strftime(format, seconds),
            None => strftime::strftime_now(format),
        };
        let context = Value::from_pairs([
            ("messages", messages),
            ("add_generation_prompt", Value::from(add_generation_prompt)),
            ("bos_token", Value::from(self.bos.as_str())),
            ("eos_token", Value::from(self.eos.as_str())),
            ("tools", tools),
            ("documents", Value::from(())),
            // What llama.cpp gives Firefunction v2's template, which needs them: the time, and
            // the tools' JSON (`json.dumps(tools, indent=2)`; empty without tools).
            ("datetime", Value::from(now("%b %d %Y %H:%M:%S GMT"))),
            ("functions", Value::from(functions)),
            (
                "strftime_now",
                Value::from_function(move |format: &str| now(format)),
            ),
        ]);
        self.env
            .get_template(NAME)
            .and_then(|template| template.render(context))
            .map_err(|e| describe(&e))
    }
}

/// Jinja's `is iterable` (Python's `iter(value)` works): strings, lists and maps are, none is
/// not (minijinja would say it is, as it loops over none as over nothing).
fn is_iterable(value: &Value) -> bool {
    match value.kind() {
        ValueKind::None => false,
        ValueKind::String => true,
        _ => value.try_iter().is_ok(),
    }
}

/// Jinja's `is sequence` (Python's `len(value)` and `value[...]` work): strings, lists and maps
/// are (minijinja would say only lists are), and so is undefined.
fn is_sequence(value: &Value) -> bool {
    value.is_undefined()
        || matches!(
            value.kind(),
            ValueKind::Seq | ValueKind::String | ValueKind::Map
        )
}

/// The message of a template's `raise_exception(message)`, carried as the error's source.
#[derive(Debug)]
struct Raised(String);

impl fmt::Display for Raised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Raised {}

/// `raise_exception(message)`: fails the render with `message`.
fn raise_exception(message: Value) -> Result<Value, Error> {
    let message = match message.as_str() {
        Some(text) => text.to_string(),
        None => message.to_string(),
    };
    Err(
        Error::new(ErrorKind::InvalidOperation, "raise_exception was called")
            .with_source(Raised(message)),
    )
}

/// A render or compile error as a [`ChatTemplateError`]: the template's own exception message if
/// it raised one, else the problem, its template line, and its causes.
fn describe(error: &Error) -> ChatTemplateError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(raised) = current.downcast_ref::<Raised>() {
            return ChatTemplateError::Raised {
                message: raised.0.clone(),
                line: error.line(),
            };
        }
        cause = current.source();
    }
    let mut text = format!("chat template error: {}", error.kind());
    if let Some(detail) = error.detail() {
        text.push_str(&format!(": {detail}"));
    }
    text.push_str(&at_line(error.line()));
    let mut cause = std::error::Error::source(error);
    while let Some(current) = cause {
        text.push_str(&format!(": {current}"));
        cause = current.source();
    }
    ChatTemplateError::Render(text)
}

/// `source` with Hugging Face's `{% generation %}` / `{% endgeneration %}` tags (which only mark
/// the assistant's text for training masks) as `{% if true %}` / `{% endif %}`: minijinja has no
/// such tag, and this keeps their whitespace control (`{%-`, `-%}`) as it was.
fn generation_blocks_as_ifs(source: &str) -> Cow<'_, str> {
    if !source.contains("generation") {
        return Cow::Borrowed(source);
    }
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{%") {
        out.push_str(&rest[..start]);
        let tag = &rest[start..];
        let Some(end) = tag.find("%}") else {
            rest = tag;
            break;
        };
        let inner = &tag[2..end];
        let word = inner
            .trim_start_matches(['-', '+'])
            .trim_end_matches(['-', '+'])
            .trim();
        let replacement = match word {
            "generation" => Some("if true"),
            "endgeneration" => Some("endif"),
            _ => None,
        };
        match replacement {
            Some(replacement) => {
                out.push_str("{%");
                out.push_str(&inner.replace(word, replacement));
                out.push_str("%}");
            }
            None => out.push_str(&tag[..end + 2]),
        }
        rest = &tag[end + 2..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}
