//! The safetensors weights of a Hugging Face folder: `model.safetensors`, or the shards that
//! `model.safetensors.index.json` lists (`weight_map`: tensor name -> file), memory-mapped, and
//! their tensors decoded to f32 (F32, F16 and BF16) by name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use claude_quant::{GgmlType, dequantize};
use safetensors::tensor::TensorInfo;
use safetensors::{Dtype, SafeTensors};

use super::config::field_error;
use crate::model_file::weights::Matrix;
use crate::model_file::{InvalidModelFile, ModelFileError, UnsupportedModelFile};

/// The weights of an unsharded model.
pub(crate) const SINGLE_FILE: &str = "model.safetensors";
/// The index of a sharded model.
pub(crate) const INDEX_FILE: &str = "model.safetensors.index.json";

/// One mapped safetensors file.
struct Shard {
    path: PathBuf,
    bytes: memmap2::Mmap,
    /// Where the tensor data starts (after the length and the header).
    data_start: usize,
    tensors: HashMap<String, TensorInfo>,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("path", &self.path)
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

/// Every tensor of a folder's safetensors files, by name.
#[derive(Debug)]
pub(crate) struct Tensors {
    shards: Vec<Shard>,
    /// Tensor name -> its shard.
    shard_of: HashMap<String, usize>,
    /// The file named in a missing tensor's error: the index, or the one file.
    listing: PathBuf,
}

impl Tensors {
    /// Maps the safetensors files of the folder `dir`.
    pub(crate) fn open(dir: &Path) -> Result<Tensors, ModelFileError> {
        let index = dir.join(INDEX_FILE);
        let single = dir.join(SINGLE_FILE);
        let (listing, files) = if index.is_file() {
            let files = shard_files(&index)?;
            (index, files)
        } else if single.is_file() {
            (single.clone(), vec![SINGLE_FILE.to_string()])
        } else {
            return Err(ModelFileError::unsupported(
                dir,
                UnsupportedModelFile::NoSafetensors,
            ));
        };
        let mut tensors = Tensors {
            shards: Vec::with_capacity(files.len()),
            shard_of: HashMap::new(),
            listing,
        };
        for file in files {
            let shard = map_shard(&dir.join(file))?;
            let at = tensors.shards.len();
            for name in shard.tensors.keys() {
                tensors.shard_of.insert(name.clone(), at);
            }
            tensors.shards.push(shard);
        }
        Ok(tensors)
    }

    /// Whether the files hold a tensor named `name`.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.shard_of.contains_key(name)
    }

    fn info(&self, name: &str) -> Result<(&Shard, &TensorInfo), ModelFileError> {
        let shard = self
            .shard_of
            .get(name)
            .map(|&i| &self.shards[i])
            .ok_or_else(|| {
                let cause = InvalidModelFile::MissingTensor {
                    tensor: name.to_string(),
                };
                ModelFileError::invalid(&self.listing, cause)
            })?;
        Ok((shard, &shard.tensors[name]))
    }

    /// Tensor `name` decoded to f32, with its shape.
    pub(crate) fn decode(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>), ModelFileError> {
        let (shard, info) = self.info(name)?;
        let ty = match info.dtype {
            Dtype::F32 => GgmlType::F32,
            Dtype::F16 => GgmlType::F16,
            Dtype::BF16 => GgmlType::BF16,
            dtype => {
                let cause = UnsupportedModelFile::TensorDtype {
                    tensor: name.to_string(),
                    dtype,
                };
                return Err(ModelFileError::unsupported(&shard.path, cause));
            }
        };
        let (start, end) = info.data_offsets;
        // The header was validated against the file's length when it was mapped.
        let bytes = &shard.bytes[shard.data_start + start..shard.data_start + end];
        let mut data = vec![0.0; info.shape.iter().product()];
        dequantize(ty, bytes, &mut data).map_err(|cause| {
            let cause = InvalidModelFile::Quant {
                tensor: name.to_string(),
                cause,
            };
            ModelFileError::invalid(&shard.path, cause)
        })?;
        Ok((info.shape.clone(), data))
    }

    /// A 2-D tensor `[rows][cols]` of `cols` columns (and `rows` rows, when given).
    pub(crate) fn matrix(
        &self,
        name: &str,
        rows: Option<usize>,
        cols: usize,
    ) -> Result<Matrix, ModelFileError> {
        let (shape, data) = self.decode(name)?;
        let [r, c] = shape[..] else {
            return Err(self.invalid(
                name,
                InvalidModelFile::Rank {
                    tensor: name.to_string(),
                    shape,
                    rank: 2,
                },
            ));
        };
        if c != cols || rows.is_some_and(|rows| rows != r) {
            return Err(self.shape_error(name, shape, vec![rows.unwrap_or(r), cols]));
        }
        Ok(Matrix {
            data,
            rows: r,
            cols: c,
        })
    }

    /// A 1-D tensor of `len` values.
    pub(crate) fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>, ModelFileError> {
        let (shape, data) = self.decode(name)?;
        if shape != [len] {
            return Err(self.shape_error(name, shape, vec![len]));
        }
        Ok(data)
    }

    /// The error `cause` about tensor `name`, naming its file.
    pub(crate) fn invalid(&self, name: &str, cause: InvalidModelFile) -> ModelFileError {
        let path = match self.shard_of.get(name) {
            Some(&i) => &self.shards[i].path,
            None => &self.listing,
        };
        ModelFileError::invalid(path, cause)
    }

