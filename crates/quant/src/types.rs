//! The GGML element types this crate decodes, with their ids, block sizes and names.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Values per block of the k-quant formats (GGML's `QK_K`).
pub const QK_K: usize = 256;

/// A GGML tensor element type that this crate can decode.
///
/// The discriminants are GGML's type ids (`enum ggml_type` in ggml.h), which GGUF files store
/// for every tensor. Only the formats this crate implements have a variant, so every
/// `GgmlType` can be dequantized; [`GgmlType::from_id`] names the others in its error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
#[allow(non_camel_case_types)] // ggml.h's names: Q4_K, not Q4K
pub enum GgmlType {
    /// 32-bit IEEE float, little-endian.
    F32 = 0,
    /// 16-bit IEEE half float, little-endian.
    F16 = 1,
    /// 32 values: an f16 scale `d`, then 16 bytes of 4-bit codes; value = `(q - 8) * d`.
    Q4_0 = 2,
    /// 32 values: f16 scale `d`, f16 minimum `m`, 16 bytes of 4-bit codes; value = `q * d + m`.
    Q4_1 = 3,
    /// 32 values: f16 scale `d`, 32 fifth bits, 16 bytes of 4-bit codes; value = `(q - 16) * d`.
    Q5_0 = 6,
    /// 32 values: f16 `d` and minimum `m`, 32 fifth bits, 4-bit codes; value = `q * d + m`.
    Q5_1 = 7,
    /// 32 values: an f16 scale `d`, then 32 signed bytes; value = `q * d`.
    Q8_0 = 8,
    /// 256 values in 16 sub-blocks of 16: 4-bit scales and mins, 2-bit codes, f16 `d`, `dmin`.
    Q2_K = 10,
    /// 256 values in 16 sub-blocks of 16: 3-bit codes, 6-bit signed scales, one f16 `d`.
    Q3_K = 11,
    /// 256 values in 8 sub-blocks of 32: f16 `d` and `dmin`, 6-bit scales and mins, 4-bit codes.
    Q4_K = 12,
    /// 256 values in 8 sub-blocks of 32: as [`GgmlType::Q4_K`] plus a fifth bit per value.
    Q5_K = 13,
    /// 256 values in 16 sub-blocks of 16: 6-bit codes, signed 8-bit scales, one f16 `d`.
    Q6_K = 14,
    /// 32 values: an f16 scale `d`, 4-bit indices into a fixed non-linear table of 16 codes.
    IQ4_NL = 20,
    /// 256 values in 8 sub-blocks of 32: IQ4_NL's table with a 6-bit scale per sub-block.
    IQ4_XS = 23,
    /// bfloat16: the upper 16 bits of an f32, little-endian.
    BF16 = 30,
}

