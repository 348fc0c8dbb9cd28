//! A Messages API request as a [`Conversation`]: the system prompt first, tool results as
//! `tool` messages, an assistant's `tool_use` blocks as its tool calls.

use claude_inference::ChatMessage;

use super::request::{ContentBlock, InputContent, InputMessage, InputRole, SystemPrompt};
use super::request::{ToolChoice, ToolDefinition};
use crate::conversation::{Conversation, ToolMode, call_message, function_spec};
use crate::error::ApiError;

/// The conversation of a request's `system`, `messages`, `tools` and `tool_choice`.
pub fn conversation(
    system: Option<&SystemPrompt>,
    messages: &[InputMessage],
    tools: &[ToolDefinition],
    choice: Option<&ToolChoice>,
) -> Result<Conversation, ApiError> {
    if messages.is_empty() {
        return Err(ApiError::invalid(
            Some("messages".into()),
            "messages must not be empty",
        ));
    }
    let mut chat = Vec::new();
    if let Some(system) = system {
        chat.push(ChatMessage::new("system", system.text()));
    }
    for (index, message) in messages.iter().enumerate() {
        push_message(&mut chat, message, index)?;
    }
    let specs = (tools.iter())
        .map(|tool| {
            let schema = Some(tool.input_schema.clone());
            function_spec(tool.name.clone(), tool.description.clone(), schema)
        })
        .collect();
    let (mode, parallel) = match choice {
        None => (ToolMode::Auto, true),
        Some(ToolChoice::Auto {
            disable_parallel_tool_use,
        }) => (ToolMode::Auto, *disable_parallel_tool_use != Some(true)),
        Some(ToolChoice::Any {
            disable_parallel_tool_use,
        }) => (ToolMode::Required, *disable_parallel_tool_use != Some(true)),
        Some(ToolChoice::Tool {
            name,
            disable_parallel_tool_use,
        }) => (
            ToolMode::Named(name.clone()),
            *disable_parallel_tool_use != Some(true),
        ),
        Some(ToolChoice::None) => (ToolMode::Off, true),
    };
    Conversation::new(chat, specs, mode, parallel)
}

/// Appends one input message: a user turn (its tool results first, as `tool` messages, then
/// its text) or an assistant turn (its text and its calls).
fn push_message(
    chat: &mut Vec<ChatMessage>,
    message: &InputMessage,
    index: usize,
) -> Result<(), ApiError> {
    let blocks = match &message.content {
        InputContent::Text(text) => {
            let role = role_name(message.role);
            chat.push(ChatMessage::new(role, text.clone()));
            return Ok(());
        }
        InputContent::Blocks(blocks) => blocks,
    };
    let mut text = String::new();
    let mut calls = Vec::new();
    for (at, block) in blocks.iter().enumerate() {
        let param = format!("messages[{index}].content[{at}]");
        match (message.role, block) {
            (_, ContentBlock::Text { text: more, .. }) => text.push_str(more),
            (
                InputRole::Assistant,
                ContentBlock::ToolUse {
                    id, name, input, ..
                },
            ) => {
                let arguments = input.to_string();
                calls.push(call_message(id.clone(), name.clone(), arguments, &param)?);
            }
            (
                InputRole::User,
                ContentBlock::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                    ..
                },
            ) => {
                let mut result = content.as_ref().map(|c| c.text()).unwrap_or_default();
                if *is_error == Some(true) {
                    result = format!("Error: {result}");
                }
                chat.push(ChatMessage::tool_result(tool_use_id.clone(), result));
            }
            (InputRole::User, ContentBlock::ToolUse { .. }) => {
                return Err(ApiError::invalid(
                    Some(param),
                    "tool_use blocks belong in assistant messages",
                ));
            }
            (InputRole::Assistant, ContentBlock::ToolResult { .. }) => {
                return Err(ApiError::invalid(
                    Some(param),
                    "tool_result blocks belong in user messages",
                ));
            }
        }
    }
    match message.role {
        InputRole::Assistant => {
            let content = (!text.is_empty()).then_some(text);
            chat.push(ChatMessage::tool_calls(content, calls));
        }
        InputRole::User if !text.is_empty() => chat.push(ChatMessage::new("user", text)),
        InputRole::User => {}
    }
    Ok(())
}

fn role_name(role: InputRole) -> &'static str {
    match role {
        InputRole::User => "user",
        InputRole::Assistant => "assistant",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tool_use_and_results_become_calls_and_tool_messages() {
        let messages: Vec<InputMessage> = serde_json::from_value(json!([
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                 "input": {"city": "Paris"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 C"},
                {"type": "text", "text": "And tomorrow?"}]}
        ]))
        .unwrap();
        let tools: Vec<ToolDefinition> = serde_json::from_value(json!([
            {"name": "get_weather", "input_schema": {"type": "object"}}
        ]))
        .unwrap();
        let system = SystemPrompt::Text("Be brief.".into());
        let chat = conversation(Some(&system), &messages, &tools, None).unwrap();
        let roles: Vec<&str> = chat.messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "tool", "user"]);
        let call = &chat.messages[2].tool_calls[0];
        assert_eq!(
            (call.id.as_str(), call.name.as_str()),
            ("toolu_1", "get_weather")
        );
        assert_eq!(call.arguments, r#"{"city":"Paris"}"#);
        assert_eq!(chat.messages[3].content.as_deref(), Some("18 C"));
    }

    #[test]
    fn a_result_without_its_call_is_refused() {
        let messages: Vec<InputMessage> = serde_json::from_value(json!([
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_9", "content": "x"}]}
        ]))
        .unwrap();
        let error = conversation(None, &messages, &[], None).unwrap_err();
        assert!(error.message.contains("toolu_9"), "{}", error.message);
    }
}
