//! A chat request's prompt: the template's rendering of the conversation and its tools, the
//! format its tool calls come back in, the grammar a forced call or a JSON format imposes, and
//! the fitting of a long conversation to the context (module docs of the crate: Length).

use claude_inference::OverflowPolicy;
use claude_inference::tool_calls::ToolCallFormat;
use claude_inference::{ChatMessage, ChatTemplate, CompiledConstraint, Constraint, GenerateError};
use serde_json::Value;

use crate::conversation::Conversation;
use crate::error::ApiError;
use crate::reply::ReplyReader;
use crate::{AppState, ServerConfig};

/// How a chat request's prompt is made and its reply read.
pub struct PromptPlan<'s> {
    template: &'s ChatTemplate,
    tools: Vec<Value>,
    tool_format: Option<ToolCallFormat>,
    parallel: bool,
    constraint: Option<CompiledConstraint>,
}

impl<'s> PromptPlan<'s> {
    /// The plan for `conversation` on this server's model, with `format` (a `response_format`)
    /// if the request set one. Tools need a template that takes them; a forced call and a
    /// JSON format exclude each other.
    pub async fn new(
        state: &'s AppState,
        conversation: &Conversation,
        format: Option<Constraint>,
    ) -> Result<Self, ApiError> {
        let template = &state.inner.config.chat_template;
        let tool_format = if conversation.tools.is_empty() {
            None
        } else {
            Some(tool_format(template)?)
        };
        let forced = conversation.forced_tools();
        let constraint = match (forced, format, tool_format) {
            (Some(_), Some(_), _) => {
                return Err(ApiError::invalid(
                    Some("response_format".into()),
                    "response_format cannot be combined with a forced tool call (tool_choice \
                     \"required\" or a named function)",
                ));
            }
            (None, Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    Some("response_format".into()),
                    "response_format cannot be combined with tools the model may call; set \
                     tool_choice to \"none\" or leave response_format out",
                ));
            }
            (Some(tools), None, Some(format)) => Some(Constraint::Lark(
                format.forced_call_grammar(&tools, conversation.parallel),
            )),
            (None, format, _) => format,
            (Some(_), None, None) => unreachable!("forced tools come with a tool format"),
        };
        let constraint = match constraint {
            Some(constraint) => Some(state.compile_constraint(constraint).await?),
            None => None,
        };
        Ok(PromptPlan {
            template,
            tools: conversation.template_tools(),
            tool_format,
            parallel: conversation.parallel,
            constraint,
        })
    }

    /// The reader of the reply: its tool calls parsed when tools are offered.
    pub fn reader(&self) -> ReplyReader {
        match self.tool_format {
            Some(format) => ReplyReader::with_tools(format, self.parallel),
            None => ReplyReader::text(),
        }
    }

    /// The grammar the reply must follow, once (it goes with the engine request).
    pub fn take_constraint(&mut self) -> Option<CompiledConstraint> {
        self.constraint.take()
    }

    /// The texts that end the assistant's turn.
    pub fn end_of_turn(&self) -> Vec<String> {
        self.template.stop_sequences()
    }

    /// The prompt's tokens for `messages`.
    pub fn encode(&self, state: &AppState, messages: &[ChatMessage]) -> Result<Vec<u32>, ApiError> {
        let text = (self.template)
            .render_conversation(messages, &self.tools)
            .map_err(|e| ApiError::invalid(Some("messages".into()), e.to_string()))?;
        let tokenizer = &state.generation()?.tokenizer;
        self.template
            .encode(tokenizer, &text)
            .map_err(super::cannot_tokenize)
    }
}

/// The tool-call format of a template, or why it takes no tools.
fn tool_format(template: &ChatTemplate) -> Result<ToolCallFormat, ApiError> {
    let format = match template {
        ChatTemplate::Jinja(jinja) => ToolCallFormat::detect(jinja.source()),
        ChatTemplate::ChatMl => Some(ToolCallFormat::Hermes),
        ChatTemplate::Plain => None,
    };
    format.ok_or_else(|| {
        ApiError::invalid(
            Some("tools".into()),
            "this model's chat template does not take tools (it has no tool-call format we \
             know); leave tools out or serve a model whose template has them",
        )
    })
}

/// Share of the context a chat reply without `max_tokens` is kept room for (1/4), where
/// dropping old messages can make it.
const CHAT_REPLY_SHARE: usize = 4;

/// The messages a long conversation may lose, oldest first: those before the latest user
/// message, except system messages. A dropped call takes its results with it (a result alone
/// makes no sense to a template).
fn droppable(messages: &[ChatMessage]) -> Vec<usize> {
    let latest = (messages.iter())
        .rposition(|m| m.role == "user")
        .unwrap_or(messages.len().saturating_sub(1));
    (0..latest)
        .filter(|&index| {
            let role = messages[index].role.as_str();
            role != "system" && role != "tool"
        })
        .collect()
}

/// The messages kept when the first `dropped` of `droppable` go, with the tool results of
/// dropped calls.
fn kept_messages(messages: &[ChatMessage], gone: &[usize]) -> Vec<ChatMessage> {
    let mut kept = Vec::with_capacity(messages.len());
    let mut dropping_results = false;
    for (index, message) in messages.iter().enumerate() {
        if gone.binary_search(&index).is_ok() {
            dropping_results = !message.tool_calls.is_empty();
            continue;
        }
        if message.role == "tool" && dropping_results {
            continue;
        }
        dropping_results = false;
        kept.push(message.clone());
    }
    kept
}

