//! Each [`ToolCallFormat`]'s markup as data that the parser interprets.
//!
//! Two families: JSON call objects (`{"name": ..., "arguments": {...}}`) inside some markers,
//! and markup that names the function itself, followed by a JSON arguments object or by XML-ish
//! parameters (a short program of [`Step`]s per call).

use super::ToolCallFormat;

/// How a format writes its calls.
#[derive(Debug)]
pub(crate) enum Syntax {
    /// JSON call objects.
    Json(JsonSyntax),
    /// Name and arguments in the format's own markup.
    Steps(StepSyntax),
}

/// Formats whose calls are JSON objects with a name and an arguments (or parameters) member.
#[derive(Debug)]
pub(crate) struct JsonSyntax {
    /// Markers that begin a tool-call section within ordinary text.
    pub triggers: &'static [&'static str],
    /// Whether a reply that starts with a JSON object, without any marker, is a call.
    pub bare_start: BareStart,
    /// A separator between calls outside a `[...]` list (`;` for Llama 3).
    pub separator: Option<char>,
    /// The marker that ends the section.
    pub close: Option<&'static str>,
}

/// Which replies without a marker are calls all the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BareStart {
    /// None: a call always begins with a marker.
    Never,
    /// A reply whose first non-blank character is `{` (Llama 3).
    AnyObject,
    /// A reply that starts with `{"name"` (small Hermes-style models such as Qwen2.5 Coder
    /// 0.5B often leave out `<tool_call>`).
    NamedObject,
}

/// Formats whose markup names the function: the steps of one call.
#[derive(Debug)]
pub(crate) struct StepSyntax {
    /// The marker that begins a tool-call section within ordinary text.
    pub trigger: &'static str,
    /// Whether the reply starts right after the trigger (the prompt ends with it).
    pub starts_in_call: bool,
    /// One call's markup.
    pub steps: &'static [Step],
    /// A marker (left for the first step to read) that begins another call in the same section.
    pub repeat: Option<&'static str>,
    /// The marker that ends the section.
    pub close: Option<&'static str>,
    /// A "function name" that really introduces ordinary text (functionary's `all`).
    pub content_name: Option<&'static str>,
    /// Whether the written name is Kimi's `functions.NAME:INDEX` id.
    pub kimi_ids: bool,
}

