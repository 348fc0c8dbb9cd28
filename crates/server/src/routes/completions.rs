//! `POST /v1/completions`: a prompt continued, whole or streamed, with OpenAI's legacy
//! log probabilities.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use claude_inference::MAX_TOP_LOGPROBS;

use super::chat::sampling_params;
use super::generate::{self, Order};
use super::{check_model, encode, parse_body};
use crate::AppState;
use crate::error::ApiError;
use crate::openai::{CompletionRequest, Extensions, GenerationFields, Prompt};
use crate::reply::ReplyReader;
use crate::respond::{CompletionStream, Endpoint, response_meta};
use crate::stream::sse_response;

/// `POST /v1/completions`.
pub async fn completions(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let fields = [CompletionRequest::FIELDS, GenerationFields::FIELDS].concat();
    let request: CompletionRequest = parse_body(&state, body, Some(&fields))?;
    check_model(&state, &request.model)?;
    let prompt = match request.prompt {
        Prompt::Text(text) => encode(&state, &text)?,
        Prompt::Tokens(ids) => ids,
        Prompt::Texts(mut texts) if texts.len() == 1 => encode(&state, &texts.remove(0))?,
        Prompt::Texts(_) => {
            return Err(ApiError::invalid(
                Some("prompt".into()),
                "only one prompt per request is supported",
            ));
        }
    };
    let logprobs = match request.logprobs {
        Some(k) if !(0..=MAX_TOP_LOGPROBS as i64).contains(&k) => {
            return Err(ApiError::invalid(
                Some("logprobs".into()),
                format!("logprobs must be between 0 and {MAX_TOP_LOGPROBS}, got {k}"),
            ));
        }
        k => k.map(|k| k as usize),
    };
    let fields = &request.fields;
    let user_stop = fields
        .stop
        .clone()
        .map(|s| s.into_vec())
        .unwrap_or_default();
    let order = Order {
        prompt,
        max_tokens: fields.max_tokens,
        max_tokens_field: "max_tokens",
        sampling: sampling_params(fields)?,
        stop: generate::stop_sequences(Vec::new(), user_stop, "stop")?,
        logprobs,
        constraint: None,
    };
    let meta = response_meta(&state, Endpoint::Completions, Extensions::default());
    let started = generate::start(&state, order).await?;
    let prompt_tokens = started.prompt_tokens;
    if fields.stream {
        let include_usage = (fields.stream_options.as_ref()).is_some_and(|o| o.include_usage);
        let format = CompletionStream::new(
            state.clone(),
            meta,
            prompt_tokens,
            include_usage,
            logprobs.is_some(),
        );
        return Ok(sse_response(Vec::new(), started, format));
    }
    let finished = generate::finish(started, ReplyReader::text()).await?;
    let tokenizer = &state.generation()?.tokenizer;
    let answer = meta.completion_response(finished, prompt_tokens, tokenizer, logprobs.is_some());
    Ok(Json(answer).into_response())
}
