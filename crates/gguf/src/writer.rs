//! [`GgufWriter`]: writes metadata and tensors as a GGUF version 3 file, tensor data aligned,
//! atomically (a temporary file beside the target, renamed over it only when complete).

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use claude_files::AtomicFile;

use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::parse::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC, MAX_ARRAY_DEPTH};
use crate::tensor::{MAX_DIMS, checked_size};
use crate::value::{Array, Value};

/// The format version the writer produces.
pub const WRITE_VERSION: u32 = 3;

/// A tensor waiting to be written.
#[derive(Debug, Clone)]
struct PendingTensor<'a> {
    name: String,
    dims: Vec<u64>,
    ggml_type: u32,
    data: Cow<'a, [u8]>,
}

/// Collects metadata and tensors, then writes them as one GGUF file.
///
/// ```
/// use claude_gguf::{GgufFile, GgufWriter};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("tiny.gguf");
/// let weights: Vec<u8> = [1.0f32, 2.0, 3.0].iter().flat_map(|x| x.to_le_bytes()).collect();
/// let mut writer = GgufWriter::new();
/// writer.set("general.name", "tiny");
/// writer.add_tensor("w", &[3], 0, weights.as_slice());
/// writer.write(&path)?;
///
/// let file = GgufFile::open(&path)?;
/// assert_eq!(file.metadata().get_str("general.name")?, "tiny");
/// assert_eq!(file.tensor_data("w")?, weights.as_slice());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct GgufWriter<'a> {
    metadata: Metadata,
    tensors: Vec<PendingTensor<'a>>,
}

impl<'a> GgufWriter<'a> {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the metadata `key` (replacing an earlier value; keys keep the order they were first
    /// set in). `general.alignment` (a `u32` power of two) sets the data alignment.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        self.metadata.insert(key, value);
        self
    }

    /// Adds a tensor: shape in ggml order (`dims[0]` innermost), raw ggml type id, and its data
    /// (borrowed or owned). Shape, type and data length are checked when writing.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        dims: &[u64],
        ggml_type: u32,
        data: impl Into<Cow<'a, [u8]>>,
    ) -> &mut Self {
        self.tensors.push(PendingTensor {
            name: name.into(),
            dims: dims.to_vec(),
            ggml_type,
            data: data.into(),
        });
        self
    }

    /// Writes the file at `path` atomically: into a temporary file in the same directory, synced,
    /// then renamed over `path`. On any error `path` is left as it was.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let alignment = self.alignment(path)?;
        self.check(path)?;
        let mut out = AtomicFile::create(path).map_err(|e| Error::io(path, e))?;
        self.write_body(&mut out, alignment)
            .map_err(|e| Error::io(path, e))?;
        out.commit().map_err(|e| Error::io(path, e))
    }

    /// The bytes [`GgufWriter::write`] would write (`path` only names the target in errors).
    pub fn to_bytes(&self, path: impl AsRef<Path>) -> Result<Vec<u8>> {
        let path = path.as_ref();
        let alignment = self.alignment(path)?;
        self.check(path)?;
        let mut out = Vec::new();
        self.write_body(&mut out, alignment)
            .map_err(|e| Error::io(path, e))?;
        Ok(out)
    }

    fn alignment(&self, path: &Path) -> Result<u64> {
        let bad = |message: String| Error::BadWrite {
            path: path.to_path_buf(),
            message,
        };
        match self.metadata.get(ALIGNMENT_KEY) {
            None => Ok(DEFAULT_ALIGNMENT),
            Some(Value::U32(a)) if a.is_power_of_two() => Ok((*a).into()),
            Some(Value::U32(a)) => Err(bad(format!("{ALIGNMENT_KEY} {a} is not a power of two"))),
            Some(other) => Err(bad(format!(
                "{ALIGNMENT_KEY} must be a u32, not {}",
                other.type_description()
            ))),
        }
    }

    /// Checks that every tensor can be written and read back.
    fn check(&self, path: &Path) -> Result<()> {
        let bad = |message: String| Error::BadWrite {
            path: path.to_path_buf(),
            message,
        };
        for (key, value) in self.metadata.iter() {
            if let Value::Array(array) = value
                && depth(array) > MAX_ARRAY_DEPTH
            {
                return Err(bad(format!(
                    "metadata key {key:?}: arrays nest more than {MAX_ARRAY_DEPTH} deep"
                )));
            }
        }
        let mut names = HashSet::new();
        for t in &self.tensors {
            if !names.insert(t.name.as_str()) {
                return Err(bad(format!("tensor {:?} is added twice", t.name)));
            }
            if t.dims.len() > MAX_DIMS {
                return Err(bad(format!(
                    "tensor {:?} has {} dimensions (at most {MAX_DIMS})",
                    t.name,
                    t.dims.len()
                )));
            }
            let (_, byte_len) = checked_size(&t.dims, t.ggml_type)
                .map_err(|message| bad(format!("tensor {:?}: {message}", t.name)))?;
            if let Some(len) = byte_len
                && len != t.data.len() as u64
            {
                return Err(bad(format!(
                    "tensor {:?}: shape {:?} of type id {} takes {len} bytes, but {} were given",
                    t.name,
                    t.dims,
                    t.ggml_type,
                    t.data.len()
                )));
            }
        }
        Ok(())
    }

    fn write_body(&self, out: &mut impl Write, alignment: u64) -> std::io::Result<()> {
        let mut w = CountingWriter { out, written: 0 };
        w.bytes(&MAGIC)?;
        w.u32(WRITE_VERSION)?;
        w.u64(self.tensors.len() as u64)?;
        w.u64(self.metadata.len() as u64)?;
        for (key, value) in self.metadata.iter() {
            w.string(key)?;
            w.u32(value.value_type().id())?;
            w.value(value)?;
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            w.string(&t.name)?;
            w.u32(t.dims.len() as u32)?;
            for &d in &t.dims {
                w.u64(d)?;
            }
            w.u32(t.ggml_type)?;
            w.u64(offset)?;
            offset += (t.data.len() as u64).next_multiple_of(alignment);
        }
        w.pad(alignment)?;
        for t in &self.tensors {
            w.bytes(&t.data)?;
            w.pad(alignment)?;
        }
        Ok(())
    }
}