impl GgmlType {
    /// Every supported type, in id order.
    pub const ALL: [GgmlType; 15] = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q2_K,
        GgmlType::Q3_K,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
        GgmlType::IQ4_NL,
        GgmlType::IQ4_XS,
        GgmlType::BF16,
    ];

    /// GGML's id of this type (`enum ggml_type`), as stored in GGUF tensor infos.
    pub const fn id(self) -> u32 {
        self as u32
    }

    /// The supported type with GGML id `id`.
    ///
    /// # Errors
    /// [`Error::UnsupportedType`] (with ggml.h's name) for a type GGML defines that this crate
    /// does not decode, and [`Error::UnknownType`] for an id ggml.h does not name.
    pub fn from_id(id: u32) -> Result<Self> {
        match id {
            0 => Ok(GgmlType::F32),
            1 => Ok(GgmlType::F16),
            2 => Ok(GgmlType::Q4_0),
            3 => Ok(GgmlType::Q4_1),
            6 => Ok(GgmlType::Q5_0),
            7 => Ok(GgmlType::Q5_1),
            8 => Ok(GgmlType::Q8_0),
            10 => Ok(GgmlType::Q2_K),
            11 => Ok(GgmlType::Q3_K),
            12 => Ok(GgmlType::Q4_K),
            13 => Ok(GgmlType::Q5_K),
            14 => Ok(GgmlType::Q6_K),
            20 => Ok(GgmlType::IQ4_NL),
            23 => Ok(GgmlType::IQ4_XS),
            30 => Ok(GgmlType::BF16),
            _ => Err(match ggml_type_name(id) {
                Some(name) => Error::UnsupportedType { id, name },
                None => Error::UnknownType { id },
            }),
        }
    }

    /// ggml.h's name of this type (`"Q4_K"`, `"BF16"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            GgmlType::F32 => "F32",
            GgmlType::F16 => "F16",
            GgmlType::Q4_0 => "Q4_0",
            GgmlType::Q4_1 => "Q4_1",
            GgmlType::Q5_0 => "Q5_0",
            GgmlType::Q5_1 => "Q5_1",
            GgmlType::Q8_0 => "Q8_0",
            GgmlType::Q2_K => "Q2_K",
            GgmlType::Q3_K => "Q3_K",
            GgmlType::Q4_K => "Q4_K",
            GgmlType::Q5_K => "Q5_K",
            GgmlType::Q6_K => "Q6_K",
            GgmlType::IQ4_NL => "IQ4_NL",
            GgmlType::IQ4_XS => "IQ4_XS",
            GgmlType::BF16 => "BF16",
        }
    }

    /// Values per block (GGML's `blck_size`): 1 for the float types, 32 or 256 otherwise.
    pub const fn block_size(self) -> usize {
        match self {
            GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => 1,
            GgmlType::Q4_0
            | GgmlType::Q4_1
            | GgmlType::Q5_0
            | GgmlType::Q5_1
            | GgmlType::Q8_0
            | GgmlType::IQ4_NL => 32,
            GgmlType::Q2_K
            | GgmlType::Q3_K
            | GgmlType::Q4_K
            | GgmlType::Q5_K
            | GgmlType::Q6_K
            | GgmlType::IQ4_XS => QK_K,
        }
    }

    /// Bytes per block (GGML's `type_size`).
    pub const fn block_bytes(self) -> usize {
        match self {
            GgmlType::F32 => 4,
            GgmlType::F16 | GgmlType::BF16 => 2,
            GgmlType::Q4_0 => crate::q4::Q4_0_BLOCK_BYTES,
            GgmlType::Q4_1 => crate::q4::Q4_1_BLOCK_BYTES,
            GgmlType::Q5_0 => crate::q5::Q5_0_BLOCK_BYTES,
            GgmlType::Q5_1 => crate::q5::Q5_1_BLOCK_BYTES,
            GgmlType::Q8_0 => crate::q8_0::BLOCK_BYTES,
            GgmlType::Q2_K => crate::k_quants_low::Q2_K_BLOCK_BYTES,
            GgmlType::Q3_K => crate::k_quants_low::Q3_K_BLOCK_BYTES,
            GgmlType::Q4_K => crate::k_quants::Q4_K_BLOCK_BYTES,
            GgmlType::Q5_K => crate::k_quants::Q5_K_BLOCK_BYTES,
            GgmlType::Q6_K => crate::k_quants::Q6_K_BLOCK_BYTES,
            GgmlType::IQ4_NL => crate::iq4::IQ4_NL_BLOCK_BYTES,
            GgmlType::IQ4_XS => crate::iq4::IQ4_XS_BLOCK_BYTES,
        }
    }

    /// Whether [`crate::quantize`] can encode this type (Q2_K, Q3_K and the IQ formats are
    /// decode-only).
    pub const fn can_quantize(self) -> bool {
        !matches!(
            self,
            GgmlType::Q2_K | GgmlType::Q3_K | GgmlType::IQ4_NL | GgmlType::IQ4_XS
        )
    }

    /// Bytes that `n_values` values take in this format.
    ///
    /// # Errors
    /// [`Error::RowLength`] when `n_values` is not a multiple of [`GgmlType::block_size`].
    pub fn bytes_for(self, n_values: usize) -> Result<usize> {
        let block_size = self.block_size();
        if !n_values.is_multiple_of(block_size) {
            return Err(Error::RowLength {
                ty: self,
                len: n_values,
                block_size,
            });
        }
        Ok(n_values / block_size * self.block_bytes())
    }

    /// Values that `n_bytes` bytes of this format decode to.
    ///
    /// # Errors
    /// [`Error::ByteLength`] when `n_bytes` is not a whole number of blocks.
    pub fn values_in(self, n_bytes: usize) -> Result<usize> {
        let block_bytes = self.block_bytes();
        if !n_bytes.is_multiple_of(block_bytes) {
            return Err(Error::ByteLength {
                ty: self,
                len: n_bytes,
                block_bytes,
            });
        }
        Ok(n_bytes / block_bytes * self.block_size())
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<u32> for GgmlType {
    type Error = Error;

    fn try_from(id: u32) -> Result<Self> {
        GgmlType::from_id(id)
    }
}

impl FromStr for GgmlType {
    type Err = Error;

    /// Parses ggml.h's name of a type, ignoring ASCII case (`"q4_k"` is [`GgmlType::Q4_K`]).
    ///
    /// # Errors
    /// [`Error::UnsupportedType`] for a GGML type this crate does not decode,
    /// [`Error::UnknownTypeName`] for anything else.
    fn from_str(s: &str) -> Result<Self> {
        match GGML_TYPE_NAMES
            .iter()
            .position(|name| name.eq_ignore_ascii_case(s))
        {
            // at most 42 names: the index fits a u32
            Some(id) => GgmlType::from_id(id as u32),
            None => Err(Error::UnknownTypeName(s.to_string())),
        }
    }
}

/// ggml.h's names of its type ids, indexed by id. Ids whose support GGML removed (Q4_2, Q4_3,
/// the Q4_0_4_4 and IQ4_NL_4_4 repacks) keep their names.
const GGML_TYPE_NAMES: [&str; 42] = [
    "F32",
    "F16",
    "Q4_0",
    "Q4_1",
    "Q4_2",
    "Q4_3",
    "Q5_0",
    "Q5_1",
    "Q8_0",
    "Q8_1",
    "Q2_K",
    "Q3_K",
    "Q4_K",
    "Q5_K",
    "Q6_K",
    "Q8_K",
    "IQ2_XXS",
    "IQ2_XS",
    "IQ3_XXS",
    "IQ1_S",
    "IQ4_NL",
    "IQ3_S",
    "IQ2_S",
    "IQ4_XS",
    "I8",
    "I16",
    "I32",
    "I64",
    "F64",
    "IQ1_M",
    "BF16",
    "Q4_0_4_4",
    "Q4_0_4_8",
    "Q4_0_8_8",
    "TQ1_0",
    "TQ2_0",
    "IQ4_NL_4_4",
    "IQ4_NL_4_8",
    "IQ4_NL_8_8",
    "MXFP4",
    "NVFP4",
    "Q1_0",
];

/// ggml.h's name of type id `id`, supported here or not (`Some("Q5_0")` for 6); `None` for an
/// id it does not define.
pub fn ggml_type_name(id: u32) -> Option<&'static str> {
    GGML_TYPE_NAMES.get(usize::try_from(id).ok()?).copied()
}
