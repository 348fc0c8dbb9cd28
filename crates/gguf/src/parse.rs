//! Parsing the header of a GGUF file: magic, version, counts, metadata, tensor index, alignment.
//!
//! Every count and length is checked against the bytes that remain before anything is allocated
//! for it, so a corrupt file is an error naming the field and offset, never a huge allocation or
//! a panic.

use std::collections::HashSet;
use std::path::Path;

use crate::cursor::Cursor;
use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::tensor::{MAX_DIMS, TensorInfo, checked_size};
use crate::value::{Array, Value, ValueType};

/// The first four bytes of every GGUF file.
pub const MAGIC: [u8; 4] = *b"GGUF";

/// The metadata key that sets the alignment of tensor data.
pub const ALIGNMENT_KEY: &str = "general.alignment";

/// The alignment of tensor data when the file does not set `general.alignment`.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// How deeply arrays may nest (an array of arrays of arrays...).
pub const MAX_ARRAY_DEPTH: usize = 16;

/// Smallest on-disk size of one metadata entry: key length, value type, a one-byte value.
const MIN_KV_BYTES: u64 = 8 + 4 + 1;
/// Smallest on-disk size of one tensor-index entry: name length, dimension count, type, offset.
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 4 + 8;

/// Everything before the tensor data: what a GGUF file says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// The format version (2 or 3).
    pub version: u32,
    /// The metadata key/value pairs.
    pub metadata: Metadata,
    /// The tensor index, in file order.
    pub tensors: Vec<TensorInfo>,
    /// The alignment of tensor data (`general.alignment`, default 32).
    pub alignment: u64,
    /// Offset of the data section from the start of the file.
    pub data_offset: u64,
}

impl Header {
    /// Parses the header in `bytes`, the contents of the file `path` (which errors name), and
    /// checks that every tensor's data lies inside `bytes`.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        let mut c = Cursor::new(bytes, path);
        let magic: [u8; 4] = c.array("magic")?;
        if magic != MAGIC {
            return Err(Error::BadMagic {
                path: path.to_path_buf(),
                found: magic,
            });
        }
        let version = c.u32("version")?;
        if version != 2 && version != 3 {
            let hint = if matches!(version.swap_bytes(), 2 | 3) {
                " (the file looks big-endian, which this reader does not read)"
            } else {
                ""
            };
            return Err(Error::UnsupportedVersion {
                path: path.to_path_buf(),
                version,
                hint,
            });
        }
        let tensor_count = read_count(&mut c, "tensor count", MIN_TENSOR_INFO_BYTES)?;
        let kv_count = read_count(&mut c, "metadata entry count", MIN_KV_BYTES)?;
        let metadata = read_metadata(&mut c, kv_count)?;
        let tensors = read_tensor_index(&mut c, tensor_count)?;
        let alignment = alignment(&metadata)?;
        let data_offset = c.pos().next_multiple_of(alignment);
        let header = Header {
            version,
            metadata,
            tensors,
            alignment,
            data_offset,
        };
        header.check_data_bounds(c.len(), path)?;
        Ok(header)
    }

    fn check_data_bounds(&self, file_size: u64, path: &Path) -> Result<()> {
        for t in &self.tensors {
            let bad = |message: String| Error::BadTensor {
                path: path.to_path_buf(),
                name: t.name.clone(),
                message,
            };
            if t.offset % self.alignment != 0 {
                return Err(bad(format!(
                    "data offset {} is not a multiple of the alignment {}",
                    t.offset, self.alignment
                )));
            }
            let start = self
                .data_offset
                .checked_add(t.offset)
                .ok_or_else(|| bad(format!("data offset {} is absurd", t.offset)))?;
            let end = start
                .checked_add(t.byte_len.unwrap_or(0))
                .ok_or_else(|| bad(format!("data offset {} is absurd", t.offset)))?;
            if end > file_size {
                return Err(bad(format!(
                    "its data (file bytes {start}..{end}) runs past the end of the file ({file_size} bytes)"
                )));
            }
        }
        Ok(())
    }
}

