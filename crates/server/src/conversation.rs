//! A chat request in the engine's terms, whichever API it came in: the messages as the chat
//! template takes them, the tools offered, and whether a call is forced. Both wire formats
//! (OpenAI's chat completions, Anthropic's messages) build one, and share its checks: tool
//! names and schemas, a forced tool that exists, and tool results that answer an earlier call.

use std::collections::HashSet;

use claude_inference::tool_calls::FunctionSpec;
use claude_inference::{ChatMessage, ToolCallMessage};
use serde_json::{Value, json};

use crate::error::ApiError;

/// Which calls the reply may or must make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolMode {
    /// The model decides (calls are parsed from its reply).
    Auto,
    /// No tools are offered to the model.
    Off,
    /// The reply must be one or more calls (one when parallel calls are off).
    Required,
    /// The reply must be a call to this tool.
    Named(String),
}

/// A conversation ready for the chat template.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// The messages, in order.
    pub messages: Vec<ChatMessage>,
    /// The functions offered (none with [`ToolMode::Off`]).
    pub tools: Vec<FunctionSpec>,
    /// Whether a call is free, off or forced.
    pub mode: ToolMode,
    /// Whether a reply may hold several calls.
    pub parallel: bool,
}

/// Most tools a request may offer (OpenAI's limit).
pub const MAX_TOOLS: usize = 128;

impl Conversation {
    /// Checks and assembles a conversation; errors name the field at fault in OpenAI's terms
    /// (`tools[i]`, `tool_choice`, `messages[i]`).
    pub fn new(
        messages: Vec<ChatMessage>,
        tools: Vec<FunctionSpec>,
        mode: ToolMode,
        parallel: bool,
    ) -> Result<Self, ApiError> {
        check_tools(&tools)?;
        match &mode {
            ToolMode::Required if tools.is_empty() => {
                return Err(ApiError::invalid(
                    Some("tool_choice".into()),
                    "tool_choice requires a tool call, but the request offers no tools",
                ));
            }
            ToolMode::Named(name) if !tools.iter().any(|tool| &tool.name == name) => {
                return Err(ApiError::invalid(
                    Some("tool_choice".into()),
                    format!("tool_choice names the tool {name:?}, which is not among the tools"),
                ));
            }
            _ => {}
        }
        check_tool_results(&messages)?;
        let tools = if mode == ToolMode::Off {
            Vec::new()
        } else {
            tools
        };
        Ok(Conversation {
            messages,
            tools,
            mode,
            parallel,
        })
    }

    /// The tools as chat templates take them: OpenAI's `{"type": "function", "function":
    /// {...}}` objects.
    pub fn template_tools(&self) -> Vec<Value> {
        self.tools
            .iter()
            .map(|tool| {
                let mut function = json!({"name": tool.name});
                if let Some(description) = &tool.description {
                    function["description"] = json!(description);
                }
                function["parameters"] = tool.parameters.clone();
                json!({"type": "function", "function": function})
            })
            .collect()
    }

    /// The functions a forced call may go to: the named one, or all.
    pub fn forced_tools(&self) -> Option<Vec<FunctionSpec>> {
        match &self.mode {
            ToolMode::Auto | ToolMode::Off => None,
            ToolMode::Required => Some(self.tools.clone()),
            ToolMode::Named(name) => Some(
                (self.tools.iter())
                    .filter(|tool| &tool.name == name)
                    .cloned()
                    .collect(),
            ),
        }
    }
}

/// A function as offered, its schema defaulted: no `parameters` means an empty object.
pub fn function_spec(
    name: String,
    description: Option<String>,
    schema: Option<Value>,
) -> FunctionSpec {
    FunctionSpec {
        name,
        description,
        parameters: schema.unwrap_or_else(|| json!({"type": "object", "properties": {}})),
    }
}