/// The chat prompt's tokens and how many of the oldest messages were left out to fit the
/// context (see the crate docs). Under the reject policy, a conversation that leaves less than
/// [`reply_room`]'s wanted room loses its oldest droppable messages, as few as leave that
/// room, else as few as leave the needed room; when even the system messages and the latest
/// user message leave too little, the answer is `context_length_exceeded`. Under the
/// sliding-window policy nothing is dropped.
pub fn fit_conversation(
    state: &AppState,
    plan: &PromptPlan<'_>,
    messages: &[ChatMessage],
    max_tokens: Option<i64>,
) -> Result<(Vec<u32>, usize), ApiError> {
    let config = &state.inner.config;
    let droppable = droppable(messages);
    let encode_without = |dropped: usize| -> Result<Vec<u32>, ApiError> {
        plan.encode(state, &kept_messages(messages, &droppable[..dropped]))
    };
    let full = encode_without(0)?;
    if config.overflow != OverflowPolicy::Reject || droppable.is_empty() {
        // Nothing to drop (or the engine slides its window): the engine judges the prompt.
        return Ok((full, 0));
    }
    let context = config.context_length;
    let fits = |prompt: &[u32], room: usize| prompt.len().saturating_add(room) <= context;
    let (wanted, needed) = reply_room(max_tokens, config);
    if fits(&full, wanted) {
        return Ok((full, 0));
    }
    let most = droppable.len();
    let shortest = encode_without(most)?;
    // The fewest drops that leave `room`, given that `most` drops do: a binary search, as more
    // drops never lengthen the prompt (and only a prompt seen to fit is returned).
    let fewest = |room: usize, shortest: Vec<u32>| -> Result<(Vec<u32>, usize), ApiError> {
        let (mut lo, mut hi, mut best) = (1, most, shortest);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let prompt = encode_without(mid)?;
            if fits(&prompt, room) {
                (hi, best) = (mid, prompt);
            } else {
                lo = mid + 1;
            }
        }
        Ok((best, hi))
    };
    if fits(&shortest, wanted) {
        fewest(wanted, shortest)
    } else if fits(&full, needed) {
        Ok((full, 0))
    } else if fits(&shortest, needed) {
        fewest(needed, shortest)
    } else {
        let error = if shortest.len() >= context {
            GenerateError::PromptTooLong {
                prompt: shortest.len(),
                context,
            }
        } else {
            GenerateError::RequestTooLong {
                prompt: shortest.len(),
                max_new: needed,
                context,
            }
        };
        let mut error = ApiError::from(error);
        error.message.push_str(&format!(
            " (even with all {most} earlier messages dropped: the system messages and the \
             latest user message must fit)"
        ));
        Err(error)
    }
}

/// The room a chat prompt must leave for the reply, as (wanted, needed). With a valid
/// `max_tokens`, both are it. Without, the reply gets what is left of the context; old
/// messages are dropped so that this is at least a quarter of the context (at most the cap)
/// where that is possible, else at least 1 token. (An invalid `max_tokens` counts as absent
/// here; the length check refuses it.)
pub fn reply_room(max_tokens: Option<i64>, config: &ServerConfig) -> (usize, usize) {
    let cap = config.max_tokens_cap;
    match max_tokens {
        Some(n) if n >= 1 && n as u64 <= cap as u64 => (n as usize, n as usize),
        _ => (
            (config.context_length / CHAT_REPLY_SHARE).min(cap).max(1),
            1,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use claude_inference::ToolCallMessage;

    fn roles(roles: &[&str]) -> Vec<ChatMessage> {
        (roles.iter().enumerate())
            .map(|(i, role)| ChatMessage::new(*role, format!("message {i}")))
            .collect()
    }

    #[test]
    fn system_messages_and_the_latest_user_turn_stay() {
        let conversation = roles(&[
            "system",
            "user",
            "assistant",
            "system",
            "user",
            "assistant",
            "user",
        ]);
        assert_eq!(droppable(&conversation), [1, 2, 4, 5]);
        // Whatever follows the latest user message (an assistant prefix) stays too.
        assert_eq!(
            droppable(&roles(&["user", "assistant", "user", "assistant"])),
            [0, 1]
        );
        // No user message: the last message stays.
        assert_eq!(
            droppable(&roles(&["system", "assistant", "assistant"])),
            [1]
        );
        assert!(droppable(&roles(&["user"])).is_empty());
        assert!(droppable(&[]).is_empty());
    }

    #[test]
    fn a_dropped_call_takes_its_results_along() {
        let messages = vec![
            ChatMessage::new("system", "s"),
            ChatMessage::new("user", "u1"),
            ChatMessage::tool_calls(None, vec![ToolCallMessage::new("c1", "f", "{}")]),
            ChatMessage::tool_result("c1", "r1"),
            ChatMessage::new("assistant", "a1"),
            ChatMessage::new("user", "u2"),
        ];
        let droppable = droppable(&messages);
        assert_eq!(droppable, [1, 2, 4]);
        let kept = kept_messages(&messages, &droppable[..2]);
        let roles: Vec<&str> = kept.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "assistant", "user"]);
    }
}
