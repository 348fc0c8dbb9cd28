//! Chat templates: how a list of messages becomes one prompt, and what ends the assistant's turn.
//!
//! Two built-in formats ([`ChatTemplate::Plain`], [`ChatTemplate::ChatMl`]) and the Jinja
//! templates models ship (`tokenizer.chat_template` in GGUF metadata), rendered by
//! [`JinjaTemplate`].

mod builtin;
mod jinja;
mod message;
mod pyjson;
mod pystr;
mod strftime;

use std::str::FromStr;

use claude_tokenizer::{AllowedSpecial, Tokenizer};

pub use jinja::JinjaTemplate;
pub use message::{ChatMessage, ToolCallMessage};

/// A conversation format.
#[derive(Debug, Clone)]
pub enum ChatTemplate {
    /// Plain text, for models trained on plain text (e.g. a Shakespeare model): each message is
    /// `ROLE:\n<content>\n\n` (ROLE in capitals, like a play's speaker), and the prompt ends with
    /// `ASSISTANT:\n`. The turn ends at a blank line.
    Plain,
    /// ChatML, for models trained with `<|im_start|>` / `<|im_end|>` special tokens:
    /// `<|im_start|>role\n<content><|im_end|>\n`, ending with `<|im_start|>assistant\n`. The turn
    /// ends at `<|im_end|>`.
    ChatMl,
    /// A model's own Jinja template (as in GGUF `tokenizer.chat_template`). Roles go to the
    /// template as they are; the turn ends where the tokenizer's end-of-generation tokens say,
    /// or at the template's [`JinjaTemplate::with_end_of_turn`] text.
    Jinja(JinjaTemplate),
}

/// ChatML's turn opener.
pub const IM_START: &str = "<|im_start|>";
/// ChatML's turn closer.
pub const IM_END: &str = "<|im_end|>";

/// Why a chat template could not be chosen, compiled or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatTemplateError {
    /// A built-in format's name that is not one.
    #[error("unknown chat template {0:?} (expected plain or chatml)")]
    UnknownFormat(String),
    /// A role the built-in formats do not have.
    #[error("unknown role {0:?} (expected system, user, assistant or tool)")]
    UnknownRole(String),
    /// Tools, tool calls or tool results (what the text names) given to the plain format,
    /// which has no way to write them.
    #[error("the plain chat format has no {0}")]
    ToolsUnsupported(&'static str),
    /// A Jinja template that does not compile: the problem and its template line.
    #[error("cannot compile the chat template: {0}")]
    Compile(String),
    /// The template's own `raise_exception(message)` (such as "Roles must alternate!").
    #[error("the chat template raised an exception: {message}{}", at_line(*.line))]
    Raised {
        /// The template's message.
        message: String,
        /// The template line that raised it.
        line: Option<usize>,
    },
    /// A Jinja template that failed to render: the problem, its template line, and its causes.
    #[error("{0}")]
    Render(String),
}

/// ` (template line N)`, or nothing without a line.
pub(crate) fn at_line(line: Option<usize>) -> String {
    line.map(|line| format!(" (template line {line})"))
        .unwrap_or_default()
}

impl FromStr for ChatTemplate {
    type Err = ChatTemplateError;

    fn from_str(s: &str) -> Result<Self, ChatTemplateError> {
        match s {
            "plain" => Ok(ChatTemplate::Plain),
            "chatml" => Ok(ChatTemplate::ChatMl),
            other => Err(ChatTemplateError::UnknownFormat(other.to_string())),
        }
    }
}

impl ChatTemplate {
    /// A Jinja chat template compiled from `source` (e.g. GGUF `tokenizer.chat_template`),
    /// rendered with `bos_token` / `eos_token` set to `bos` / `eos` (the tokenizer's texts for
    /// them; empty where it has none). An error names the template's syntax problem.
    pub fn jinja(source: &str, bos: &str, eos: &str) -> Result<Self, ChatTemplateError> {
        JinjaTemplate::new(source, bos, eos).map(ChatTemplate::Jinja)
    }

