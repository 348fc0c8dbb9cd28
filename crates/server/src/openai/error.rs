//! The body of an error answer: `{"error": {"message", "type", "param", "code"}}`.

use serde::Serialize;

/// An error answer's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong, in an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorDetail {
    /// For a person.
    pub message: String,
    /// OpenAI's error type (`invalid_request_error`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// The request field at fault, or `null`.
    pub param: Option<String>,
    /// A machine-readable code, or `null`.
    pub code: Option<String>,
}
