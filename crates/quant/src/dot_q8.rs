//! Integer dot products of packed rows with activations quantized to 8 bits, as llama.cpp
//! multiplies on the CPU: the activation row is cut into blocks of 32 values, each stored as
//! `i8` codes with one f32 scale (GGML's Q8_0, plus the scaled code sum of Q8_1), and a block of
//! weights times a block of activations is an integer dot product scaled once.
//!
//! This changes the arithmetic: the activations are rounded to 8 bits (relative error about
//! 1/254 of each block's largest value), so results differ from [`crate::vec_dot_f32`] by more
//! than rounding. It is the fast path; the exact one stays (see `PackedMatrix::dot_row`).
//!
//! On x86-64 with AVX2, FMA and F16C (checked at run time) each block is one `vpmaddubsw` /
//! `vpmaddwd` pair: unsigned 4-bit or absolute 8-bit weights times signed codes, summed in
//! 16 then 32 bits (at most `2 * 127 * 127`, no overflow). Elsewhere a portable loop computes the
//! same integers.
//!
//! Q4_0, Q4_1, Q8_0 and int8 rows have their kernels here. The other formats have one private
//! module per family (`q5`: Q5_0 and Q5_1; `k_quants`: Q4_K, Q5_K and Q6_K; `k_quants_low`:
//! Q2_K and Q3_K; `iq4`: IQ4_NL and IQ4_XS), each built the same way:
//!
//! - a kernel gives the integer sums of eight activation blocks (one k-quant super-block, or
//!   eight 32-value blocks), with the weights' sub-block scales multiplied in, once in plain
//!   Rust and once with AVX2 (eight vectors reduced together);
//! - one driver per format, shared by both paths, walks the row, decodes the scales and turns
//!   the sums into an f32 through `fold8`-like folds, whose AVX2 twins add in the same fixed
//!   tree (`tree8`).
//!
//! So the two paths compute the same integers and the same f32, bit for bit (for finite f16
//! fields; the tests check both). The sums stay below 2^24 in magnitude: they convert to f32
//! exactly.

mod iq4;
mod k_quants;
mod k_quants_low;
#[cfg(test)]
mod kernel_tests;
mod q5;
#[cfg(target_arch = "x86_64")]
mod simd;

use crate::q4::{Q4_0_BLOCK_BYTES, Q4_1_BLOCK_BYTES};
use crate::q8_0::BLOCK_BYTES as Q8_0_BYTES;
use crate::types::GgmlType;

/// Values per activation block (GGML's Q8_0 block).
pub const Q8_BLOCK: usize = crate::q8_0::BLOCK_SIZE;

/// An activation row quantized in blocks of [`Q8_BLOCK`] values: `x[i] ≈ codes[i] *
/// scales[i / 32]`.
#[derive(Debug, Clone, Default)]
pub struct Q8Activations {
    codes: Vec<i8>,
    scales: Vec<f32>,
    /// `scales[b] * sum(codes of block b)`: what a weight block's offset multiplies.
    sums: Vec<f32>,
    /// `sum(codes of block b)`: what an integer offset of the weights multiplies.
    code_sums: Vec<i32>,
    /// The sum of the first 16 codes of each block: Q6_K's offset, per sub-block of 16.
    first_half_sums: Vec<i32>,
}

/// `x` rounded to the nearest integer, halves away from zero (`f32::round`, which calls the C
/// library on x86-64 without SSE4.1; this compiles to vector instructions). For `|x| < 2^31`.
#[inline(always)]
fn round_half_away(x: f32) -> i32 {
    let toward_zero = x as i32;
    // Exact: `x` less its integer part.
    let rest = x - toward_zero as f32;
    toward_zero + i32::from(rest >= 0.5) - i32::from(rest <= -0.5)
}

/// What quantizing one block of 32 activations gives besides its codes.
pub(crate) struct QuantizedBlock {
    /// `max|x| / 127`.
    pub scale: f32,
    /// The sum of the 32 codes.
    pub sum: i32,
    /// The sum of the first 16 codes.
    pub first_half_sum: i32,
}