/// One piece of a call's markup.
#[derive(Debug)]
pub(crate) enum Step {
    /// This literal, after optional whitespace.
    Lit(&'static str),
    /// Any text up to (not including) this marker.
    SkipUntil(&'static str),
    /// If the text starts with `open`, everything up to (not including) `until`.
    SkipOptional {
        /// What starts the optional part.
        open: &'static str,
        /// What follows it.
        until: &'static str,
    },
    /// The function name: the text up to (not including) the first of these markers, trimmed.
    Name(&'static [&'static str]),
    /// A JSON object: the arguments.
    Args,
    /// XML-ish parameters, made into the arguments object.
    Params(&'static XmlParams),
}

/// How XML-ish markup writes one parameter: `open KEY key_end [value_start] VALUE value_end`.
#[derive(Debug)]
pub(crate) struct XmlParams {
    /// What begins a parameter (and its key).
    pub open: &'static str,
    /// What ends the key.
    pub key_end: &'static str,
    /// What begins the value, after optional whitespace, if anything.
    pub value_start: Option<&'static str>,
    /// What ends the value.
    pub value_end: &'static str,
    /// Whether one newline at each end of the value is markup, not value.
    pub trim_newlines: bool,
}

const QWEN_PARAMS: XmlParams = XmlParams {
    open: "<parameter=",
    key_end: ">",
    value_start: None,
    value_end: "</parameter>",
    trim_newlines: true,
};

const GLM_PARAMS: XmlParams = XmlParams {
    open: "<arg_key>",
    key_end: "</arg_key>",
    value_start: Some("<arg_value>"),
    value_end: "</arg_value>",
    trim_newlines: false,
};

const MINIMAX_PARAMS: XmlParams = XmlParams {
    open: "<parameter name=\"",
    key_end: "\">",
    value_start: None,
    value_end: "</parameter>",
    trim_newlines: false,
};

const fn json(
    triggers: &'static [&'static str],
    separator: Option<char>,
    close: Option<&'static str>,
) -> Syntax {
    Syntax::Json(JsonSyntax {
        triggers,
        bare_start: BareStart::Never,
        separator,
        close,
    })
}

const fn steps(
    trigger: &'static str,
    steps: &'static [Step],
    repeat: Option<&'static str>,
    close: Option<&'static str>,
) -> StepSyntax {
    StepSyntax {
        trigger,
        starts_in_call: false,
        steps,
        repeat,
        close,
        content_name: None,
        kimi_ids: false,
    }
}

/// DeepSeek's markers.
pub(crate) mod deepseek {
    /// Begins the calls section.
    pub const CALLS_BEGIN: &str = "<｜tool▁calls▁begin｜>";
    /// Ends the calls section.
    pub const CALLS_END: &str = "<｜tool▁calls▁end｜>";
    /// Begins one call.
    pub const CALL_BEGIN: &str = "<｜tool▁call▁begin｜>";
    /// Ends one call.
    pub const CALL_END: &str = "<｜tool▁call▁end｜>";
    /// Separates the call's type (R1) or name (V3.1) from what follows.
    pub const SEP: &str = "<｜tool▁sep｜>";
}

/// Kimi K2's markers.
pub(crate) mod kimi {
    /// Begins the calls section.
    pub const SECTION_BEGIN: &str = "<|tool_calls_section_begin|>";
    /// Ends the calls section.
    pub const SECTION_END: &str = "<|tool_calls_section_end|>";
    /// Begins one call.
    pub const CALL_BEGIN: &str = "<|tool_call_begin|>";
    /// Begins the call's arguments.
    pub const ARGS_BEGIN: &str = "<|tool_call_argument_begin|>";
    /// Ends one call.
    pub const CALL_END: &str = "<|tool_call_end|>";
}

static HERMES: Syntax = Syntax::Json(JsonSyntax {
    triggers: &["<tool_call>"],
    bare_start: BareStart::NamedObject,
    separator: None,
    close: Some("</tool_call>"),
});
static LLAMA3: Syntax = Syntax::Json(JsonSyntax {
    triggers: &["<|python_tag|>"],
    bare_start: BareStart::AnyObject,
    separator: Some(';'),
    close: None,
});
static MISTRAL_LIST: Syntax = json(&["[TOOL_CALLS]"], None, None);
static GRANITE: Syntax = json(&["<|tool_call|>"], None, None);
static FIREFUNCTION: Syntax = json(&["functools"], None, None);
static TOOL_CALLS_TAG: Syntax = json(&["<tool_calls>"], None, Some("</tool_calls>"));

static MISTRAL_ARGS: Syntax = Syntax::Steps(steps(
    "[TOOL_CALLS]",
    &[
        Step::Name(&["[CALL_ID]", "[ARGS]"]),
        Step::SkipOptional {
            open: "[CALL_ID]",
            until: "[ARGS]",
        },
        Step::Lit("[ARGS]"),
        Step::Args,
    ],
    None,
    None,
));
static QWEN_XML: Syntax = Syntax::Steps(steps(
    "<tool_call>",
    &[
        Step::Lit("<function="),
        Step::Name(&[">"]),
        Step::Lit(">"),
        Step::Params(&QWEN_PARAMS),
        Step::Lit("</function>"),
        Step::Lit("</tool_call>"),
    ],
    None,
    None,
));
static SEED_XML: Syntax = Syntax::Steps(steps(
    "<seed:tool_call>",
    &[
        Step::Lit("<function="),
        Step::Name(&[">"]),
        Step::Lit(">"),
        Step::Params(&QWEN_PARAMS),
        Step::Lit("</function>"),
        Step::Lit("</seed:tool_call>"),
    ],
    None,
    None,
));
static GLM: Syntax = Syntax::Steps(steps(
    "<tool_call>",
    &[
        Step::Name(&["<arg_key>", "</tool_call>", "\n"]),
        Step::Params(&GLM_PARAMS),
        Step::Lit("</tool_call>"),
    ],
    None,
    None,
));
static MINIMAX_XML: Syntax = Syntax::Steps(steps(
    "<minimax:tool_call>",
    &[
        Step::Lit("<invoke name=\""),
        Step::Name(&["\""]),
        Step::Lit("\">"),
        Step::Params(&MINIMAX_PARAMS),
        Step::Lit("</invoke>"),
    ],
    Some("<invoke"),
    Some("</minimax:tool_call>"),
));
static FUNCTIONARY_V31: Syntax = Syntax::Steps(steps(
    "<function=",
    &[
        Step::Name(&[">"]),
        Step::Lit(">"),
        Step::Args,
        Step::Lit("</function>"),
    ],
    None,
    None,
));
static FUNCTIONARY_V32: Syntax = Syntax::Steps(StepSyntax {
    starts_in_call: true,
    content_name: Some("all"),
    ..steps(">>>", &[Step::Name(&["\n"]), Step::Args], None, None)
});
static DEEPSEEK_R1: Syntax = Syntax::Steps(steps(
    deepseek::CALLS_BEGIN,
    &[
        Step::Lit(deepseek::CALL_BEGIN),
        Step::SkipUntil(deepseek::SEP),
        Step::Lit(deepseek::SEP),
        Step::Name(&["\n", "```"]),
        Step::Lit("```json"),
        Step::Args,
        Step::Lit("```"),
        Step::Lit(deepseek::CALL_END),
    ],
    Some(deepseek::CALL_BEGIN),
    Some(deepseek::CALLS_END),
));
static DEEPSEEK_V31: Syntax = Syntax::Steps(steps(
    deepseek::CALLS_BEGIN,
    &[
        Step::Lit(deepseek::CALL_BEGIN),
        Step::Name(&[deepseek::SEP]),
        Step::Lit(deepseek::SEP),
        Step::Args,
        Step::Lit(deepseek::CALL_END),
    ],
    Some(deepseek::CALL_BEGIN),
    Some(deepseek::CALLS_END),
));
static KIMI_K2: Syntax = Syntax::Steps(StepSyntax {
    kimi_ids: true,
    ..steps(
        kimi::SECTION_BEGIN,
        &[
            Step::Lit(kimi::CALL_BEGIN),
            Step::Name(&[kimi::ARGS_BEGIN]),
            Step::Lit(kimi::ARGS_BEGIN),
            Step::Args,
            Step::Lit(kimi::CALL_END),
        ],
        Some(kimi::CALL_BEGIN),
        Some(kimi::SECTION_END),
    )
});

impl ToolCallFormat {
    /// This format's markup.
    pub(crate) fn syntax(self) -> &'static Syntax {
        match self {
            Self::Hermes => &HERMES,
            Self::Llama3Json => &LLAMA3,
            Self::MistralJsonList => &MISTRAL_LIST,
            Self::MistralArgs => &MISTRAL_ARGS,
            Self::QwenXml => &QWEN_XML,
            Self::SeedXml => &SEED_XML,
            Self::Glm => &GLM,
            Self::MiniMaxXml => &MINIMAX_XML,
            Self::GraniteJsonList => &GRANITE,
            Self::FireFunction => &FIREFUNCTION,
            Self::ToolCallsTag => &TOOL_CALLS_TAG,
            Self::FunctionaryV31 => &FUNCTIONARY_V31,
            Self::FunctionaryV32 => &FUNCTIONARY_V32,
            Self::DeepSeekR1 => &DEEPSEEK_R1,
            Self::DeepSeekV31 => &DEEPSEEK_V31,
            Self::KimiK2 => &KIMI_K2,
        }
    }
}
