//! Reading a Hugging Face `model.safetensors` (F32 tensors, PyTorch's `[out, in]` matrices) into
//! burn tensors, each checked against the shape the config calls for.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};

use crate::error::EmbedderError;

/// A memory-mapped safetensors file.
pub(crate) struct Weights {
    path: PathBuf,
    map: memmap2::Mmap,
}

impl Weights {
    /// Maps `path` and checks its header.
    pub fn open(path: &Path) -> Result<Self, EmbedderError> {
        let file = std::fs::File::open(path).map_err(|e| EmbedderError::io(path, e))?;
        // SAFETY: the map is only read, while this value (holding it) lives; a file truncated
        // underneath is caught by the header and length checks.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| EmbedderError::io(path, e))?;
        SafeTensors::deserialize(&map)
            .map_err(|e| EmbedderError::invalid(path, format!("not a safetensors file ({e})")))?;
        Ok(Weights {
            path: path.to_path_buf(),
            map,
        })
    }

    /// The view of tensor `name`.
    fn view(&self, name: &str) -> Result<TensorView<'_>, EmbedderError> {
        let file = SafeTensors::deserialize(&self.map).expect("checked when opened");
        file.tensor(name)
            .map_err(|_| EmbedderError::invalid(&self.path, format!("no tensor {name}")))
    }

    /// The values and shape of F32 tensor `name`.
    fn read(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>), EmbedderError> {
        let view = self.view(name)?;
        if view.dtype() != Dtype::F32 {
            return Err(EmbedderError::invalid(
                &self.path,
                format!("{name} is {:?}, expected F32", view.dtype()),
            ));
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok((values, view.shape().to_vec()))
    }

    fn shape_error(&self, name: &str, shape: &[usize], expected: &[usize]) -> EmbedderError {
        EmbedderError::invalid(
            &self.path,
            format!("{name} has shape {shape:?}, the config calls for {expected:?}"),
        )
    }

    /// The number of rows of 2-D tensor `name`.
    pub fn rows(&self, name: &str) -> Result<usize, EmbedderError> {
        let shape = self.view(name)?.shape().to_vec();
        shape
            .first()
            .copied()
            .ok_or_else(|| self.shape_error(name, &shape, &[0, 0]))
    }

    /// Tensor `name` as stored, which must be `shape`.
    pub fn matrix(
        &self,
        name: &str,
        shape: [usize; 2],
        device: &Device,
    ) -> Result<Tensor<2>, EmbedderError> {
        let (values, found) = self.read(name)?;
        if found != shape {
            return Err(self.shape_error(name, &found, &shape));
        }
        Ok(Tensor::from_data(TensorData::new(values, shape), device))
    }

    /// Vector `name`, which must have `len` values.
    pub fn vector(
        &self,
        name: &str,
        len: usize,
        device: &Device,
    ) -> Result<Tensor<1>, EmbedderError> {
        let (values, found) = self.read(name)?;
        if found != [len] {
            return Err(self.shape_error(name, &found, &[len]));
        }
        Ok(Tensor::from_data(TensorData::new(values, [len]), device))
    }

    /// The `[out_p, in]` matrices `names` as one `[in, sum of out_p]` weight (`shape`), outputs
    /// side by side in order.
    pub fn linear(
        &self,
        names: &[String],
        shape: [usize; 2],
        device: &Device,
    ) -> Result<Tensor<2>, EmbedderError> {
        let [d_in, d_out] = shape;
        let part_out = d_out / names.len();
        let parts = names
            .iter()
            .map(|name| {
                self.matrix(name, [part_out, d_in], device)
                    .map(Tensor::transpose)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Tensor::cat(parts, 1))
    }
}