/// One block of `x` to 8-bit `codes`: `d = max|x| / 127`, codes `round(x / d)` (halves away
/// from zero, NaN to 0).
fn quantize_block(x: &[f32; Q8_BLOCK], codes: &mut [i8; Q8_BLOCK]) -> QuantizedBlock {
    // Eight running maxima: one fold would be a chain of scalar maxima (a maximum's reduction
    // may not be reordered without knowing there are no NaNs).
    let mut lanes = [0.0f32; 8];
    for eight in x.chunks_exact(8) {
        for (lane, v) in lanes.iter_mut().zip(eight) {
            *lane = lane.max(v.abs());
        }
    }
    let amax = lanes.iter().fold(0.0f32, |m, &v| m.max(v));
    let scale = amax / 127.0;
    let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
    for (code, &v) in codes.iter_mut().zip(x) {
        *code = round_half_away(v * inverse) as i8;
    }
    let half_sum = |half: &[i8]| half.iter().map(|&c| i32::from(c)).sum::<i32>();
    let first_half_sum = half_sum(&codes[..Q8_BLOCK / 2]);
    QuantizedBlock {
        scale,
        sum: first_half_sum + half_sum(&codes[Q8_BLOCK / 2..]),
        first_half_sum,
    }
}

/// A quantized activation vector's pieces, as the repacked kernels read them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Q8Parts<'a> {
    /// The codes.
    pub codes: &'a [i8],
    /// Each block's scale.
    pub scales: &'a [f32],
    /// Each block's scale times its code sum.
    pub scaled_sums: &'a [f32],
    /// Each block's code sum.
    pub code_sums: &'a [i32],
    /// Each block's sum of its first 16 codes.
    pub first_half_sums: &'a [i32],
}

impl Q8Activations {
    /// Quantizes `x` as GGML's `quantize_row_q8_1` does: per block, `d = max|x| / 127` and codes
    /// `round(x / d)` (halves away from zero). `None` when `x.len()` is not a multiple of 32.
    pub fn quantize(x: &[f32]) -> Option<Self> {
        let mut q = Q8Activations::default();
        q.quantize_into(x).then_some(q)
    }

    /// Like [`Q8Activations::quantize`], reusing this value's buffers; `false` (and the
    /// buffers unspecified) when `x.len()` is not a multiple of 32.
    pub fn quantize_into(&mut self, x: &[f32]) -> bool {
        if !x.len().is_multiple_of(Q8_BLOCK) {
            return false;
        }
        let blocks = x.len() / Q8_BLOCK;
        self.codes.resize(x.len(), 0);
        for v in [&mut self.code_sums, &mut self.first_half_sums] {
            v.resize(blocks, 0);
        }
        for v in [&mut self.scales, &mut self.sums] {
            v.resize(blocks, 0.0);
        }
        match Path::detect() {
            Path::Portable => self.quantize_blocks(x),
            // SAFETY: `Path::Avx2` is only made where the CPU has AVX2, FMA and F16C.
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => unsafe { self.quantize_blocks_avx2(x) },
        }
        true
    }

