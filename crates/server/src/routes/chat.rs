//! `POST /v1/chat/completions`: the conversation (tools included) rendered by the model's chat
//! template and fitted to the context, grounded when the server has an index, constrained when
//! the request forces a call or a JSON format, answered whole or streamed.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use claude_inference::{ChatMessage, Constraint, MAX_TOP_LOGPROBS, SamplingParams};

use super::generate::{self, Order};
use super::prompt::{PromptPlan, fit_conversation, reply_room};
use super::{check_model, parse_body};
use crate::AppState;
use crate::conversation::{Conversation, ToolMode, call_message, function_spec};
use crate::error::ApiError;
use crate::openai::{
    ChatRequest, Extensions, GenerationFields, Message, MessageRole, ResponseFormat, ToolChoice,
};
use crate::rag::ground_conversation;
use crate::respond::{ChatStream, Endpoint, response_meta};
use crate::stream::{json_event, sse_response};

/// `POST /v1/chat/completions`.
pub async fn chat_completions(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let fields = [ChatRequest::FIELDS, GenerationFields::FIELDS].concat();
    let request: ChatRequest = parse_body(&state, body, Some(&fields))?;
    check_model(&state, &request.model)?;
    let mut conversation = conversation(&request)?;
    let format = response_format(request.response_format.as_ref())?;
    let logprobs = logprobs(request.logprobs, request.top_logprobs)?;
    let sampling = sampling_params(&request.fields)?;
    let mut plan = PromptPlan::new(&state, &conversation, format).await?;
    let (mut prompt, mut truncated) = fit_conversation(
        &state,
        &plan,
        &conversation.messages,
        request.fields.max_tokens,
    )?;
    let (wanted_room, _) = reply_room(request.fields.max_tokens, &state.inner.config);
    let sources = ground_conversation(
        &state,
        &mut conversation.messages,
        &request.retrieval,
        prompt.len(),
        wanted_room,
    )
    .await?;
    if !sources.is_empty() {
        (prompt, truncated) = fit_conversation(
            &state,
            &plan,
            &conversation.messages,
            request.fields.max_tokens,
        )?;
    }
    let user_stop = request
        .fields
        .stop
        .clone()
        .map(|s| s.into_vec())
        .unwrap_or_default();
    let order = Order {
        prompt,
        max_tokens: request.fields.max_tokens,
        max_tokens_field: "max_tokens",
        sampling,
        stop: generate::stop_sequences(plan.end_of_turn(), user_stop, "stop")?,
        logprobs,
        constraint: plan.take_constraint(),
    };
    let extensions = Extensions {
        truncated_messages: truncated,
        sources,
    };
    let meta = response_meta(&state, Endpoint::Chat, extensions);
    let started = generate::start(&state, order).await?;
    let reader = plan.reader();
    if request.fields.stream {
        let include_usage =
            (request.fields.stream_options.as_ref()).is_some_and(|o| o.include_usage);
        let opening = vec![json_event(&meta.role_chunk())];
        let format = ChatStream::new(
            state.clone(),
            meta,
            reader,
            started.prompt_tokens,
            include_usage,
        );
        return Ok(sse_response(opening, started, format));
    }
    let prompt_tokens = started.prompt_tokens;
    let finished = generate::finish(started, reader).await?;
    let tokenizer = &state.generation()?.tokenizer;
    Ok(
        Json(meta.chat_response(finished, prompt_tokens, tokenizer, logprobs.is_some()))
            .into_response(),
    )
}

/// The request's messages and tools as a [`Conversation`].
fn conversation(request: &ChatRequest) -> Result<Conversation, ApiError> {
    if request.messages.is_empty() {
        return Err(ApiError::invalid(
            Some("messages".into()),
            "messages must not be empty",
        ));
    }
    let messages = (request.messages.iter().enumerate())
        .map(|(index, message)| chat_message(message, index))
        .collect::<Result<Vec<_>, _>>()?;
    let tools = (request.tools.iter().flatten())
        .map(|tool| {
            let function = &tool.function;
            function_spec(
                function.name.clone(),
                function.description.clone(),
                function.parameters.clone(),
            )
        })
        .collect();
    let mode = match request.tool_choice.clone().unwrap_or_default() {
        ToolChoice::Auto => ToolMode::Auto,
        ToolChoice::None => ToolMode::Off,
        ToolChoice::Required => ToolMode::Required,
        ToolChoice::Function(name) => ToolMode::Named(name),
    };
    Conversation::new(
        messages,
        tools,
        mode,
        request.parallel_tool_calls != Some(false),
    )
}