    /// The Jinja text of a model's own template (what GGUF `tokenizer.chat_template` holds);
    /// `None` for the built-in formats.
    pub fn jinja_source(&self) -> Option<&str> {
        match self {
            ChatTemplate::Jinja(template) => Some(template.source()),
            ChatTemplate::Plain | ChatTemplate::ChatMl => None,
        }
    }

    /// The prompt for `messages` (role, text), ready for the assistant's reply: the
    /// [conversation](Self::render_conversation) of those messages, with no tools.
    pub fn render(&self, messages: &[(String, String)]) -> Result<String, ChatTemplateError> {
        let messages: Vec<ChatMessage> = messages.iter().cloned().map(ChatMessage::from).collect();
        self.render_conversation(&messages, &[])
    }

    /// The prompt for `messages`, ready for the assistant's reply, with `tools` (OpenAI tool
    /// objects, `{"type": "function", "function": {"name", "description", "parameters"}}`)
    /// offered to the model.
    ///
    /// A Jinja template gets what Hugging Face's `apply_chat_template(messages, tools=tools)`
    /// gives it ([`JinjaTemplate::render_conversation`]). The built-in formats take the roles
    /// `system` (or `developer`), `user`, `assistant` and (ChatML only) `tool`; ChatML writes
    /// tools, tool calls and tool results as Qwen 2.5 does (the tools in the system turn, each
    /// call as `<tool_call>\n{json}\n</tool_call>`, results as `tool` turns), and plain text
    /// refuses them ([`ChatTemplateError::ToolsUnsupported`]).
    pub fn render_conversation(
        &self,
        messages: &[ChatMessage],
        tools: &[serde_json::Value],
    ) -> Result<String, ChatTemplateError> {
        self.render_conversation_with(messages, tools, true)
    }

    /// [`render_conversation`](Self::render_conversation), with or without the generation
    /// prompt (Hugging Face's `add_generation_prompt`): `false` renders the conversation as it
    /// stands, ending after its last message (for training data, or a transcript), with no
    /// opening of an assistant turn (`<|im_start|>assistant\n`, `ASSISTANT:\n`).
    pub fn render_conversation_with(
        &self,
        messages: &[ChatMessage],
        tools: &[serde_json::Value],
        add_generation_prompt: bool,
    ) -> Result<String, ChatTemplateError> {
        match self {
            ChatTemplate::Jinja(template) => {
                template.render_conversation_with(messages, tools, add_generation_prompt)
            }
            ChatTemplate::Plain => builtin::render(false, messages, tools, add_generation_prompt),
            ChatTemplate::ChatMl => builtin::render(true, messages, tools, add_generation_prompt),
        }
    }

    /// The format for a model whose file has no template of its own: ChatML where `tokenizer`
    /// has both of ChatML's markers as single special tokens (a model trained on ChatML), else
    /// plain text (a model trained on plain text; ChatML's markers would reach it as ordinary
    /// text, or not encode at all in a character vocabulary).
    pub fn default_for(tokenizer: &Tokenizer) -> ChatTemplate {
        let special = |marker: &str| {
            let ids = tokenizer.encode_with_special(marker, AllowedSpecial::Only(&[marker]));
            matches!(ids.as_deref(), Ok([_]))
        };
        if special(IM_START) && special(IM_END) {
            ChatTemplate::ChatMl
        } else {
            ChatTemplate::Plain
        }
    }

    /// The text that ends the assistant's turn, if one does: `\n\n` for plain, `<|im_end|>`
    /// for ChatML; for a Jinja template, none unless [`JinjaTemplate::with_end_of_turn`] set
    /// one (its end-of-generation tokens come from the tokenizer).
    pub fn end_of_turn(&self) -> Option<&str> {
        match self {
            ChatTemplate::Plain => Some("\n\n"),
            ChatTemplate::ChatMl => Some(IM_END),
            ChatTemplate::Jinja(template) => template.end_of_turn(),
        }
    }

