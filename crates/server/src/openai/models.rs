//! The answer of `GET /v1/models`.

use serde::Serialize;

/// Who owns the models this server lists.
const OWNER: &str = "claude-rust";

/// The models a server serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "object", rename = "list")]
pub struct ModelList {
    /// The language model first (if any), then the embedding model (if any).
    pub data: Vec<Model>,
}

/// One model of a [`ModelList`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "object", rename = "model")]
pub struct Model {
    /// The name clients pass as `model`.
    pub id: String,
    /// Unix seconds (when the server started).
    pub created: u64,
    /// Always `claude-rust`.
    pub owned_by: String,
    /// A language model's context length (an extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_length: Option<usize>,
    /// An embedding model's vector size (an extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<usize>,
}

impl Model {
    /// A language model of `context_length` tokens.
    pub fn language(id: impl Into<String>, created: u64, context_length: usize) -> Self {
        Model {
            context_length: Some(context_length),
            ..Model::new(id.into(), created)
        }
    }

    /// An embedding model of `dimensions`-long vectors.
    pub fn embedding(id: impl Into<String>, created: u64, dimensions: usize) -> Self {
        Model {
            dimensions: Some(dimensions),
            ..Model::new(id.into(), created)
        }
    }

    fn new(id: String, created: u64) -> Self {
        Model {
            id,
            created,
            owned_by: OWNER.to_string(),
            context_length: None,
            dimensions: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The JSON the server built by hand before these types.
    #[test]
    fn serializes_as_before() {
        let list = ModelList {
            data: vec![
                Model::language("tiny", 7, 128),
                Model::embedding("minilm", 7, 384),
            ],
        };
        let before = json!({"object": "list", "data": [
            {"id": "tiny", "object": "model", "created": 7, "owned_by": "claude-rust",
             "context_length": 128},
            {"id": "minilm", "object": "model", "created": 7, "owned_by": "claude-rust",
             "dimensions": 384},
        ]});
        assert_eq!(serde_json::to_value(&list).unwrap(), before);
        let empty = json!({"object": "list", "data": []});
        let list = ModelList { data: Vec::new() };
        assert_eq!(serde_json::to_value(&list).unwrap(), empty);
    }
}
