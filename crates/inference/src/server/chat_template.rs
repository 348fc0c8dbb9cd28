//! Chat templates: how a list of messages becomes one prompt, and what ends the assistant's turn.

use std::str::FromStr;

/// A conversation format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatTemplate {
    /// Plain text, for models trained on plain text (e.g. a Shakespeare model): each message is
    /// `ROLE:\n<content>\n\n` (ROLE in capitals, like a play's speaker), and the prompt ends with
    /// `ASSISTANT:\n`. The turn ends at a blank line.
    Plain,
    /// ChatML, for models trained with `<|im_start|>` / `<|im_end|>` special tokens:
    /// `<|im_start|>role\n<content><|im_end|>\n`, ending with `<|im_start|>assistant\n`. The turn
    /// ends at `<|im_end|>`.
    ChatMl,
}

/// ChatML's turn opener.
pub const IM_START: &str = "<|im_start|>";
/// ChatML's turn closer.
pub const IM_END: &str = "<|im_end|>";

impl FromStr for ChatTemplate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "plain" => Ok(ChatTemplate::Plain),
            "chatml" => Ok(ChatTemplate::ChatMl),
            other => Err(format!(
                "unknown chat template {other:?} (expected plain or chatml)"
            )),
        }
    }
}

impl ChatTemplate {
    /// The prompt for `messages` (role, text), ready for the assistant's reply. Roles are
    /// `system` (or `developer`), `user` and `assistant`.
    pub fn render(self, messages: &[(String, String)]) -> Result<String, String> {
        let mut prompt = String::new();
        for (role, text) in messages {
            let role = match role.as_str() {
                "system" | "developer" => "system",
                "user" => "user",
                "assistant" => "assistant",
                other => {
                    return Err(format!(
                        "unknown role {other:?} (expected system, user or assistant)"
                    ));
                }
            };
            match self {
                ChatTemplate::Plain => {
                    prompt.push_str(&format!("{}:\n{text}\n\n", role.to_uppercase()));
                }
                ChatTemplate::ChatMl => {
                    prompt.push_str(&format!("{IM_START}{role}\n{text}{IM_END}\n"));
                }
            }
        }
        prompt.push_str(match self {
            ChatTemplate::Plain => "ASSISTANT:\n",
            ChatTemplate::ChatMl => "<|im_start|>assistant\n",
        });
        Ok(prompt)
    }

    /// The string that ends the assistant's turn.
    pub fn end_of_turn(self) -> &'static str {
        match self {
            ChatTemplate::Plain => "\n\n",
            ChatTemplate::ChatMl => IM_END,
        }
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
    fn unknown_roles_are_refused() {
        let err = ChatTemplate::Plain
            .render(&[("wizard".into(), "hi".into())])
            .unwrap_err();
        assert!(err.contains("wizard"), "{err}");
    }
}