    /// Tensor `name` has shape `found` where `expected` is called for.
    pub(crate) fn shape_error(
        &self,
        name: &str,
        found: Vec<usize>,
        expected: Vec<usize>,
    ) -> ModelFileError {
        self.invalid(
            name,
            InvalidModelFile::Shape {
                tensor: name.to_string(),
                found,
                expected,
            },
        )
    }
}

/// The shard files `model.safetensors.index.json` lists, each once, in the order first named.
fn shard_files(index: &Path) -> Result<Vec<String>, ModelFileError> {
    let text = std::fs::read_to_string(index).map_err(|e| ModelFileError::io(index, e))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| field_error(index, "(file)", e))?;
    let Some(map) = json
        .get("weight_map")
        .and_then(serde_json::Value::as_object)
    else {
        return Err(field_error(
            index,
            "weight_map",
            "missing, or not an object",
        ));
    };
    let mut files: Vec<String> = Vec::new();
    for (tensor, file) in map {
        let field = || format!("weight_map.{tensor}");
        let Some(file) = file.as_str() else {
            return Err(field_error(index, &field(), "not a file name"));
        };
        let plain = Path::new(file)
            .file_name()
            .is_some_and(|name| name == std::ffi::OsStr::new(file));
        if !plain {
            return Err(field_error(
                index,
                &field(),
                format!("{file:?} is not a file name in the folder"),
            ));
        }
        if !files.iter().any(|f| f == file) {
            files.push(file.to_string());
        }
    }
    Ok(files)
}

/// Maps the safetensors file `path` and reads its header.
fn map_shard(path: &Path) -> Result<Shard, ModelFileError> {
    let file = std::fs::File::open(path).map_err(|e| ModelFileError::io(path, e))?;
    // SAFETY: the map is only read; a file truncated underneath us is the same hazard every
    // reader of a mapped model file accepts (the header was checked against the length).
    let bytes = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| ModelFileError::io(path, e))?;
    let (header, metadata) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| ModelFileError::invalid(path, InvalidModelFile::NotSafetensors(e)))?;
    let tensors = metadata
        .tensors()
        .into_iter()
        .map(|(name, info)| (name, info.clone()))
        .collect();
    Ok(Shard {
        path: path.to_path_buf(),
        bytes,
        data_start: 8 + header,
        tensors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_tensors(path: &Path, tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) {
        let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
            .iter()
            .map(|(name, dtype, shape, data)| {
                let view =
                    safetensors::tensor::TensorView::new(*dtype, shape.clone(), data).unwrap();
                (name.to_string(), view)
            })
            .collect();
        safetensors::serialize_to_file(views, None, path).unwrap();
    }

    #[test]
    fn shards_are_found_through_the_index_and_decoded() {
        let dir = tempfile::tempdir().unwrap();
        let f16: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|&x| half_bits(x).to_le_bytes())
            .collect();
        let bf16: Vec<u8> = [0.25f32, 3.0, 4.0, -1.0]
            .iter()
            .flat_map(|&x| ((x.to_bits() >> 16) as u16).to_le_bytes())
            .collect();
        write_tensors(
            &dir.path().join("a.safetensors"),
            &[("v", Dtype::F16, vec![2], f16)],
        );
        write_tensors(
            &dir.path().join("b.safetensors"),
            &[
                ("m", Dtype::BF16, vec![2, 2], bf16),
                ("i", Dtype::I32, vec![1], vec![0; 4]),
            ],
        );
        std::fs::write(
            dir.path().join(INDEX_FILE),
            r#"{"metadata": {}, "weight_map": {"v": "a.safetensors", "m": "b.safetensors", "i": "b.safetensors"}}"#,
        )
        .unwrap();
        let tensors = Tensors::open(dir.path()).unwrap();
        assert_eq!(tensors.vector("v", 2).unwrap(), [1.5, -2.0]);
        let m = tensors.matrix("m", Some(2), 2).unwrap();
        assert_eq!(m.data, [0.25, 3.0, 4.0, -1.0]);
        let err = tensors.vector("v", 3).unwrap_err().to_string();
        assert!(
            err.contains("a.safetensors") && err.contains("[2]"),
            "{err}"
        );
        let err = tensors.vector("i", 1).unwrap_err().to_string();
        assert!(
            err.contains("b.safetensors") && err.contains("I32"),
            "{err}"
        );
        let err = tensors.vector("w", 1).unwrap_err().to_string();
        assert!(err.contains(INDEX_FILE) && err.contains("\"w\""), "{err}");
    }

    #[test]
    fn a_bad_index_or_no_weights_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = Tensors::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no model.safetensors"), "{err}");
        std::fs::write(
            dir.path().join(INDEX_FILE),
            r#"{"weight_map": {"v": "../x.safetensors"}}"#,
        )
        .unwrap();
        let err = Tensors::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("weight_map.v"), "{err}");
    }

    /// The IEEE half-precision bits of `x` (exact for the small values used here).
    fn half_bits(x: f32) -> u16 {
        let bits = x.to_bits();
        let sign = ((bits >> 16) & 0x8000) as u16;
        let exp = ((bits >> 23) & 0xff) as i32 - 127 + 15;
        let mantissa = ((bits >> 13) & 0x3ff) as u16;
        sign | ((exp as u16) << 10) | mantissa
    }
}