/// Tool names are 1-64 letters, digits, `_` or `-`, distinct; schemas are objects.
fn check_tools(tools: &[FunctionSpec]) -> Result<(), ApiError> {
    if tools.len() > MAX_TOOLS {
        return Err(ApiError::invalid(
            Some("tools".into()),
            format!("at most {MAX_TOOLS} tools, got {}", tools.len()),
        ));
    }
    let mut seen = HashSet::new();
    for (index, tool) in tools.iter().enumerate() {
        let param = || Some(format!("tools[{index}]"));
        let name = &tool.name;
        let valid = (1..=64).contains(&name.len())
            && (name.chars()).all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(ApiError::invalid(
                param(),
                format!("tool name {name:?} must be 1-64 letters, digits, underscores or dashes"),
            ));
        }
        if !seen.insert(name.as_str()) {
            return Err(ApiError::invalid(
                param(),
                format!("two tools are named {name:?}"),
            ));
        }
        let is_object_schema = (tool.parameters.as_object())
            .is_some_and(|schema| schema.get("type").is_none_or(|t| t == "object"));
        if !is_object_schema {
            return Err(ApiError::invalid(
                param(),
                format!(
                    "the parameters of tool {name:?} must be a JSON schema of an object, not {}",
                    tool.parameters
                ),
            ));
        }
    }
    Ok(())
}

/// Every tool result answers a call made earlier in the conversation.
fn check_tool_results(messages: &[ChatMessage]) -> Result<(), ApiError> {
    let mut calls = HashSet::new();
    for (index, message) in messages.iter().enumerate() {
        calls.extend(message.tool_calls.iter().map(|call| call.id.as_str()));
        if message.role != "tool" {
            continue;
        }
        let param = || Some(format!("messages[{index}]"));
        let Some(id) = &message.tool_call_id else {
            return Err(ApiError::invalid(
                param(),
                "a tool message needs the tool_call_id of the call it answers",
            ));
        };
        if !calls.contains(id.as_str()) {
            return Err(ApiError::invalid(
                param(),
                format!("the tool result for {id:?} answers no earlier tool call"),
            ));
        }
    }
    Ok(())
}

/// A call of an assistant message, its arguments checked to be a JSON object.
pub fn call_message(
    id: String,
    name: String,
    arguments: String,
    param: &str,
) -> Result<ToolCallMessage, ApiError> {
    let is_object = serde_json::from_str::<Value>(&arguments).is_ok_and(|v| v.is_object());
    if !is_object {
        return Err(ApiError::invalid(
            Some(param.to_string()),
            format!("the arguments of the call {id:?} must be a JSON object, got {arguments:?}"),
        ));
    }
    Ok(ToolCallMessage::new(id, name, arguments))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str) -> FunctionSpec {
        function_spec(name.into(), None, None)
    }

    #[test]
    fn bad_tools_and_choices_are_named() {
        let user = vec![ChatMessage::new("user", "hi")];
        let cases = [
            (vec![tool("a b")], ToolMode::Auto, "tool name \"a b\""),
            (
                vec![tool("f"), tool("f")],
                ToolMode::Auto,
                "two tools are named",
            ),
            (Vec::new(), ToolMode::Required, "offers no tools"),
            (
                vec![tool("f")],
                ToolMode::Named("g".into()),
                "names the tool \"g\"",
            ),
        ];
        for (tools, mode, expected) in cases {
            let error = Conversation::new(user.clone(), tools, mode, true).unwrap_err();
            assert!(error.message.contains(expected), "{}", error.message);
        }
        let mut not_object = tool("f");
        not_object.parameters = json!({"type": "string"});
        let error = Conversation::new(user, vec![not_object], ToolMode::Auto, true).unwrap_err();
        assert!(
            error.message.contains("schema of an object"),
            "{}",
            error.message
        );
    }

    #[test]
    fn a_tool_result_must_answer_an_earlier_call() {
        let call = ToolCallMessage::new("call_1", "f", "{}");
        let answered = vec![
            ChatMessage::new("user", "hi"),
            ChatMessage::tool_calls(None, vec![call]),
            ChatMessage::tool_result("call_1", "done"),
        ];
        assert!(Conversation::new(answered, vec![tool("f")], ToolMode::Auto, true).is_ok());
        let orphan = vec![
            ChatMessage::new("user", "hi"),
            ChatMessage::tool_result("call_9", "done"),
        ];
        let error = Conversation::new(orphan, Vec::new(), ToolMode::Auto, true).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("messages[1]"));
        assert!(error.message.contains("call_9"), "{}", error.message);
    }
}
