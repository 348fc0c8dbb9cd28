//! The tensor index: each tensor's name, shape, ggml type id and data offset, and the block
//! layout of the ggml types whose sizes this crate knows (to bound-check tensor data).

/// The largest number of dimensions ggml tensors have.
pub const MAX_DIMS: usize = 4;

/// How a ggml type packs elements: `block_elems` elements take `block_bytes` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeLayout {
    /// The type's name as ggml spells it (`F32`, `Q4_1`, `Q6_K`...).
    pub name: &'static str,
    /// Elements per block.
    pub block_elems: u64,
    /// Bytes per block.
    pub block_bytes: u64,
}

/// The block layout of the ggml type with id `id`, if this crate knows it.
pub fn type_layout(id: u32) -> Option<TypeLayout> {
    let (name, block_elems, block_bytes) = match id {
        0 => ("F32", 1, 4),
        1 => ("F16", 1, 2),
        2 => ("Q4_0", 32, 18),
        3 => ("Q4_1", 32, 20),
        6 => ("Q5_0", 32, 22),
        7 => ("Q5_1", 32, 24),
        8 => ("Q8_0", 32, 34),
        9 => ("Q8_1", 32, 36),
        10 => ("Q2_K", 256, 84),
        11 => ("Q3_K", 256, 110),
        12 => ("Q4_K", 256, 144),
        13 => ("Q5_K", 256, 176),
        14 => ("Q6_K", 256, 210),
        15 => ("Q8_K", 256, 292),
        16 => ("IQ2_XXS", 256, 66),
        17 => ("IQ2_XS", 256, 74),
        18 => ("IQ3_XXS", 256, 98),
        19 => ("IQ1_S", 256, 50),
        20 => ("IQ4_NL", 32, 18),
        21 => ("IQ3_S", 256, 110),
        22 => ("IQ2_S", 256, 82),
        23 => ("IQ4_XS", 256, 136),
        24 => ("I8", 1, 1),
        25 => ("I16", 1, 2),
        26 => ("I32", 1, 4),
        27 => ("I64", 1, 8),
        28 => ("F64", 1, 8),
        29 => ("IQ1_M", 256, 56),
        30 => ("BF16", 1, 2),
        34 => ("TQ1_0", 256, 54),
        35 => ("TQ2_0", 256, 66),
        39 => ("MXFP4", 32, 17),
        _ => return None,
    };
    Some(TypeLayout {
        name,
        block_elems,
        block_bytes,
    })
}

/// One entry of the tensor index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// The shape in ggml order: `dims[0]` is the innermost (contiguous) dimension.
    pub dims: Vec<u64>,
    /// The raw ggml type id (0 = F32, 1 = F16, 8 = Q8_0, ...).
    pub ggml_type: u32,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
    /// Size of the data in bytes, when the type's layout is known.
    pub byte_len: Option<u64>,
}

impl TensorInfo {
    /// Number of elements (the product of the dimensions; 1 for a scalar).
    pub fn n_elements(&self) -> u64 {
        // Checked when the index was read (or the tensor was added to a writer).
        self.dims.iter().product()
    }

    /// The type's layout, if known.
    pub fn layout(&self) -> Option<TypeLayout> {
        type_layout(self.ggml_type)
    }

    /// The type's name, or `type <id>` when this crate does not know it.
    pub fn type_name(&self) -> String {
        match self.layout() {
            Some(layout) => layout.name.to_owned(),
            None => format!("type {}", self.ggml_type),
        }
    }
}

/// The element count and (for known types) the byte size of a tensor, or a message saying why
/// the shape cannot be right.
pub(crate) fn checked_size(dims: &[u64], ggml_type: u32) -> Result<(u64, Option<u64>), String> {
    let mut n: u64 = 1;
    for &d in dims {
        n = n
            .checked_mul(d)
            .ok_or_else(|| format!("shape {dims:?} has more elements than fit in 64 bits"))?;
    }
    let Some(layout) = type_layout(ggml_type) else {
        return Ok((n, None));
    };
    let inner = dims.first().copied().unwrap_or(1);
    if inner % layout.block_elems != 0 {
        return Err(format!(
            "its first dimension {inner} is not a multiple of the {} block size {}",
            layout.name, layout.block_elems
        ));
    }
    let bytes = (n / layout.block_elems)
        .checked_mul(layout.block_bytes)
        .ok_or_else(|| format!("shape {dims:?} has more bytes than fit in 64 bits"))?;
    Ok((n, Some(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_of_known_types() {
        assert_eq!(
            checked_size(&[576, 49152], 8),
            Ok((576 * 49152, Some(18 * 34 * 49152)))
        );
        assert_eq!(checked_size(&[576], 0), Ok((576, Some(2304))));
        assert_eq!(checked_size(&[256, 2], 14), Ok((512, Some(420))));
        assert!(checked_size(&[100], 3).is_err());
        assert!(checked_size(&[u64::MAX, 2], 0).is_err());
        assert_eq!(checked_size(&[7], 1000), Ok((7, None)));
    }
}
