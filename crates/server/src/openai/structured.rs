//! A chat request's `response_format`: free text, any JSON object, or JSON that follows a schema.

use serde::Deserialize;
use serde_json::Value;

/// `response_format`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ResponseFormat {
    /// `{"type": "text"}`: no constraint (the default).
    Text,
    /// `{"type": "json_object"}`: the reply is one JSON object.
    JsonObject,
    /// `{"type": "json_schema", "json_schema": {...}}`: the reply is JSON following the schema.
    JsonSchema {
        /// The schema and its name.
        json_schema: JsonSchemaFormat,
    },
}

/// The `json_schema` of a [`ResponseFormat::JsonSchema`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonSchemaFormat {
    /// The schema's name (required by OpenAI; not used to generate).
    pub name: String,
    /// What the output is for (not used to generate).
    #[serde(default)]
    pub description: Option<String>,
    /// The JSON schema; absent means any JSON object.
    #[serde(default)]
    pub schema: Option<Value>,
    /// OpenAI's strict mode. Generation always follows the schema here, strict or not.
    #[serde(default)]
    pub strict: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_three_formats_and_refuses_others_by_name() {
        let read = |v: Value| serde_json::from_value::<ResponseFormat>(v);
        assert_eq!(read(json!({"type": "text"})).unwrap(), ResponseFormat::Text);
        assert_eq!(
            read(json!({"type": "json_object"})).unwrap(),
            ResponseFormat::JsonObject
        );
        let schema = json!({"type": "json_schema", "json_schema": {
            "name": "point", "strict": true,
            "schema": {"type": "object", "properties": {"x": {"type": "integer"}}}}});
        let ResponseFormat::JsonSchema { json_schema } = read(schema).unwrap() else {
            panic!("a json_schema format");
        };
        assert_eq!(json_schema.name, "point");
        let error = read(json!({"type": "yaml"})).unwrap_err().to_string();
        assert!(error.contains("unknown variant `yaml`"), "{error}");
        let error =
            read(json!({"type": "json_schema", "json_schema": {"name": "p", "grammar": 1}}))
                .unwrap_err()
                .to_string();
        assert!(error.contains("unknown field `grammar`"), "{error}");
    }
}