    /// [`quantize_blocks`](Self::quantize_blocks) on AVX2 vectors, with the same results bit
    /// for bit (NaN included): the compiler left the portable loop's maxima and saturating
    /// conversions scalar, a few cycles per value, and batched decoding quantizes every
    /// product's activation rows on one thread.
    ///
    /// # Safety
    /// The CPU must have AVX2, FMA and F16C.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn quantize_blocks_avx2(&mut self, x: &[f32]) {
        // The closure inherits this function's features: the vector block inlines into it.
        self.each_block(x, |x, codes| simd::quantize_block(x, codes));
    }

    /// Runs `quantize` on each block of 32 of `x` (a whole number of them, the buffers sized
    /// for them) and stores what it gives.
    #[inline(always)]
    fn each_block(
        &mut self,
        x: &[f32],
        mut quantize: impl FnMut(&[f32; Q8_BLOCK], &mut [i8; Q8_BLOCK]) -> QuantizedBlock,
    ) {
        let blocks = x
            .as_chunks::<Q8_BLOCK>()
            .0
            .iter()
            .zip(self.codes.as_chunks_mut::<Q8_BLOCK>().0)
            .zip(self.scales.iter_mut().zip(&mut self.sums))
            .zip(self.code_sums.iter_mut().zip(&mut self.first_half_sums));
        for (((x, codes), (scale, scaled_sum)), (sum, first_half)) in blocks {
            let block = quantize(x, codes);
            (*first_half, *sum) = (block.first_half_sum, block.sum);
            (*scale, *scaled_sum) = (block.scale, block.scale * block.sum as f32);
        }
    }

    /// Each block of 32 of `x` (a whole number of them, the buffers sized for them) by
    /// [`quantize_block`]: the portable path, and the reference of
    /// [`quantize_blocks_avx2`](Self::quantize_blocks_avx2).
    fn quantize_blocks(&mut self, x: &[f32]) {
        self.each_block(x, quantize_block);
    }

    /// The values the codes stand for, `codes[i] * scales[i / 32]`, into `out` (`len` values).
    ///
    /// # Panics
    /// If `out` has another length.
    pub fn dequantize_into(&self, out: &mut [f32]) {
        assert_eq!(out.len(), self.codes.len(), "output length");
        for ((out, codes), &d) in out
            .chunks_exact_mut(Q8_BLOCK)
            .zip(self.codes.chunks_exact(Q8_BLOCK))
            .zip(&self.scales)
        {
            for (o, &c) in out.iter_mut().zip(codes) {
                *o = f32::from(c) * d;
            }
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The codes, the blocks' scales and their code sums.
    pub(crate) fn parts(&self) -> Q8Parts<'_> {
        Q8Parts {
            codes: &self.codes,
            scales: &self.scales,
            scaled_sums: &self.sums,
            code_sums: &self.code_sums,
            first_half_sums: &self.first_half_sums,
        }
    }

    /// The blocks: codes, scale, scaled code sum.
    fn blocks(&self) -> impl Iterator<Item = (&[i8; Q8_BLOCK], f32, f32)> {
        self.codes
            .as_chunks::<Q8_BLOCK>()
            .0
            .iter()
            .zip(self.scales.iter().zip(&self.sums))
            .map(|(codes, (&d, &s))| (codes, d, s))
    }

    /// The blocks eight at a time (one k-quant super-block of 256 values): codes, scales,
    /// scaled code sums. A last group of fewer than eight blocks is left out.
    fn super_blocks(&self) -> impl Iterator<Item = (&[[i8; Q8_BLOCK]; 8], &[f32; 8], &[f32; 8])> {
        let codes = self.codes.as_chunks::<Q8_BLOCK>().0.as_chunks::<8>().0;
        let scales = self.scales.as_chunks::<8>().0;
        let sums = self.sums.as_chunks::<8>().0;
        codes
            .iter()
            .zip(scales.iter().zip(sums))
            .map(|(c, (d, s))| (c, d, s))
    }
}

/// Which implementation computes the integer sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// Plain loops, on any CPU.
    Portable,
    /// AVX2 with FMA and F16C: only [`Path::detect`] makes it, on a CPU that has them.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Path {
    /// The fastest path this CPU runs.
    pub(crate) fn detect() -> Path {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
        {
            return Path::Avx2;
        }
        Path::Portable
    }
}

