//! The unquantized element types: F32, F16 and BF16, one value per "block".
//!
//! Widening (F16 and BF16 to f32) is exact. Narrowing rounds to nearest, ties to even, as
//! GGML's `GGML_FP32_TO_FP16` and `ggml_compute_fp32_to_bf16` do; values too large become
//! infinities. BF16 narrowing keeps a NaN a NaN by setting its quiet bit (GGML's rule); F16
//! narrowing of a NaN gives a NaN whose payload is unspecified.

use half::f16;

/// Decodes the little-endian f16 at `bytes` to f32 (exact).
#[inline(always)]
pub(crate) fn f16_to_f32(bytes: [u8; 2]) -> f32 {
    f16::from_le_bytes(bytes).to_f32()
}

/// Encodes `x` as a little-endian f16, rounding to nearest, ties to even.
#[inline(always)]
pub(crate) fn f32_to_f16(x: f32) -> [u8; 2] {
    f16::from_f32(x).to_le_bytes()
}

/// Widens bfloat16 bits to the f32 they are the upper half of (exact, NaN payloads kept).
#[inline(always)]
pub fn bf16_bits_to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// Narrows `x` to bfloat16 bits like GGML's `ggml_compute_fp32_to_bf16`: round to nearest,
/// ties to even; a NaN keeps its sign and upper payload bits and gets the quiet bit.
#[inline(always)]
pub fn f32_to_bf16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    if bits & 0x7fff_ffff > 0x7f80_0000 {
        return ((bits >> 16) | 0x40) as u16;
    }
    // Cannot overflow: the largest non-NaN pattern, 0xff80_0000, leaves room for + 0x8000.
    ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16
}

/// F32 bytes to values: a little-endian copy that keeps every bit, NaN payloads included.
pub(crate) fn dequantize_f32(bytes: &[[u8; 4]], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = f32::from_le_bytes(*b);
    }
}

/// F16 bytes to values.
pub(crate) fn dequantize_f16(bytes: &[[u8; 2]], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = f16_to_f32(*b);
    }
}

/// BF16 bytes to values.
pub(crate) fn dequantize_bf16(bytes: &[[u8; 2]], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = bf16_bits_to_f32(u16::from_le_bytes(*b));
    }
}

/// Values to F32 bytes.
pub(crate) fn quantize_f32(x: &[f32], out: &mut [[u8; 4]]) {
    for (o, v) in out.iter_mut().zip(x) {
        *o = v.to_le_bytes();
    }
}

/// Values to F16 bytes.
pub(crate) fn quantize_f16(x: &[f32], out: &mut [[u8; 2]]) {
    for (o, v) in out.iter_mut().zip(x) {
        *o = f32_to_f16(*v);
    }
}

/// Values to BF16 bytes.
pub(crate) fn quantize_bf16(x: &[f32], out: &mut [[u8; 2]]) {
    for (o, v) in out.iter_mut().zip(x) {
        *o = f32_to_bf16_bits(*v).to_le_bytes();
    }
}
