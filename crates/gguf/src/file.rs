//! [`GgufFile`]: a GGUF file opened read-only and memory-mapped; tensor data is handed out as
//! borrowed slices of the mapping, or as shared [`Bytes`] that keep the mapping alive, without
//! copying.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use memmap2::Mmap;

use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::parse::Header;
use crate::tensor::TensorInfo;

/// An open GGUF file: its header, parsed and checked, over a memory mapping of the whole file.
#[derive(Debug)]
pub struct GgufFile {
    path: PathBuf,
    /// The whole file, mapped (empty for an empty file).
    data: Bytes,
    header: Header,
    by_name: HashMap<String, usize>,
}

impl GgufFile {
    /// Opens and maps `path`, parses its header and checks that every tensor's data lies inside
    /// the file. Errors name the file and what is wrong with it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
        // An empty file cannot be mapped on every platform; it is simply too short.
        let data = if size == 0 {
            Bytes::new()
        } else {
            // Safety: the mapping is read-only and never handed out mutably. As with every
            // memory-mapped file, another process truncating or rewriting the file while it is
            // open would change what the slices see; GGUF files are written once and then read.
            Bytes::from_owner(unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?)
        };
        let header = Header::parse(&data, path)?;
        let by_name = header
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Ok(GgufFile {
            path: path.to_path_buf(),
            data,
            header,
            by_name,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.header.version
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The metadata key/value pairs.
    pub fn metadata(&self) -> &Metadata {
        &self.header.metadata
    }

    /// The tensor index, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.header.tensors
    }

    /// The alignment of tensor data.
    pub fn alignment(&self) -> u64 {
        self.header.alignment
    }

    /// Offset of the data section from the start of the file.
    pub fn data_offset(&self) -> u64 {
        self.header.data_offset
    }

    /// The whole file's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// The index entry of the tensor `name`; an error naming the file if there is none.
    pub fn tensor(&self, name: &str) -> Result<&TensorInfo> {
        self.by_name
            .get(name)
            .map(|&i| &self.header.tensors[i])
            .ok_or_else(|| Error::MissingTensor {
                path: self.path.clone(),
                name: name.to_owned(),
            })
    }

    /// The data of the tensor `name`, borrowed from the mapping.
    pub fn tensor_data(&self, name: &str) -> Result<&[u8]> {
        self.data_of(self.tensor(name)?)
    }

    /// The data of a tensor of this file's index as shared bytes of the mapping, without copying:
    /// they keep the mapping alive after the file is dropped (weights that are used as stored).
    pub fn shared_data_of(&self, info: &TensorInfo) -> Result<Bytes> {
        let data = self.data_of(info)?;
        Ok(self.data.slice_ref(data))
    }

    /// The data of a tensor of this file's index, borrowed from the mapping. Fails for a ggml
    /// type whose size this crate does not know (the raw bytes from the tensor's offset to the
    /// end of the file are then in [`GgufFile::bytes`]).
    pub fn data_of(&self, info: &TensorInfo) -> Result<&[u8]> {
        let bad = |message: String| Error::BadTensor {
            path: self.path.clone(),
            name: info.name.clone(),
            message,
        };
        let len = info.byte_len.ok_or_else(|| {
            bad(format!(
                "ggml type id {} has no known size, so its data cannot be delimited",
                info.ggml_type
            ))
        })?;
        let start = self.header.data_offset.saturating_add(info.offset);
        let end = start.saturating_add(len);
        // Checked against the file size when the header was parsed; checked again here because
        // `info` may come from another file's index.
        usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(start, end)| self.bytes().get(start..end))
            .ok_or_else(|| {
                bad(format!(
                    "its data (file bytes {start}..{end}) is not in this file"
                ))
            })
    }
}