    /// Which special-token texts in a rendered prompt become special tokens: none for plain
    /// text, ChatML's two markers, every special token for a Jinja template (it writes the
    /// model's own control tokens, BOS included). `None`: encode as ordinary text.
    pub fn special_tokens(&self) -> Option<AllowedSpecial<'static>> {
        match self {
            ChatTemplate::Plain => None,
            ChatTemplate::ChatMl => Some(AllowedSpecial::Only(&[IM_START, IM_END])),
            ChatTemplate::Jinja(_) => Some(AllowedSpecial::All),
        }
    }

    /// A [rendered](Self::render) conversation as token ids: the control tokens the template
    /// spells (`<|im_start|>`...) become the special ids they are ([`special_tokens`](
    /// Self::special_tokens)).
    pub fn encode(&self, tokenizer: &Tokenizer, text: &str) -> claude_tokenizer::Result<Vec<u32>> {
        match self.special_tokens() {
            Some(special) => tokenizer.encode_with_special(text, special),
            None => tokenizer.encode(text),
        }
    }

    /// The stop sequences that end the assistant's turn ([`end_of_turn`](Self::end_of_turn)).
    pub fn stop_sequences(&self) -> Vec<String> {
        self.end_of_turn().map(str::to_string).into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation() -> Vec<(String, String)> {
        vec![
            ("system".into(), "Speak in verse.".into()),
            ("user".into(), "Who art thou?".into()),
        ]
    }

    #[test]
    fn plain_reads_like_a_play() {
        let prompt = ChatTemplate::Plain.render(&conversation()).unwrap();
        assert_eq!(
            prompt,
            "SYSTEM:\nSpeak in verse.\n\nUSER:\nWho art thou?\n\nASSISTANT:\n"
        );
    }

    #[test]
    fn chatml_wraps_each_turn() {
        let prompt = ChatTemplate::ChatMl.render(&conversation()).unwrap();
        assert_eq!(
            prompt,
            "<|im_start|>system\nSpeak in verse.<|im_end|>\n<|im_start|>user\nWho art thou?<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn without_the_generation_prompt_the_conversation_ends_at_its_last_message() {
        let mut messages: Vec<ChatMessage> =
            conversation().into_iter().map(ChatMessage::from).collect();
        messages.push(ChatMessage::new("assistant", "A player."));
        let chatml = ChatTemplate::ChatMl
            .render_conversation_with(&messages, &[], false)
            .unwrap();
        assert_eq!(
            chatml,
            "<|im_start|>system\nSpeak in verse.<|im_end|>\n<|im_start|>user\nWho art thou?<|im_end|>\n<|im_start|>assistant\nA player.<|im_end|>\n"
        );
        let plain = ChatTemplate::Plain
            .render_conversation_with(&messages, &[], false)
            .unwrap();
        assert_eq!(
            plain,
            "SYSTEM:\nSpeak in verse.\n\nUSER:\nWho art thou?\n\nASSISTANT:\nA player.\n\n"
        );
        let source = "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}\
            {% if add_generation_prompt %}[assistant]{% endif %}";
        let jinja = ChatTemplate::jinja(source, "", "").unwrap();
        assert_eq!(
            jinja
                .render_conversation_with(&messages[1..2], &[], false)
                .unwrap(),
            "[user]Who art thou?"
        );
        assert_eq!(
            jinja.render_conversation(&messages[1..2], &[]).unwrap(),
            "[user]Who art thou?[assistant]"
        );
    }

    #[test]
    fn unknown_roles_are_refused() {
        let err = ChatTemplate::Plain
            .render(&[("wizard".into(), "hi".into())])
            .unwrap_err();
        assert!(err.to_string().contains("wizard"), "{err}");
    }
}
