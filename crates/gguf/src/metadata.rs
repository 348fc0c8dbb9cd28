//! The metadata key/value store of a GGUF file, with typed accessors whose errors name the key
//! and the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::value::{Array, Value};

/// Metadata key/value pairs in file order, looked up by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    path: PathBuf,
    entries: Vec<(String, Value)>,
    index: HashMap<String, usize>,
}

macro_rules! scalar_accessors {
    ($($get:ident, $opt:ident, $t:ty, $variant:ident, $name:literal;)*) => {
        $(
            #[doc = concat!("The `", $name, "` value of `key`; an error naming the key and file if it is absent or of another type.")]
            pub fn $get(&self, key: &str) -> Result<$t> {
                match self.value(key)? {
                    Value::$variant(v) => Ok(*v),
                    other => Err(self.wrong_type(key, $name, other)),
                }
            }

            #[doc = concat!("The `", $name, "` value of `key`, `None` if absent; an error naming the key and file if it is of another type.")]
            pub fn $opt(&self, key: &str) -> Result<Option<$t>> {
                match self.get(key) {
                    None => Ok(None),
                    Some(Value::$variant(v)) => Ok(Some(*v)),
                    Some(other) => Err(self.wrong_type(key, $name, other)),
                }
            }
        )*
    };
}

macro_rules! array_accessors {
    ($($get:ident, $t:ty, $variant:ident, $name:literal;)*) => {
        $(
            #[doc = concat!("The elements of the array of ", $name, " at `key`; an error naming the key and file if it is absent or of another type.")]
            pub fn $get(&self, key: &str) -> Result<&[$t]> {
                match self.value(key)? {
                    Value::Array(Array::$variant(v)) => Ok(v),
                    other => Err(self.wrong_type(key, concat!("array of ", $name), other)),
                }
            }
        )*
    };
}

impl Metadata {
    /// An empty store for values read from (or to be written to) `path`, which errors name.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Metadata {
            path: path.into(),
            ..Metadata::default()
        }
    }

    /// The file the metadata belongs to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds `key`; returns the value it replaces, if any (a file with a duplicate key is refused
    /// by the reader before it gets here).
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        let key = key.into();
        let value = value.into();
        match self.index.get(&key) {
            Some(&i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push((key, value));
                None
            }
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `(key, value)` pairs in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    /// The value of `key`; an error naming the key and file if it is absent.
    pub fn value(&self, key: &str) -> Result<&Value> {
        self.get(key).ok_or_else(|| Error::MissingKey {
            path: self.path.clone(),
            key: key.to_owned(),
        })
    }

    fn wrong_type(&self, key: &str, expected: &'static str, found: &Value) -> Error {
        Error::WrongType {
            path: self.path.clone(),
            key: key.to_owned(),
            expected,
            found: found.type_description(),
        }
    }

    /// An error about the value of `key` (for callers that find a value unusable).
    pub fn bad_value(&self, key: &str, message: impl Into<String>) -> Error {
        Error::BadValue {
            path: self.path.clone(),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    scalar_accessors! {
        get_u8, opt_u8, u8, U8, "u8";
        get_i8, opt_i8, i8, I8, "i8";
        get_u16, opt_u16, u16, U16, "u16";
        get_i16, opt_i16, i16, I16, "i16";
        get_u32, opt_u32, u32, U32, "u32";
        get_i32, opt_i32, i32, I32, "i32";
        get_u64, opt_u64, u64, U64, "u64";
        get_i64, opt_i64, i64, I64, "i64";
        get_f32, opt_f32, f32, F32, "f32";
        get_f64, opt_f64, f64, F64, "f64";
        get_bool, opt_bool, bool, Bool, "bool";
    }

    /// The string value of `key`; an error naming the key and file if it is absent or not a
    /// string.
    pub fn get_str(&self, key: &str) -> Result<&str> {
        match self.value(key)? {
            Value::String(s) => Ok(s),
            other => Err(self.wrong_type(key, "string", other)),
        }
    }

    /// The string value of `key`, `None` if absent; an error naming the key and file if it is
    /// not a string.
    pub fn opt_str(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong_type(key, "string", other)),
        }
    }

    /// Any non-negative integer value of `key`, whatever its width; an error naming the key and
    /// file if it is absent, not an integer, or negative.
    pub fn get_uint(&self, key: &str) -> Result<u64> {
        let value = self.value(key)?;
        value
            .as_u64()
            .ok_or_else(|| self.wrong_type(key, "non-negative integer", value))
    }

    /// Like [`Metadata::get_uint`], `None` if the key is absent.
    pub fn opt_uint(&self, key: &str) -> Result<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(_) => self.get_uint(key).map(Some),
        }
    }

    /// The array value of `key`; an error naming the key and file if it is absent or not an
    /// array.
    pub fn get_array(&self, key: &str) -> Result<&Array> {
        match self.value(key)? {
            Value::Array(a) => Ok(a),
            other => Err(self.wrong_type(key, "array", other)),
        }
    }

    array_accessors! {
        get_u8_array, u8, U8, "u8";
        get_i8_array, i8, I8, "i8";
        get_u16_array, u16, U16, "u16";
        get_i16_array, i16, I16, "i16";
        get_u32_array, u32, U32, "u32";
        get_i32_array, i32, I32, "i32";
        get_u64_array, u64, U64, "u64";
        get_i64_array, i64, I64, "i64";
        get_f32_array, f32, F32, "f32";
        get_f64_array, f64, F64, "f64";
        get_bool_array, bool, Bool, "bool";
        get_str_array, String, String, "string";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_access_and_errors_name_key_and_file() {
        let mut m = Metadata::new("model.gguf");
        m.insert("a.count", 7u32);
        m.insert("a.name", "smol");
        m.insert("a.list", vec!["x", "y"]);
        assert_eq!(m.get_u32("a.count").unwrap(), 7);
        assert_eq!(m.get_uint("a.count").unwrap(), 7);
        assert_eq!(m.get_str("a.name").unwrap(), "smol");
        assert_eq!(m.get_str_array("a.list").unwrap(), ["x", "y"]);
        assert_eq!(m.opt_bool("a.flag").unwrap(), None);
        let err = m.get_u64("a.count").unwrap_err().to_string();
        assert_eq!(
            err,
            "model.gguf: metadata key \"a.count\" holds u32, expected u64"
        );
        let err = m.get_str("missing").unwrap_err().to_string();
        assert_eq!(err, "model.gguf: metadata key \"missing\" is missing");
        let err = m.get_i32_array("a.list").unwrap_err().to_string();
        assert!(
            err.contains("holds array of 2 string, expected array of i32"),
            "{err}"
        );
        assert_eq!(m.insert("a.count", 8u32), Some(Value::U32(7)));
        assert_eq!(m.len(), 3);
    }
}