fn depth(array: &Array) -> usize {
    match array {
        Array::Array(inner) => 1 + inner.iter().map(depth).max().unwrap_or(0),
        _ => 1,
    }
}

/// Writes little-endian GGUF fields and counts the bytes written (for padding).
struct CountingWriter<'w, W: Write> {
    out: &'w mut W,
    written: u64,
}

impl<W: Write> CountingWriter<'_, W> {
    fn bytes(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.out.write_all(b)?;
        self.written += b.len() as u64;
        Ok(())
    }

    fn u32(&mut self, v: u32) -> std::io::Result<()> {
        self.bytes(&v.to_le_bytes())
    }

    fn u64(&mut self, v: u64) -> std::io::Result<()> {
        self.bytes(&v.to_le_bytes())
    }

    fn string(&mut self, s: &str) -> std::io::Result<()> {
        self.u64(s.len() as u64)?;
        self.bytes(s.as_bytes())
    }

    fn pad(&mut self, alignment: u64) -> std::io::Result<()> {
        let padding = self.written.next_multiple_of(alignment) - self.written;
        self.bytes(&vec![0u8; padding as usize])
    }

    fn value(&mut self, value: &Value) -> std::io::Result<()> {
        match value {
            Value::U8(v) => self.bytes(&[*v]),
            Value::I8(v) => self.bytes(&v.to_le_bytes()),
            Value::U16(v) => self.bytes(&v.to_le_bytes()),
            Value::I16(v) => self.bytes(&v.to_le_bytes()),
            Value::U32(v) => self.u32(*v),
            Value::I32(v) => self.bytes(&v.to_le_bytes()),
            Value::F32(v) => self.bytes(&v.to_le_bytes()),
            Value::Bool(v) => self.bytes(&[u8::from(*v)]),
            Value::String(s) => self.string(s),
            Value::Array(a) => self.array(a),
            Value::U64(v) => self.u64(*v),
            Value::I64(v) => self.bytes(&v.to_le_bytes()),
            Value::F64(v) => self.bytes(&v.to_le_bytes()),
        }
    }

    fn array(&mut self, array: &Array) -> std::io::Result<()> {
        self.u32(array.element_type().id())?;
        self.u64(array.len() as u64)?;
        macro_rules! each {
            ($v:expr) => {{
                for x in $v {
                    self.bytes(&x.to_le_bytes())?;
                }
                Ok(())
            }};
        }
        match array {
            Array::U8(v) => self.bytes(v),
            Array::I8(v) => each!(v),
            Array::U16(v) => each!(v),
            Array::I16(v) => each!(v),
            Array::U32(v) => each!(v),
            Array::I32(v) => each!(v),
            Array::F32(v) => each!(v),
            Array::U64(v) => each!(v),
            Array::I64(v) => each!(v),
            Array::F64(v) => each!(v),
            Array::Bool(v) => {
                for &b in v {
                    self.bytes(&[u8::from(b)])?;
                }
                Ok(())
            }
            Array::String(v) => {
                for s in v {
                    self.string(s)?;
                }
                Ok(())
            }
            Array::Array(v) => {
                for inner in v {
                    self.array(inner)?;
                }
                Ok(())
            }
        }
    }
}