/// One request message as the template takes it.
fn chat_message(message: &Message, index: usize) -> Result<ChatMessage, ApiError> {
    let param = |field: &str| format!("messages[{index}].{field}");
    let content = (message.content.as_ref())
        .map(|content| content.text())
        .transpose()
        .map_err(|e| ApiError::invalid(Some(param("content")), e))?;
    let role = message.role;
    let calls = message.tool_calls.as_deref().unwrap_or_default();
    if !calls.is_empty() && role != MessageRole::Assistant {
        return Err(ApiError::invalid(
            Some(param("tool_calls")),
            "only assistant messages make tool calls",
        ));
    }
    if message.tool_call_id.is_some() && role != MessageRole::Tool {
        return Err(ApiError::invalid(
            Some(param("tool_call_id")),
            "only tool messages answer a tool call",
        ));
    }
    if content.is_none() && calls.is_empty() {
        return Err(ApiError::invalid(
            Some(param("content")),
            format!("a {} message needs content", role.template_name()),
        ));
    }
    let calls = (calls.iter().enumerate())
        .map(|(at, call)| {
            let function = &call.function;
            let field = param(&format!("tool_calls[{at}]"));
            call_message(
                call.id.clone(),
                function.name.clone(),
                function.arguments.clone(),
                &field,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ChatMessage {
        role: role.template_name().to_string(),
        content,
        tool_calls: calls,
        tool_call_id: message.tool_call_id.clone(),
        name: message.name.clone(),
    })
}

/// The constraint a `response_format` asks for (none for text).
fn response_format(format: Option<&ResponseFormat>) -> Result<Option<Constraint>, ApiError> {
    Ok(match format {
        None | Some(ResponseFormat::Text) => None,
        Some(ResponseFormat::JsonObject) => Some(Constraint::JsonObject),
        Some(ResponseFormat::JsonSchema { json_schema }) => Some(match &json_schema.schema {
            Some(schema) => Constraint::JsonSchema(schema.clone()),
            None => Constraint::JsonObject,
        }),
    })
}

/// `logprobs` and `top_logprobs` as the engine takes them: none, or this many alternatives.
fn logprobs(logprobs: Option<bool>, top: Option<i64>) -> Result<Option<usize>, ApiError> {
    let param = || Some("top_logprobs".to_string());
    match (logprobs.unwrap_or(false), top) {
        (_, Some(k)) if !(0..=MAX_TOP_LOGPROBS as i64).contains(&k) => Err(ApiError::invalid(
            param(),
            format!("top_logprobs must be between 0 and {MAX_TOP_LOGPROBS}, got {k}"),
        )),
        (false, Some(_)) => Err(ApiError::invalid(
            param(),
            "top_logprobs needs logprobs set to true",
        )),
        (false, None) => Ok(None),
        (true, k) => Ok(Some(k.unwrap_or(0) as usize)),
    }
}

/// OpenAI's ranges first (they are narrower than the sampler's), then the sampler's own check.
pub(super) fn sampling_params(fields: &GenerationFields) -> Result<SamplingParams, ApiError> {
    use generate::in_range;
    in_range("temperature", fields.temperature, 0.0, 2.0)?;
    in_range("top_p", fields.top_p, 0.0, 1.0)?;
    if fields.top_p == Some(0.0) {
        return Err(ApiError::invalid(
            Some("top_p".into()),
            "top_p must be greater than 0",
        ));
    }
    in_range("min_p", fields.min_p, 0.0, 1.0)?;
    in_range("frequency_penalty", fields.frequency_penalty, -2.0, 2.0)?;
    in_range("presence_penalty", fields.presence_penalty, -2.0, 2.0)?;
    if let Some(n) = fields.n.filter(|&n| n != 1) {
        return Err(ApiError::invalid(
            Some("n".into()),
            format!("only n = 1 is supported, got {n}"),
        ));
    }
    let defaults = SamplingParams::OPENAI;
    let float = |field: Option<f64>, default: f32| field.map_or(default, |v| v as f32);
    generate::checked(SamplingParams {
        temperature: float(fields.temperature, defaults.temperature),
        top_k: generate::top_k(fields.top_k, defaults.top_k)?,
        top_p: float(fields.top_p, defaults.top_p),
        min_p: float(fields.min_p, defaults.min_p),
        repetition_penalty: float(fields.repetition_penalty, defaults.repetition_penalty),
        frequency_penalty: float(fields.frequency_penalty, defaults.frequency_penalty),
        presence_penalty: float(fields.presence_penalty, defaults.presence_penalty),
        seed: generate::seed(fields.seed),
    })
}
