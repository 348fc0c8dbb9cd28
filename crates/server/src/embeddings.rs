//! `POST /v1/embeddings`: OpenAI's embeddings API over an embedder, so any OpenAI
//! embeddings client can use the server as its embedding service. `input` is a string or a list
//! of strings; `encoding_format` is `float` (the default) or `base64` (little-endian f32 bytes,
//! what OpenAI's Python client asks for and decodes); `usage` counts the tokens embedded.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use base64::Engine as _;

use crate::AppState;
use crate::error::ApiError;
use crate::openai::{
    Embedding, EmbeddingInput, EmbeddingList, EmbeddingRequest, EmbeddingUsage, EmbeddingVector,
};
use crate::routes::parse_body;

/// Embeds the request's texts off the async threads and answers in OpenAI's format.
pub async fn embeddings(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<EmbeddingList>, ApiError> {
    let request: EmbeddingRequest = parse_body(&state, body, None)?;
    let Some(served) = state.inner.embedder.clone() else {
        return Err(ApiError::invalid(
            Some("model".to_string()),
            "this server has no embedding model (start it with --embedding-model DIR)",
        ));
    };
    if request.model != served.name {
        return Err(ApiError::unknown_model(&request.model, &served.name));
    }
    let texts = match request.input {
        EmbeddingInput::One(text) => vec![text],
        EmbeddingInput::Many(texts) if texts.is_empty() => {
            return Err(ApiError::invalid(
                Some("input".to_string()),
                "input must not be an empty list",
            ));
        }
        EmbeddingInput::Many(texts) => texts,
    };
    let base64 = match request.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                Some("encoding_format".to_string()),
                format!("encoding_format {other:?} is not one of \"float\", \"base64\""),
            ));
        }
    };
    let dimension = served.embedder.identity().dimension;
    if let Some(asked) = request.dimensions.filter(|&d| d != dimension) {
        return Err(ApiError::invalid(
            Some("dimensions".to_string()),
            format!("this model's vectors have {dimension} dimensions, not {asked}"),
        ));
    }
    let embedder = served.embedder.clone();
    let embedded = tokio::task::spawn_blocking(move || {
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        embedder.embed_texts(&texts)
    })
    .await
    .map_err(|_| ApiError::unavailable())?;
    let tokens: usize = embedded.iter().map(|e| e.tokens).sum();
    let data = embedded
        .into_iter()
        .enumerate()
        .map(|(index, e)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = e.vector.iter().flat_map(|v| v.to_le_bytes()).collect();
                EmbeddingVector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                EmbeddingVector::Floats(e.vector)
            };
            Embedding { index, embedding }
        })
        .collect();
    Ok(Json(EmbeddingList {
        data,
        model: served.name,
        usage: EmbeddingUsage::new(tokens),
    }))
}
