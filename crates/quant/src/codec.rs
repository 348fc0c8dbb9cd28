//! Whole rows: [`dequantize`] and [`quantize`] for any supported type, with length checks.

use crate::error::{Error, Result};
use crate::types::GgmlType;
use crate::{float, iq4, k_quantize, k_quants, k_quants_low, q4, q5, q8_0};

/// Decodes `bytes` of type `ty` into `out`, bit-identical to GGML's reference dequantizers.
///
/// `bytes` may hold any number of whole blocks (a row, a tensor); `out` must have exactly
/// room for the values they hold.
///
/// # Errors
/// [`Error::ByteLength`] when `bytes` is not a whole number of blocks, [`Error::BufferLength`]
/// when `out.len()` differs from the number of values in `bytes`.
pub fn dequantize(ty: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<()> {
    let n = ty.values_in(bytes.len())?;
    if out.len() != n {
        return Err(Error::BufferLength {
            what: "dequantize output (f32 values)",
            expected: n,
            got: out.len(),
        });
    }
    match ty {
        GgmlType::F32 => float::dequantize_f32(bytes.as_chunks().0, out),
        GgmlType::F16 => float::dequantize_f16(bytes.as_chunks().0, out),
        GgmlType::BF16 => float::dequantize_bf16(bytes.as_chunks().0, out),
        GgmlType::Q8_0 => blocks(bytes, out, q8_0::dequantize_block),
        GgmlType::Q4_0 => blocks(bytes, out, q4::dequantize_q4_0_block),
        GgmlType::Q4_1 => blocks(bytes, out, q4::dequantize_q4_1_block),
        GgmlType::Q5_0 => blocks(bytes, out, q5::dequantize_q5_0_block),
        GgmlType::Q5_1 => blocks(bytes, out, q5::dequantize_q5_1_block),
        GgmlType::Q2_K => blocks(bytes, out, k_quants_low::dequantize_q2_k_block),
        GgmlType::Q3_K => blocks(bytes, out, k_quants_low::dequantize_q3_k_block),
        GgmlType::Q4_K => blocks(bytes, out, k_quants::dequantize_q4_k_block),
        GgmlType::Q5_K => blocks(bytes, out, k_quants::dequantize_q5_k_block),
        GgmlType::Q6_K => blocks(bytes, out, k_quants::dequantize_q6_k_block),
        GgmlType::IQ4_NL => blocks(bytes, out, iq4::dequantize_iq4_nl_block),
        GgmlType::IQ4_XS => blocks(bytes, out, iq4::dequantize_iq4_xs_block),
    }
    Ok(())
}

/// Decodes `bytes` of type `ty` into a new vector; see [`dequantize`].
///
/// # Errors
/// [`Error::ByteLength`] when `bytes` is not a whole number of blocks.
pub fn dequantize_to_vec(ty: GgmlType, bytes: &[u8]) -> Result<Vec<f32>> {
    let mut out = vec![0.0; ty.values_in(bytes.len())?];
    dequantize(ty, bytes, &mut out)?;
    Ok(out)
}

/// Encodes the values `x` as type `ty` into `out`, bit-identical to GGML's reference
/// quantizers (`quantize_row_q8_0_ref`, `quantize_row_q4_0_ref`, `quantize_row_q4_1_ref`,
/// `quantize_row_q5_0_ref`, `quantize_row_q5_1_ref`, `quantize_row_q4_K_ref`,
/// `quantize_row_q5_K_ref`, `quantize_row_q6_K_ref`, and GGML's f32 to f16 / bf16 conversions).
///
/// `x` must be a whole number of blocks: GGML quantizes rows whose length is a multiple of the
/// block size (32 for Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1, 256 for Q4_K, Q5_K and Q6_K) and so
/// does this function; pad a row yourself if you must. Non-finite values give unspecified (but
/// non-panicking) codes in the block formats.
///
/// # Errors
/// [`Error::QuantizeUnsupported`] for the decode-only types ([`GgmlType::can_quantize`]),
/// [`Error::RowLength`] when `x.len()` is not a multiple of the block size,
/// [`Error::BufferLength`] when `out.len()` is not the encoded size ([`GgmlType::bytes_for`]).
pub fn quantize(ty: GgmlType, x: &[f32], out: &mut [u8]) -> Result<()> {
    if !ty.can_quantize() {
        return Err(Error::QuantizeUnsupported(ty));
    }
    let n = ty.bytes_for(x.len())?;
    if out.len() != n {
        return Err(Error::BufferLength {
            what: "quantize output (bytes)",
            expected: n,
            got: out.len(),
        });
    }
    match ty {
        GgmlType::F32 => float::quantize_f32(x, out.as_chunks_mut().0),
        GgmlType::F16 => float::quantize_f16(x, out.as_chunks_mut().0),
        GgmlType::BF16 => float::quantize_bf16(x, out.as_chunks_mut().0),
        GgmlType::Q8_0 => encode(x, out, q8_0::quantize_block),
        GgmlType::Q4_0 => encode(x, out, q4::quantize_q4_0_block),
        GgmlType::Q4_1 => encode(x, out, q4::quantize_q4_1_block),
        GgmlType::Q5_0 => encode(x, out, q5::quantize_q5_0_block),
        GgmlType::Q5_1 => encode(x, out, q5::quantize_q5_1_block),
        GgmlType::Q4_K => encode(x, out, k_quantize::quantize_q4_k_block),
        GgmlType::Q5_K => encode(x, out, k_quantize::quantize_q5_k_block),
        GgmlType::Q6_K => encode(x, out, k_quantize::quantize_q6_k_block),
        GgmlType::Q2_K | GgmlType::Q3_K | GgmlType::IQ4_NL | GgmlType::IQ4_XS => {
            return Err(Error::QuantizeUnsupported(ty));
        }
    }
    Ok(())
}

/// Encodes the values `x` as type `ty` into a new vector; see [`quantize`].
///
/// # Errors
/// As [`quantize`].
pub fn quantize_to_vec(ty: GgmlType, x: &[f32]) -> Result<Vec<u8>> {
    if !ty.can_quantize() {
        return Err(Error::QuantizeUnsupported(ty));
    }
    let mut out = vec![0; ty.bytes_for(x.len())?];
    quantize(ty, x, &mut out)?;
    Ok(out)
}

/// Runs a block decoder over lengths the caller has checked.
fn blocks<const B: usize, const N: usize>(
    bytes: &[u8],
    out: &mut [f32],
    decode: fn(&[u8; B], &mut [f32; N]),
) {
    for (block, o) in bytes
        .as_chunks::<B>()
        .0
        .iter()
        .zip(out.as_chunks_mut::<N>().0)
    {
        decode(block, o);
    }
}

/// Runs a block encoder over lengths the caller has checked.
fn encode<const N: usize, const B: usize>(
    x: &[f32],
    out: &mut [u8],
    code: fn(&[f32; N], &mut [u8; B]),
) {
    for (v, o) in x.as_chunks::<N>().0.iter().zip(out.as_chunks_mut::<B>().0) {
        code(v, o);
    }
}
