//! Quantized model files: our `.safetensors` model file with packed projections.
//!
//! Every float parameter is stored as in a float model file. Each packed weight keeps its usual
//! name (`h.0.attn.c_attn.weight`) and is stored as its rows in llama.cpp's `[out][in]` layout:
//! GGML blocks as `U8 [d_out, row_bytes]`; int8 codes as `I8 [d_out, d_in]`, with the row scales
//! in `<name>_scales` (`F32 [d_out]`). The header metadata `quantization` maps every packed
//! tensor to its format (`{"h.0.attn.c_attn.weight": "Q4_0", ...}`), beside the model `config`.

use std::collections::BTreeMap;
use std::path::Path;

use burn::store::ModuleSnapshot;
use burn::tensor::DType;
use claude_quant::{GgmlType, Int8Matrix, PackedMatrix, RowFormat};
use safetensors::tensor::{Dtype, TensorView};

use super::{InvalidModelFile, ModelFileError, UnsupportedModelFile};
use crate::embedding::TokenEmbedding;
use crate::projection::Projection;
use crate::transformer::{Gpt, TOKEN_TABLE_NAME};

/// Header metadata key of the packed tensors' formats.
pub(super) const QUANTIZATION_KEY: &str = "quantization";

/// Suffix of an int8 weight's row scales.
const SCALES_SUFFIX: &str = "_scales";