/// Reads a `u64` count of entries that each take at least `min_entry_bytes`, refusing counts the
/// rest of the file cannot hold.
fn read_count(c: &mut Cursor<'_>, what: &str, min_entry_bytes: u64) -> Result<u64> {
    let offset = c.pos();
    let count = c.u64(what)?;
    let needed = count.checked_mul(min_entry_bytes);
    if needed.is_none_or(|needed| needed > c.remaining()) {
        return Err(c.malformed(
            what,
            offset,
            format!(
                "{count} entries cannot fit in the {} bytes left in the file",
                c.remaining()
            ),
        ));
    }
    Ok(count)
}

fn read_metadata(c: &mut Cursor<'_>, kv_count: u64) -> Result<Metadata> {
    let mut metadata = Metadata::new(c.path());
    for i in 0..kv_count {
        let key_offset = c.pos();
        let key = c
            .string()
            .map_err(|e| e.in_context(&format!("key of metadata entry {i}")))?;
        if metadata.contains(&key) {
            return Err(c.malformed(
                &format!("metadata key {key:?}"),
                key_offset,
                "the key appears twice",
            ));
        }
        let value =
            read_typed_value(c, 0).map_err(|e| e.in_context(&format!("metadata key {key:?}")))?;
        metadata.insert(key, value);
    }
    Ok(metadata)
}

/// A `u32` value type followed by a value of that type.
fn read_typed_value(c: &mut Cursor<'_>, depth: usize) -> Result<Value> {
    let ty = read_type(c, "value type")?;
    read_value(c, ty, depth)
}

fn read_type(c: &mut Cursor<'_>, what: &str) -> Result<ValueType> {
    let offset = c.pos();
    let id = c.u32(what)?;
    ValueType::from_id(id).ok_or_else(|| {
        c.malformed(
            what,
            offset,
            format!("unknown value type id {id} (known: 0 to 12)"),
        )
    })
}

fn read_value(c: &mut Cursor<'_>, ty: ValueType, depth: usize) -> Result<Value> {
    Ok(match ty {
        ValueType::U8 => Value::U8(c.u8("u8 value")?),
        ValueType::I8 => Value::I8(c.u8("i8 value")? as i8),
        ValueType::U16 => Value::U16(u16::from_le_bytes(c.array("u16 value")?)),
        ValueType::I16 => Value::I16(i16::from_le_bytes(c.array("i16 value")?)),
        ValueType::U32 => Value::U32(c.u32("u32 value")?),
        ValueType::I32 => Value::I32(i32::from_le_bytes(c.array("i32 value")?)),
        ValueType::F32 => Value::F32(f32::from_le_bytes(c.array("f32 value")?)),
        ValueType::U64 => Value::U64(c.u64("u64 value")?),
        ValueType::I64 => Value::I64(i64::from_le_bytes(c.array("i64 value")?)),
        ValueType::F64 => Value::F64(f64::from_le_bytes(c.array("f64 value")?)),
        ValueType::Bool => Value::Bool(read_bool(c)?),
        ValueType::String => Value::String(c.string()?),
        ValueType::Array => Value::Array(read_array(c, depth + 1)?),
    })
}

fn read_bool(c: &mut Cursor<'_>) -> Result<bool> {
    let offset = c.pos();
    match c.u8("bool value")? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(c.malformed("bool value", offset, format!("{other} is neither 0 nor 1"))),
    }
}

/// Reads `len` fixed-size little-endian numbers in one bounds-checked slice.
macro_rules! read_numbers {
    ($c:expr, $len:expr, $t:ty, $what:literal) => {{
        const SIZE: usize = std::mem::size_of::<$t>();
        // `len * SIZE <= remaining` was checked by the caller.
        $c.take($len * SIZE as u64, $what)?
            .chunks_exact(SIZE)
            .map(|b| <$t>::from_le_bytes(b.try_into().expect("chunks have SIZE bytes")))
            .collect()
    }};
}

