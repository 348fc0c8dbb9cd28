//! OpenAI-style errors: `{"error": {"message", "type", "param", "code"}}` with the right status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use claude_inference::GenerateError;

use crate::openai::{ErrorBody, ErrorDetail};

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong, for a person.
    pub message: String,
    /// OpenAI's error type (`invalid_request_error`, ...).
    pub kind: &'static str,
    /// The request field at fault, if one is.
    pub param: Option<String>,
    /// A machine-readable code.
    pub code: Option<&'static str>,
}

impl ApiError {
    /// 400: the request is understood but a value is wrong.
    pub fn invalid(param: impl Into<Option<String>>, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param: param.into(),
            code: None,
        }
    }

    /// 400 for a body that is not JSON (or not UTF-8).
    pub fn malformed(message: impl Into<String>) -> Self {
        ApiError {
            code: Some("invalid_json"),
            ..ApiError::invalid(None, message)
        }
    }

    /// 401: a missing or wrong API key.
    pub fn unauthorized() -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "invalid or missing API key: send `Authorization: Bearer <key>`".into(),
            kind: "authentication_error",
            param: None,
            code: Some("invalid_api_key"),
        }
    }

    /// 404: no such model.
    pub fn unknown_model(requested: &str, served: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!(
                "the model `{requested}` does not exist; this server serves `{served}`"
            ),
            kind: "invalid_request_error",
            param: Some("model".into()),
            code: Some("model_not_found"),
        }
    }

    /// 404: no such route.
    pub fn not_found(path: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("no route {path}"),
            kind: "invalid_request_error",
            param: None,
            code: Some("not_found"),
        }
    }

    /// 413: the body exceeds the limit.
    pub fn too_large(limit: usize) -> Self {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("request body larger than {limit} bytes"),
            kind: "invalid_request_error",
            param: None,
            code: Some("request_too_large"),
        }
    }

    /// 429: the queue is full; comes with `Retry-After`.
    pub fn busy() -> Self {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: "the server is busy: its request queue is full; retry shortly".into(),
            kind: "rate_limit_error",
            param: None,
            code: Some("queue_full"),
        }
    }

    /// 503: the engine is not running.
    pub fn unavailable() -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "the generation engine has stopped".into(),
            kind: "server_error",
            param: None,
            code: Some("engine_stopped"),
        }
    }

    /// 500: something broke while serving.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
            kind: "server_error",
            param: None,
            code: Some("internal_error"),
        }
    }

    /// The body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                message: self.message.clone(),
                kind: self.kind.to_string(),
                param: self.param.clone(),
                code: self.code.map(String::from),
            },
        }
    }
}

impl From<GenerateError> for ApiError {
    fn from(error: GenerateError) -> Self {
        let message = error.to_string();
        match error {
            GenerateError::EmptyPrompt => ApiError::invalid(Some("prompt".into()), message),
            GenerateError::NoNewTokens => ApiError::invalid(Some("max_tokens".into()), message),
            GenerateError::PromptTooLong { .. } | GenerateError::RequestTooLong { .. } => {
                ApiError {
                    code: Some("context_length_exceeded"),
                    ..ApiError::invalid(Some("messages".into()), message)
                }
            }
            GenerateError::UnknownToken { .. } => ApiError::invalid(Some("prompt".into()), message),
            GenerateError::Sampling(bad) => ApiError::invalid(Some(bad.field.to_string()), message),
            GenerateError::Tokenizer(_) => ApiError::invalid(Some("prompt".into()), message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body serializes as the JSON the server built by hand before [`ErrorBody`]: `param`
    /// and `code` are `null` when unset.
    #[test]
    fn body_serializes_as_before() {
        let cases = [
            (
                ApiError::invalid(Some("x".into()), "bad"),
                r#"{"error":{"code":null,"message":"bad","param":"x","type":"invalid_request_error"}}"#,
            ),
            (
                ApiError::invalid(None, "bad"),
                r#"{"error":{"code":null,"message":"bad","param":null,"type":"invalid_request_error"}}"#,
            ),
            (
                ApiError::busy(),
                r#"{"error":{"code":"queue_full","message":"the server is busy: its request queue is full; retry shortly","param":null,"type":"rate_limit_error"}}"#,
            ),
        ];
        for (error, before) in cases {
            let before: serde_json::Value = serde_json::from_str(before).unwrap();
            assert_eq!(serde_json::to_value(error.body()).unwrap(), before);
        }
    }
}