/// One tensor to write.
struct Entry {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

/// Writes `model` (with packed layers) to `tmp`, its config JSON in the header; the caller
/// renames it into place.
pub(super) fn write(model: &Gpt, config_json: String, tmp: &Path) -> Result<(), ModelFileError> {
    let mut entries = Vec::new();
    for tensor in model.collect(None, None, true) {
        let (name, dtype, shape, _, bytes) = tensor
            .into_parts()
            .map_err(|e| ModelFileError::invalid(tmp, InvalidModelFile::Snapshot(e)))?;
        let Some(stored) = safetensors_dtype(dtype) else {
            let cause = UnsupportedModelFile::ParameterType {
                tensor: name,
                dtype,
            };
            return Err(ModelFileError::unsupported(tmp, cause));
        };
        entries.push(Entry {
            dtype: stored,
            shape: shape.to_vec(),
            bytes: bytes.to_vec(),
            name,
        });
    }
    let mut formats = BTreeMap::new();
    for (name, matrix) in model.packed_matrices() {
        let mut segments = matrix.segments();
        let (Some(segment), None) = (segments.next(), segments.next()) else {
            let cause = UnsupportedModelFile::MixedRows {
                tensor: name,
                formats: matrix.formats(),
            };
            return Err(ModelFileError::unsupported(tmp, cause));
        };
        let rows = segment.rows;
        match segment.format {
            RowFormat::Ggml(_) => entries.push(Entry {
                name: name.clone(),
                dtype: Dtype::U8,
                shape: vec![rows, segment.bytes.len() / rows.max(1)],
                bytes: segment.bytes.to_vec(),
            }),
            RowFormat::Int8 => {
                entries.push(Entry {
                    name: name.clone(),
                    dtype: Dtype::I8,
                    shape: vec![rows, matrix.cols()],
                    bytes: segment.bytes.to_vec(),
                });
                entries.push(Entry {
                    name: format!("{name}{SCALES_SUFFIX}"),
                    dtype: Dtype::F32,
                    shape: vec![rows],
                    bytes: bytemuck::cast_slice(segment.scales).to_vec(),
                });
            }
        }
        formats.insert(name, segment.format.name().to_string());
    }
    let views = entries
        .iter()
        .map(|e| {
            TensorView::new(e.dtype, e.shape.clone(), &e.bytes).map(|view| (e.name.clone(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ModelFileError::invalid(tmp, InvalidModelFile::Safetensors(e)))?;
    let metadata = [
        (super::safetensors::CONFIG_KEY.to_string(), config_json),
        (
            QUANTIZATION_KEY.to_string(),
            serde_json::to_string(&formats).expect("formats serialize"),
        ),
    ];
    safetensors::serialize_to_file(views, Some(metadata.into_iter().collect()), tmp)
        .map_err(|e| ModelFileError::invalid(tmp, InvalidModelFile::Safetensors(e)))
}

/// Replaces the layers of `model` (freshly built from the file's config) that `formats` names
/// by their packed weights from `file`; the float parameters are loaded afterwards by name.
pub(super) fn unpack_into(
    model: &mut Gpt,
    file: &safetensors::SafeTensors<'_>,
    formats: &BTreeMap<String, String>,
    path: &Path,
) -> Result<(), ModelFileError> {
    let mut known = 0;
    if let Some(format) = formats.get(TOKEN_TABLE_NAME) {
        known += 1;
        let d_model = model.config().d_model;
        let expected = (d_model, model.wte.vocab_size());
        let table = read_matrix(file, TOKEN_TABLE_NAME, format, expected, path)?;
        model.wte = TokenEmbedding::packed(table);
    }
    for (name, layer) in model.projections_mut() {
        let Some(format) = formats.get(&name) else {
            continue;
        };
        known += 1;
        let matrix = read_matrix(file, &name, format, layer.dims(), path)?;
        let bias = layer.take_bias();
        *layer = Projection::packed(matrix, bias);
    }
    if known != formats.len() {
        let mut names = vec![TOKEN_TABLE_NAME.to_string()];
        names.extend(model.projections().into_iter().map(|(name, _)| name));
        let unknown = formats
            .keys()
            .filter(|name| !names.contains(name))
            .cloned()
            .collect();
        return Err(ModelFileError::invalid(
            path,
            InvalidModelFile::UnknownQuantizedTensors(unknown),
        ));
    }
    Ok(())
}

/// A packed tensor of `file` in `format`, which must be `expected` = `(inputs, outputs)`.
fn read_matrix(
    file: &safetensors::SafeTensors<'_>,
    name: &str,
    format: &str,
    expected: (usize, usize),
    path: &Path,
) -> Result<PackedMatrix, ModelFileError> {
    let matrix = read_packed(file, name, format, path)?;
    if (matrix.cols(), matrix.rows()) != expected {
        return Err(ModelFileError::invalid(
            path,
            InvalidModelFile::Shape {
                tensor: name.to_string(),
                found: vec![matrix.rows(), matrix.cols()],
                expected: vec![expected.1, expected.0],
            },
        ));
    }
    Ok(matrix)
}

/// A packed tensor of `file` in `format`.
fn read_packed(
    file: &safetensors::SafeTensors<'_>,
    name: &str,
    format: &str,
    path: &Path,
) -> Result<PackedMatrix, ModelFileError> {
    let invalid = |cause| ModelFileError::invalid(path, cause);
    let quant = |cause| {
        invalid(InvalidModelFile::Quant {
            tensor: name.to_string(),
            cause,
        })
    };
    // `SafeTensors::tensor` fails only on a name it does not hold.
    let view_of = |tensor: &str| {
        file.tensor(tensor).map_err(|_| {
            invalid(InvalidModelFile::MissingTensor {
                tensor: tensor.to_string(),
            })
        })
    };
    let stored_as = |tensor: &str, view: &TensorView<'_>, expected: Dtype| {
        if view.dtype() == expected {
            return Ok(());
        }
        Err(invalid(InvalidModelFile::StoredType {
            tensor: tensor.to_string(),
            found: view.dtype(),
            expected,
        }))
    };
    let view = view_of(name)?;
    let [rows, width] = view.shape()[..] else {
        return Err(invalid(InvalidModelFile::Rank {
            tensor: name.to_string(),
            shape: view.shape().to_vec(),
            rank: 2,
        }));
    };
    if format == RowFormat::Int8.name() {
        stored_as(name, &view, Dtype::I8)?;
        let scales_name = format!("{name}{SCALES_SUFFIX}");
        let scales = view_of(&scales_name)?;
        stored_as(&scales_name, &scales, Dtype::F32)?;
        if scales.shape() != [rows] {
            return Err(invalid(InvalidModelFile::Shape {
                tensor: scales_name,
                found: scales.shape().to_vec(),
                expected: vec![rows],
            }));
        }
        let matrix = Int8Matrix {
            rows,
            cols: width,
            data: view.data().iter().map(|&b| b as i8).collect(),
            scales: scales
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        };
        return PackedMatrix::int8(matrix).map_err(quant);
    }
    let ty: GgmlType = format.parse().map_err(quant)?;
    stored_as(name, &view, Dtype::U8)?;
    let cols = ty.values_in(width).map_err(quant)?;
    PackedMatrix::ggml(ty, rows, cols, view.data().to_vec()).map_err(quant)
}

/// The safetensors type of a float parameter.
fn safetensors_dtype(dtype: DType) -> Option<Dtype> {
    match dtype {
        DType::F32 => Some(Dtype::F32),
        DType::F16 => Some(Dtype::F16),
        DType::BF16 => Some(Dtype::BF16),
        DType::F64 => Some(Dtype::F64),
        _ => None,
    }
}
