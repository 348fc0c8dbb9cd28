//! The `retrieval` field of a chat request, an extension OpenAI's API does not have (see
//! [`crate::rag`]): `true` (the default), `false`, or `{"k": N, "mode": M}`.

use std::collections::BTreeMap;

use claude_retrieval::SearchMode;
use serde::de::{DeserializeOwned, Error as _, IgnoredAny};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The most chunks a request may ask to search for.
pub const MAX_K: usize = 64;

/// A request field read with the body but judged where it is used: a value of the wrong shape
/// is answered there with 400 naming the field, rather than with 422 for the whole body.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked<T>(Result<T, String>);

impl<T> Checked<T> {
    /// The value, or what is wrong with it.
    pub fn get(&self) -> Result<&T, &str> {
        self.0.as_ref().map_err(String::as_str)
    }
}

impl<T: Default> Default for Checked<T> {
    fn default() -> Self {
        Checked(Ok(T::default()))
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Checked<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Ok(Checked(T::deserialize(value).map_err(|e| e.to_string())))
    }
}

/// A request's `retrieval` field: `true`, `null` or absent (search with the server's
/// defaults), `false`, or search settings.
#[derive(Debug, Clone, PartialEq)]
pub enum Retrieval {
    /// `false`: no search.
    Off,
    /// Search, with the settings given.
    On(RetrievalSettings),
}

impl Default for Retrieval {
    fn default() -> Self {
        Retrieval::On(RetrievalSettings::default())
    }
}

impl<'de> Deserialize<'de> for Retrieval {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Null | Value::Bool(true) => Ok(Retrieval::default()),
            Value::Bool(false) => Ok(Retrieval::Off),
            settings @ Value::Object(_) => {
                let settings =
                    RetrievalSettings::deserialize(settings).map_err(D::Error::custom)?;
                match settings.unknown.keys().next() {
                    Some(other) => Err(D::Error::custom(format!(
                        "retrieval has no setting {other:?} (k, mode)"
                    ))),
                    None => Ok(Retrieval::On(settings)),
                }
            }
            other => Err(D::Error::custom(format!(
                "retrieval must be true, false or {{\"k\": N, \"mode\": M}}, not {other}"
            ))),
        }
    }
}

/// How to search; the server's defaults for what a request leaves out. (A new setting is a
/// field here, and a name in the message that refuses unknown ones.)
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct RetrievalSettings {
    /// Chunks to search for, at most [`MAX_K`].
    #[serde(default, deserialize_with = "chunk_count")]
    pub k: Option<usize>,
    /// How: `dense`, `exact`, `bm25` or `hybrid`.
    #[serde(default, deserialize_with = "search_mode")]
    pub mode: Option<SearchMode>,
    /// Settings there are none of, refused by [`Retrieval`]'s reading.
    #[serde(flatten)]
    unknown: BTreeMap<String, IgnoredAny>,
}

/// `retrieval.k`: a count up to [`MAX_K`].
fn chunk_count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<usize>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    let count = value.as_u64().filter(|&n| n <= MAX_K as u64);
    let count = count.ok_or_else(|| {
        D::Error::custom(format!(
            "retrieval.k must be a count up to {MAX_K}, not {value}"
        ))
    })?;
    Ok(Some(count as usize))
}

/// `retrieval.mode`: a search mode's name (anything but a string reads as the empty name).
fn search_mode<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<SearchMode>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    let name = value.as_str().unwrap_or_default();
    let mode = name
        .parse()
        .map_err(|e| D::Error::custom(format!("retrieval.mode: {e}")))?;
    Ok(Some(mode))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The field of a chat request whose body holds `retrieval` (absent when `None`).
    fn read(field: Option<Value>) -> Result<Retrieval, String> {
        let mut body = json!({"model": "m", "messages": []});
        if let Some(field) = field {
            body["retrieval"] = field;
        }
        let request: crate::openai::ChatRequest = serde_json::from_value(body).unwrap();
        request.retrieval.get().cloned().map_err(String::from)
    }

    fn settings(k: Option<usize>, mode: Option<SearchMode>) -> Retrieval {
        Retrieval::On(RetrievalSettings {
            k,
            mode,
            unknown: BTreeMap::new(),
        })
    }

    #[test]
    fn accepted_values() {
        for on in [None, Some(json!(null)), Some(json!(true)), Some(json!({}))] {
            assert_eq!(read(on.clone()), Ok(Retrieval::default()), "{on:?}");
        }
        assert_eq!(read(Some(json!(false))), Ok(Retrieval::Off));
        assert_eq!(
            read(Some(json!({"k": 3, "mode": "bm25"}))),
            Ok(settings(Some(3), Some(SearchMode::Bm25)))
        );
        assert_eq!(read(Some(json!({"k": 0}))), Ok(settings(Some(0), None)));
        assert_eq!(
            read(Some(json!({"k": MAX_K}))),
            Ok(settings(Some(MAX_K), None))
        );
        assert_eq!(
            read(Some(json!({"mode": "dense"}))),
            Ok(settings(None, Some(SearchMode::Dense)))
        );
    }

    /// The messages of the hand-written parser this type replaced, word for word.
    #[test]
    fn refused_values_keep_their_messages() {
        let shape = "retrieval must be true, false or {\"k\": N, \"mode\": M}, not";
        let k = "retrieval.k must be a count up to 64, not";
        let modes = "is not one of dense, exact, bm25, hybrid";
        let cases = [
            (json!(3), format!("{shape} 3")),
            (json!("yes"), format!("{shape} \"yes\"")),
            (json!([1]), format!("{shape} [1]")),
            (json!({"k": 65}), format!("{k} 65")),
            (json!({"k": -1}), format!("{k} -1")),
            (json!({"k": 2.5}), format!("{k} 2.5")),
            (json!({"k": "3"}), format!("{k} \"3\"")),
            (json!({"k": null}), format!("{k} null")),
            (
                json!({"mode": "fuzzy"}),
                format!("retrieval.mode: search mode \"fuzzy\" {modes}"),
            ),
            (
                json!({"mode": 1}),
                format!("retrieval.mode: search mode \"\" {modes}"),
            ),
            (
                json!({"depth": 2}),
                "retrieval has no setting \"depth\" (k, mode)".to_string(),
            ),
        ];
        for (field, message) in cases {
            assert_eq!(read(Some(field.clone())), Err(message), "{field}");
        }
    }
}
