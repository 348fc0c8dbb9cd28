//! The built-in formats' prompts ([`ChatTemplate::Plain`](super::ChatTemplate::Plain),
//! [`ChatTemplate::ChatMl`](super::ChatTemplate::ChatMl)), tools included for ChatML.
//!
//! ChatML writes tools as Qwen 2.5 and Hermes do: the tools' JSON, one a line, inside
//! `<tools></tools>` in the system turn (after the system message, or as a system turn of its
//! own), each assistant tool call as `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`
//! after the assistant's text, and each tool result as a `tool` turn. Plain text has no tools:
//! tools, tool calls and tool results are [`ChatTemplateError::ToolsUnsupported`].

use minijinja::value::Value;

use super::{ChatMessage, ChatTemplateError, IM_END, IM_START, pyjson};

/// What ChatML's system turn says about `tools` before their JSON.
const TOOLS_INTRO: &str = "# Tools\n\nYou may call one or more functions to assist with the \
    user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n\
    <tools>";

/// What ChatML's system turn says about `tools` after their JSON.
const TOOLS_OUTRO: &str = "\n</tools>\n\nFor each function call, return a json object with \
    function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n\
    {\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>";

/// The prompt for `messages` with `tools` in ChatML (`chatml`) or plain text, ready for the
/// assistant's reply when `add_generation_prompt`, else ending after the last message.
pub(super) fn render(
    chatml: bool,
    messages: &[ChatMessage],
    tools: &[serde_json::Value],
    add_generation_prompt: bool,
) -> Result<String, ChatTemplateError> {
    if !chatml {
        return plain(messages, tools, add_generation_prompt);
    }
    let mut prompt = String::new();
    let mut rest = messages;
    if !tools.is_empty() {
        let mut system = String::new();
        if let Some((first, others)) = messages.split_first()
            && matches!(first.role.as_str(), "system" | "developer")
        {
            system.push_str(first.content.as_deref().unwrap_or_default());
            system.push_str("\n\n");
            rest = others;
        }
        system.push_str(TOOLS_INTRO);
        for tool in tools {
            system.push('\n');
            system.push_str(&dumps(&pyjson::from_serde(tool))?);
        }
        system.push_str(TOOLS_OUTRO);
        prompt.push_str(&format!("{IM_START}system\n{system}{IM_END}\n"));
    }
    for message in rest {
        let role = role(message)?;
        let text = message.content.as_deref().unwrap_or_default();
        if message.tool_calls.is_empty() {
            prompt.push_str(&format!("{IM_START}{role}\n{text}{IM_END}\n"));
            continue;
        }
        prompt.push_str(&format!("{IM_START}{role}"));
        if !text.is_empty() {
            prompt.push('\n');
            prompt.push_str(text);
        }
        for call in &message.tool_calls {
            let json = Value::from_pairs([
                ("name", Value::from(call.name.as_str())),
                ("arguments", call.arguments_value()),
            ]);
            prompt.push_str(&format!("\n<tool_call>\n{}\n</tool_call>", dumps(&json)?));
        }
        prompt.push_str(&format!("{IM_END}\n"));
    }
    if add_generation_prompt {
        prompt.push_str(&format!("{IM_START}assistant\n"));
    }
    Ok(prompt)
}

/// Plain text: `ROLE:\n<content>\n\n` a message, then `ASSISTANT:\n` when
/// `add_generation_prompt`.
fn plain(
    messages: &[ChatMessage],
    tools: &[serde_json::Value],
    add_generation_prompt: bool,
) -> Result<String, ChatTemplateError> {
    if !tools.is_empty() {
        return Err(ChatTemplateError::ToolsUnsupported("tools"));
    }
    let mut prompt = String::new();
    for message in messages {
        if !message.tool_calls.is_empty() {
            return Err(ChatTemplateError::ToolsUnsupported("tool calls"));
        }
        let role = role(message)?;
        if role == "tool" {
            return Err(ChatTemplateError::ToolsUnsupported("tool results"));
        }
        let text = message.content.as_deref().unwrap_or_default();
        prompt.push_str(&format!("{}:\n{text}\n\n", role.to_uppercase()));
    }
    if add_generation_prompt {
        prompt.push_str("ASSISTANT:\n");
    }
    Ok(prompt)
}

/// The built-in formats' name for `message`'s role (`developer` is `system`), or
/// [`ChatTemplateError::UnknownRole`].
fn role(message: &ChatMessage) -> Result<&'static str, ChatTemplateError> {
    match message.role.as_str() {
        "system" | "developer" => Ok("system"),
        "user" => Ok("user"),
        "assistant" => Ok("assistant"),
        "tool" => Ok("tool"),
        other => Err(ChatTemplateError::UnknownRole(other.to_string())),
    }
}

/// `value` as Python's `json.dumps` writes it (`", "` and `": "` separators).
fn dumps(value: &Value) -> Result<String, ChatTemplateError> {
    pyjson::dumps(value, None).map_err(|e| ChatTemplateError::Render(e.to_string()))
}
