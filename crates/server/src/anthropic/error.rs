//! Errors in Anthropic's shape: `{"type": "error", "error": {"type", "message"}}`, with the
//! status the same failure gets on the OpenAI routes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::response::{ErrorBody, ErrorDetail};
use crate::error::ApiError;

/// An error answered on the Messages API's routes.
#[derive(Debug, Clone, PartialEq)]
pub struct AnthropicError(pub ApiError);

impl From<ApiError> for AnthropicError {
    fn from(error: ApiError) -> Self {
        AnthropicError(error)
    }
}

/// Anthropic's error type for a status.
fn kind(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    }
}

/// The body of `error` in Anthropic's shape (the field at fault, if any, leads the message).
pub fn body(error: &ApiError) -> ErrorBody {
    let message = match &error.param {
        Some(param) if !error.message.contains(param.as_str()) => {
            format!("{param}: {}", error.message)
        }
        _ => error.message.clone(),
    };
    ErrorBody {
        error: ErrorDetail {
            kind: kind(error.status),
            message,
        },
    }
}

impl IntoResponse for AnthropicError {
    /// The OpenAI route's answer (status and headers, such as `Retry-After`) with this body.
    fn into_response(self) -> Response {
        let (parts, _) = self.0.clone().into_response().into_parts();
        let (_, body) = axum::Json(body(&self.0)).into_response().into_parts();
        Response::from_parts(parts, body)
    }
}