fn read_array(c: &mut Cursor<'_>, depth: usize) -> Result<Array> {
    let start = c.pos();
    let ty = read_type(c, "array element type")?;
    let len = c.u64("array length")?;
    if depth > MAX_ARRAY_DEPTH {
        return Err(c.malformed(
            "array",
            start,
            format!("arrays nest more than {MAX_ARRAY_DEPTH} deep"),
        ));
    }
    let min_bytes = len.checked_mul(ty.min_size());
    if min_bytes.is_none_or(|b| b > c.remaining()) {
        return Err(c.malformed(
            "array length",
            start + 4,
            format!(
                "{len} elements of type {ty} cannot fit in the {} bytes left in the file",
                c.remaining()
            ),
        ));
    }
    // From here on `len` is at most the file size, so it fits in usize and every allocation
    // below is bounded by the file's size.
    let n = len as usize;
    let element = |i: usize| move |e: Error| e.in_context(&format!("array element {i}"));
    Ok(match ty {
        ValueType::U8 => Array::U8(c.take(len, "u8 array")?.to_vec()),
        ValueType::I8 => Array::I8(c.take(len, "i8 array")?.iter().map(|&b| b as i8).collect()),
        ValueType::U16 => Array::U16(read_numbers!(c, len, u16, "u16 array")),
        ValueType::I16 => Array::I16(read_numbers!(c, len, i16, "i16 array")),
        ValueType::U32 => Array::U32(read_numbers!(c, len, u32, "u32 array")),
        ValueType::I32 => Array::I32(read_numbers!(c, len, i32, "i32 array")),
        ValueType::F32 => Array::F32(read_numbers!(c, len, f32, "f32 array")),
        ValueType::U64 => Array::U64(read_numbers!(c, len, u64, "u64 array")),
        ValueType::I64 => Array::I64(read_numbers!(c, len, i64, "i64 array")),
        ValueType::F64 => Array::F64(read_numbers!(c, len, f64, "f64 array")),
        ValueType::Bool => {
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                out.push(read_bool(c).map_err(element(i))?);
            }
            Array::Bool(out)
        }
        ValueType::String => {
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                out.push(c.string().map_err(element(i))?);
            }
            Array::String(out)
        }
        ValueType::Array => {
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                out.push(read_array(c, depth + 1).map_err(element(i))?);
            }
            Array::Array(out)
        }
    })
}

fn read_tensor_index(c: &mut Cursor<'_>, tensor_count: u64) -> Result<Vec<TensorInfo>> {
    // `tensor_count` entries of at least 24 bytes each fit in the file, so this is bounded.
    let mut tensors = Vec::with_capacity(tensor_count as usize);
    let mut names = HashSet::new();
    for i in 0..tensor_count {
        let info = read_tensor_info(c, i)?;
        if !names.insert(info.name.clone()) {
            return Err(Error::BadTensor {
                path: c.path().to_path_buf(),
                name: info.name,
                message: "the name appears twice in the tensor index".into(),
            });
        }
        tensors.push(info);
    }
    Ok(tensors)
}

fn read_tensor_info(c: &mut Cursor<'_>, index: u64) -> Result<TensorInfo> {
    let name = c
        .string()
        .map_err(|e| e.in_context(&format!("name of tensor {index}")))?;
    let context = format!("tensor {index} ({name:?})");
    let in_tensor = |e: Error| e.in_context(&context);
    let dims_offset = c.pos();
    let n_dims = c.u32("dimension count").map_err(in_tensor)?;
    if n_dims as usize > MAX_DIMS {
        return Err(c
            .malformed(
                "dimension count",
                dims_offset,
                format!("{n_dims} dimensions (ggml tensors have at most {MAX_DIMS})"),
            )
            .in_context(&context));
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        let offset = c.pos();
        let d = c.u64("dimension").map_err(in_tensor)?;
        if d > i64::MAX as u64 {
            return Err(c
                .malformed("dimension", offset, format!("{d} is absurd"))
                .in_context(&context));
        }
        dims.push(d);
    }
    let ggml_type = c.u32("ggml type").map_err(in_tensor)?;
    let offset = c.u64("data offset").map_err(in_tensor)?;
    let (_, byte_len) = checked_size(&dims, ggml_type).map_err(|message| Error::BadTensor {
        path: c.path().to_path_buf(),
        name: name.clone(),
        message,
    })?;
    Ok(TensorInfo {
        name,
        dims,
        ggml_type,
        offset,
        byte_len,
    })
}

/// The alignment the metadata sets, or the default.
fn alignment(metadata: &Metadata) -> Result<u64> {
    match metadata.opt_u32(ALIGNMENT_KEY)? {
        None => Ok(DEFAULT_ALIGNMENT),
        Some(a) if a.is_power_of_two() => Ok(a.into()),
        Some(a) => Err(metadata.bad_value(
            ALIGNMENT_KEY,
            format!("alignment {a} is not a power of two"),
        )),
    }
}
