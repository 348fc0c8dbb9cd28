//! The request and answer of `POST /v1/embeddings`.

use serde::{Deserialize, Serialize, Serializer};

/// The texts of a request.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    /// One text.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// A `POST /v1/embeddings` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingRequest {
    /// Model name (must be the served embedding model).
    pub model: String,
    /// What to embed.
    pub input: EmbeddingInput,
    /// `float` (the default) or `base64`.
    #[serde(default)]
    pub encoding_format: Option<String>,
    /// The vectors' size, if the client says (it must be the model's).
    #[serde(default)]
    pub dimensions: Option<usize>,
}

/// The answer: one embedding per text, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "object", rename = "list")]
pub struct EmbeddingList {
    /// The embeddings.
    pub data: Vec<Embedding>,
    /// The embedding model's name.
    pub model: String,
    /// Tokens embedded.
    pub usage: EmbeddingUsage,
}

/// One text's embedding.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "object", rename = "embedding")]
pub struct Embedding {
    /// The text's position in the request.
    pub index: usize,
    /// The vector.
    pub embedding: EmbeddingVector,
}

/// A vector, as the request's `encoding_format` asks.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EmbeddingVector {
    /// `float`: a list of numbers, each written as the f64 its f32 widens to, which any client
    /// reads back exactly.
    Floats(#[serde(serialize_with = "widened")] Vec<f32>),
    /// `base64`: the little-endian f32 bytes, base64-encoded.
    Base64(String),
}

fn widened<S: Serializer>(vector: &[f32], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(vector.iter().map(|&v| f64::from(v)))
}

/// Tokens embedded: `prompt_tokens` and `total_tokens` are the same count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EmbeddingUsage {
    /// Tokens embedded.
    pub prompt_tokens: usize,
    /// The same.
    pub total_tokens: usize,
}

impl EmbeddingUsage {
    /// The counts for `tokens` embedded.
    pub fn new(tokens: usize) -> Self {
        EmbeddingUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The JSON the server built by hand before these types (where `json!` widened each f32
    /// to f64).
    #[test]
    fn serializes_as_before() {
        let vector = vec![0.1f32, -2.5, 1.0];
        let list = EmbeddingList {
            data: vec![
                Embedding {
                    index: 0,
                    embedding: EmbeddingVector::Floats(vector.clone()),
                },
                Embedding {
                    index: 1,
                    embedding: EmbeddingVector::Base64("zczMPQ==".into()),
                },
            ],
            model: "minilm".into(),
            usage: EmbeddingUsage::new(19),
        };
        let before = json!({
            "object": "list",
            "data": [
                {"object": "embedding", "index": 0, "embedding": json!(vector)},
                {"object": "embedding", "index": 1, "embedding": "zczMPQ=="},
            ],
            "model": "minilm",
            "usage": {"prompt_tokens": 19, "total_tokens": 19},
        });
        assert_eq!(serde_json::to_value(&list).unwrap(), before);
        // Byte for byte, the numbers too.
        assert_eq!(
            serde_json::to_string(&list.data[0].embedding).unwrap(),
            json!(vector).to_string()
        );
    }
}
