//! Anthropic's Messages API: `POST /v1/messages` (whole or streamed) and
//! `POST /v1/messages/count_tokens`, on the same engine, template and tools as the chat route.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use claude_inference::SamplingParams;

use super::generate::{self, Order};
use super::prompt::{PromptPlan, fit_conversation};
use super::{check_model, parse_body};
use crate::AppState;
use crate::anthropic::{
    AnthropicError, CountTokensRequest, MessageMeta, MessagesRequest, MessagesStream, TokenCount,
    conversation,
};
use crate::error::ApiError;
use crate::stream::sse_response;

/// `POST /v1/messages`.
pub async fn messages(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AnthropicError> {
    let request: MessagesRequest = parse_body(&state, body, None)?;
    check_model(&state, &request.model)?;
    let tools = request.tools.as_deref().unwrap_or_default();
    let conversation = conversation(
        request.system.as_ref(),
        &request.messages,
        tools,
        request.tool_choice.as_ref(),
    )?;
    let sampling = sampling_params(&request)?;
    let mut plan = PromptPlan::new(&state, &conversation, None).await?;
    let max_tokens = Some(request.max_tokens);
    let (prompt, _) = fit_conversation(&state, &plan, &conversation.messages, max_tokens)?;
    let user_stop = request.stop_sequences.clone().unwrap_or_default();
    let order = Order {
        prompt,
        max_tokens,
        max_tokens_field: "max_tokens",
        sampling,
        stop: generate::stop_sequences(plan.end_of_turn(), user_stop.clone(), "stop_sequences")?,
        logprobs: None,
        constraint: plan.take_constraint(),
    };
    let meta = MessageMeta::new(state.inner.config.model_name.clone(), user_stop);
    let started = generate::start(&state, order).await?;
    let reader = plan.reader();
    let prompt_tokens = started.prompt_tokens;
    if request.stream {
        let format = MessagesStream::new(meta, reader);
        let opening = format.opening(prompt_tokens);
        return Ok(sse_response(opening, started, format));
    }
    let finished = generate::finish(started, reader).await?;
    Ok(Json(meta.response(finished, prompt_tokens)).into_response())
}

/// `POST /v1/messages/count_tokens`: the tokens of the prompt a message request would make.
pub async fn count_tokens(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<TokenCount>, AnthropicError> {
    let request: CountTokensRequest = parse_body(&state, body, None)?;
    check_model(&state, &request.model)?;
    let tools = request.tools.as_deref().unwrap_or_default();
    let conversation = conversation(
        request.system.as_ref(),
        &request.messages,
        tools,
        request.tool_choice.as_ref(),
    )?;
    let plan = PromptPlan::new(&state, &conversation, None).await?;
    let prompt = plan.encode(&state, &conversation.messages)?;
    Ok(Json(TokenCount {
        input_tokens: prompt.len(),
    }))
}

/// Anthropic's ranges (temperature 0-1), then the sampler's own check; the defaults are
/// Anthropic's (temperature 1, no top-p or top-k cut).
fn sampling_params(request: &MessagesRequest) -> Result<SamplingParams, ApiError> {
    generate::in_range("temperature", request.temperature, 0.0, 1.0)?;
    generate::in_range("top_p", request.top_p, 0.0, 1.0)?;
    if request.top_p == Some(0.0) {
        return Err(ApiError::invalid(
            Some("top_p".into()),
            "top_p must be greater than 0",
        ));
    }
    let defaults = SamplingParams::OPENAI;
    generate::checked(SamplingParams {
        temperature: request.temperature.map_or(1.0, |t| t as f32),
        top_k: generate::top_k(request.top_k, 0)?,
        top_p: request.top_p.map_or(1.0, |p| p as f32),
        seed: generate::seed(None),
        ..defaults
    })
}