/// The weight formats with an integer kernel: a row's GGML blocks (see each format's module
/// for its layout), or int8 codes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum IntegerRow<'a> {
    /// Q4_0 blocks: `d: f16, qs: [u8; 16]`, value `(q - 8) * d`.
    Q4_0(&'a [u8]),
    /// Q4_1 blocks: `d: f16, m: f16, qs: [u8; 16]`, value `q * d + m`.
    Q4_1(&'a [u8]),
    /// Q8_0 blocks: `d: f16, qs: [i8; 32]`.
    Q8_0(&'a [u8]),
    /// Int8 codes of one row with the row's scale.
    Int8(&'a [i8], f32),
    /// Q5_0 blocks.
    Q5_0(&'a [u8]),
    /// Q5_1 blocks.
    Q5_1(&'a [u8]),
    /// Q2_K super-blocks.
    Q2K(&'a [u8]),
    /// Q3_K super-blocks.
    Q3K(&'a [u8]),
    /// Q4_K super-blocks.
    Q4K(&'a [u8]),
    /// Q5_K super-blocks.
    Q5K(&'a [u8]),
    /// Q6_K super-blocks.
    Q6K(&'a [u8]),
    /// IQ4_NL blocks.
    Iq4Nl(&'a [u8]),
    /// IQ4_XS super-blocks.
    Iq4Xs(&'a [u8]),
}

impl<'a> IntegerRow<'a> {
    /// The row of GGML blocks `bytes` of type `ty`, if an integer kernel reads that type.
    pub(crate) fn ggml(ty: GgmlType, bytes: &'a [u8]) -> Option<Self> {
        Some(match ty {
            GgmlType::Q4_0 => IntegerRow::Q4_0(bytes),
            GgmlType::Q4_1 => IntegerRow::Q4_1(bytes),
            GgmlType::Q8_0 => IntegerRow::Q8_0(bytes),
            GgmlType::Q5_0 => IntegerRow::Q5_0(bytes),
            GgmlType::Q5_1 => IntegerRow::Q5_1(bytes),
            GgmlType::Q2_K => IntegerRow::Q2K(bytes),
            GgmlType::Q3_K => IntegerRow::Q3K(bytes),
            GgmlType::Q4_K => IntegerRow::Q4K(bytes),
            GgmlType::Q5_K => IntegerRow::Q5K(bytes),
            GgmlType::Q6_K => IntegerRow::Q6K(bytes),
            GgmlType::IQ4_NL => IntegerRow::Iq4Nl(bytes),
            GgmlType::IQ4_XS => IntegerRow::Iq4Xs(bytes),
            GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => return None,
        })
    }
}

/// `row · x` with `x` quantized; the row and `x` must have the same number of values.
pub(crate) fn dot(row: IntegerRow<'_>, x: &Q8Activations) -> f32 {
    dot_with(Path::detect(), row, x)
}

/// `row · x` on the path `path`.
pub(crate) fn dot_with(path: Path, row: IntegerRow<'_>, x: &Q8Activations) -> f32 {
    match row {
        IntegerRow::Q5_0(bytes) => q5::dot_q5_0(path, bytes, x),
        IntegerRow::Q5_1(bytes) => q5::dot_q5_1(path, bytes, x),
        IntegerRow::Q4K(bytes) => k_quants::dot_q4_k(path, bytes, x),
        IntegerRow::Q5K(bytes) => k_quants::dot_q5_k(path, bytes, x),
        IntegerRow::Q6K(bytes) => k_quants::dot_q6_k(path, bytes, x),
        IntegerRow::Q2K(bytes) => k_quants_low::dot_q2_k(path, bytes, x),
        IntegerRow::Q3K(bytes) => k_quants_low::dot_q3_k(path, bytes, x),
        IntegerRow::Iq4Nl(bytes) => iq4::dot_iq4_nl(path, bytes, x),
        IntegerRow::Iq4Xs(bytes) => iq4::dot_iq4_xs(path, bytes, x),
        IntegerRow::Q4_0(_) | IntegerRow::Q4_1(_) | IntegerRow::Q8_0(_) | IntegerRow::Int8(..) => {
            match path {
                Path::Portable => portable::dot(row, x),
                // SAFETY: `Path::Avx2` exists only where the CPU has the features.
                #[cfg(target_arch = "x86_64")]
                Path::Avx2 => unsafe { avx2::dot(row, x) },
            }
        }
    }
}

/// The f16 scale at `at` in a block.
#[inline(always)]
fn f16_at(block: &[u8], at: usize) -> f32 {
    f16_bits_to_f32(u16::from_le_bytes([block[at], block[at + 1]]))
}

/// Widens f16 bits to f32 exactly with integer operations and one multiplication: no run-time
/// feature check in the hot loops, as `half`'s conversion makes (the tests compare every bit
/// pattern with it).
#[inline(always)]
fn f16_bits_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits & 0x8000) << 16;
    let magnitude = u32::from(bits & 0x7fff);
    let value = if magnitude >= 0x7c00 {
        // infinities and NaNs: all-ones exponent, the payload kept
        f32::from_bits((magnitude << 13) | 0x7f80_0000)
    } else {
        // the f16 bits read as f32 bits are 2^-112 times the value (f16 subnormals become f32
        // subnormals); scaling by a power of two is exact
        f32::from_bits(magnitude << 13) * f32::from_bits(0x7780_0000)
    };
    f32::from_bits(value.to_bits() | sign)
}

/// `v[0] + ... + v[7]` in a fixed tree: the lanes of an eight-wide vector folded in halves, as
/// the AVX2 paths add them, so both give the same f32.
#[inline(always)]
fn tree8(v: [f32; 8]) -> f32 {
    let [a, b, c, d, e, f, g, h] = v;
    ((a + e) + (c + g)) + ((b + f) + (d + h))
}

/// `tree8(a[k] * sums[k] as f32)`: eight integer sums scaled and added (the sums stay below
/// 2^24 in magnitude, so they convert exactly).
#[inline(always)]
fn fold8(a: &[f32; 8], sums: [i32; 8]) -> f32 {
    tree8(std::array::from_fn(|k| a[k] * sums[k] as f32))
}

/// `tree8(a[k] as f32 * b[k])`.
#[inline(always)]
fn weigh8(a: [u8; 8], b: &[f32; 8]) -> f32 {
    tree8(std::array::from_fn(|k| f32::from(a[k]) * b[k]))
}

/// `tree8(a[k] * b[k])`.
#[inline(always)]
fn dot8(a: &[f32; 8], b: &[f32; 8]) -> f32 {
    tree8(std::array::from_fn(|k| a[k] * b[k]))
}

/// Plain loops: the same integer sums, for CPUs without AVX2.
mod portable {
    use super::*;

    /// `sum_j q_j * x_j` for 32 4-bit codes (value `j` in the low nibble of byte `j`, value
    /// `j + 16` in its high nibble).
    fn dot_u4(qs: &[u8], x: &[i8]) -> i32 {
        let (lo, hi) = x.split_at(16);
        qs.iter()
            .zip(lo.iter().zip(hi))
            .map(|(&q, (&a, &b))| {
                i32::from(q & 0x0F) * i32::from(a) + i32::from(q >> 4) * i32::from(b)
            })
            .sum()
    }

    fn dot_i8(w: &[i8], x: &[i8]) -> i32 {
        w.iter()
            .zip(x)
            .map(|(&a, &b)| i32::from(a) * i32::from(b))
            .sum()
    }

    pub(super) fn dot(row: IntegerRow<'_>, x: &Q8Activations) -> f32 {
        let blocks = x
            .codes
            .chunks_exact(Q8_BLOCK)
            .zip(x.scales.iter().zip(&x.sums));
        match row {
            IntegerRow::Q4_0(bytes) => bytes
                .chunks_exact(Q4_0_BLOCK_BYTES)
                .zip(blocks)
                .map(|(w, (xq, (&dx, &sx)))| {
                    let d = f16_at(w, 0);
                    d * (dx * dot_u4(&w[2..], xq) as f32 - 8.0 * sx)
                })
                .sum(),
            IntegerRow::Q4_1(bytes) => bytes
                .chunks_exact(Q4_1_BLOCK_BYTES)
                .zip(blocks)
                .map(|(w, (xq, (&dx, &sx)))| {
                    f16_at(w, 0) * dx * dot_u4(&w[4..], xq) as f32 + f16_at(w, 2) * sx
                })
                .sum(),
            IntegerRow::Q8_0(bytes) => bytes
                .chunks_exact(Q8_0_BYTES)
                .zip(blocks)
                .map(|(w, (xq, (&dx, _)))| {
                    let codes: &[i8] = bytemuck::cast_slice(&w[2..]);
                    f16_at(w, 0) * dx * dot_i8(codes, xq) as f32
                })
                .sum(),
            IntegerRow::Int8(codes, scale) => {
                let sum: f32 = codes
                    .chunks_exact(Q8_BLOCK)
                    .zip(blocks)
                    .map(|(w, (xq, (&dx, _)))| dx * dot_i8(w, xq) as f32)
                    .sum();
                scale * sum
            }
            _ => unreachable!("{row:?} has its own module"),
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::simd::{load_codes, nibbles};

    use super::*;

    /// The sum of the eight lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }

    /// The f16 at `at` of a block, in f32 (F16C).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn f16(block: &[u8], at: usize) -> f32 {
        let bits = u16::from_le_bytes([block[at], block[at + 1]]);
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
    }

    /// Eight i32 partial sums of 32 unsigned bytes times 32 signed codes, as f32.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn products(unsigned: __m256i, signed: __m256i) -> __m256 {
        let pairs = _mm256_maddubs_epi16(unsigned, signed);
        _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
    }

    /// Products of 32 signed weight codes with 32 activation codes (the weights' signs moved
    /// onto the activations, as `vpmaddubsw` takes unsigned bytes first).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn signed_products(w: __m256i, x: __m256i) -> __m256 {
        products(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w))
    }

    /// The activation blocks: codes, scale, scaled code sum.
    fn blocks(x: &Q8Activations) -> impl Iterator<Item = (&[i8; 32], (&f32, &f32))> {
        x.codes
            .as_chunks::<Q8_BLOCK>()
            .0
            .iter()
            .zip(x.scales.iter().zip(&x.sums))
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn dot(row: IntegerRow<'_>, x: &Q8Activations) -> f32 {
        let mut acc = _mm256_setzero_ps();
        let mut offsets = 0.0f32;
        match row {
            IntegerRow::Q4_0(bytes) => {
                for (w, (xq, (&dx, &sx))) in bytes
                    .as_chunks::<Q4_0_BLOCK_BYTES>()
                    .0
                    .iter()
                    .zip(blocks(x))
                {
                    let d = f16(w, 0);
                    let qs = w[2..].as_chunks::<16>().0[0];
                    let p = products(nibbles(&qs), load_codes(xq));
                    acc = _mm256_fmadd_ps(_mm256_set1_ps(d * dx), p, acc);
                    offsets -= 8.0 * d * sx;
                }
            }
            IntegerRow::Q4_1(bytes) => {
                for (w, (xq, (&dx, &sx))) in bytes
                    .as_chunks::<Q4_1_BLOCK_BYTES>()
                    .0
                    .iter()
                    .zip(blocks(x))
                {
                    let qs = w[4..].as_chunks::<16>().0[0];
                    let p = products(nibbles(&qs), load_codes(xq));
                    acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(w, 0) * dx), p, acc);
                    offsets += f16(w, 2) * sx;
                }
            }
            IntegerRow::Q8_0(bytes) => {
                for (w, (xq, (&dx, _))) in bytes.as_chunks::<Q8_0_BYTES>().0.iter().zip(blocks(x)) {
                    let codes: &[i8] = bytemuck::cast_slice(&w[2..]);
                    let codes = codes.as_chunks::<32>().0[0];
                    let p = signed_products(load_codes(&codes), load_codes(xq));
                    acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(w, 0) * dx), p, acc);
                }
            }
            IntegerRow::Int8(w, scale) => {
                for (w, (xq, (&dx, _))) in w.as_chunks::<Q8_BLOCK>().0.iter().zip(blocks(x)) {
                    let p = signed_products(load_codes(w), load_codes(xq));
                    acc = _mm256_fmadd_ps(_mm256_set1_ps(dx), p, acc);
                }
                return scale * hsum(acc);
            }
            _ => unreachable!("{row:?} has its own module"),
        }
        hsum(acc) + offsets
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GgmlType, Int8Matrix, dequantize_to_vec, quantize_to_vec};

    fn values(len: usize, seed: u64) -> Vec<f32> {
        (0..len as u64)
            .map(|i| {
                let h = (i ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
                (h % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn rounding_is_f32_round() {
        let halves = (-300..=300).map(|i| i as f32 * 0.5);
        let near_halves = (-300..=300).flat_map(|i| {
            let h = i as f32 * 0.5;
            [h.next_down(), h.next_up()]
        });
        let spread = (0..100_000).map(|i| (i as f32 * 0.001_37).sin() * 127.0);
        for x in halves.chain(near_halves).chain(spread) {
            assert_eq!(round_half_away(x), x.round() as i32, "{x}");
        }
        assert_eq!(round_half_away(f32::NAN), 0);
    }

    /// The kernels compute exactly `sum_b scale_b * (integer sum of the block)`: checked against
    /// an f64 sum of the decoded weights times the decoded activation codes, on both paths.
    #[test]
    fn integer_kernels_equal_the_decoded_products() {
        let n = 256;
        let w = values(n, 1);
        let x = values(n, 2);
        let q = Q8Activations::quantize(&x).unwrap();
        let x_decoded: Vec<f64> = (0..n)
            .map(|i| f64::from(q.codes[i]) * f64::from(q.scales[i / 32]))
            .collect();
        let exact = |decoded: &[f32]| -> f64 {
            decoded
                .iter()
                .zip(&x_decoded)
                .map(|(&a, &b)| f64::from(a) * b)
                .sum()
        };
        let int8 = Int8Matrix::quantize(1, n, &w).unwrap();
        let packed: Vec<(GgmlType, Vec<u8>)> = [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0]
            .into_iter()
            .map(|ty| (ty, quantize_to_vec(ty, &w).unwrap()))
            .collect();
        let mut cases: Vec<(IntegerRow<'_>, f64)> = packed
            .iter()
            .map(|(ty, bytes)| {
                let row = match ty {
                    GgmlType::Q4_0 => IntegerRow::Q4_0(bytes),
                    GgmlType::Q4_1 => IntegerRow::Q4_1(bytes),
                    _ => IntegerRow::Q8_0(bytes),
                };
                (row, exact(&dequantize_to_vec(*ty, bytes).unwrap()))
            })
            .collect();
        cases.push((
            IntegerRow::Int8(&int8.data, int8.scales[0]),
            exact(&int8.dequantize().unwrap()),
        ));
        for (row, expected) in cases {
            for (path, got) in [
                ("dispatched", dot(row, &q)),
                ("portable", portable::dot(row, &q)),
            ] {
                let got = f64::from(got);
                assert!(
                    (got - expected).abs() < 1e-4,
                    "{row:?} {path}: {got} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn activations_round_as_ggml_does() {
        let mut x = vec![0.0f32; 32];
        x[0] = 127.0;
        x[1] = 0.5; // a half: away from zero
        x[2] = -0.5;
        x[3] = -127.0;
        let q = Q8Activations::quantize(&x).unwrap();
        assert_eq!(&q.codes[..4], &[127, 1, -1, -127]);
        assert_eq!((q.scales[0], q.sums[0]), (1.0, 0.0));
        assert!(Q8Activations::quantize(&[1.0; 33]).is_none());
        let zeros = Q8Activations::quantize(&[0.0; 32]).unwrap();
        assert!(zeros.codes.iter().all(|&c| c == 0));
    }
}
