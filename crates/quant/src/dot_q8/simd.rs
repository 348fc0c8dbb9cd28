//! AVX2 building blocks of the integer kernels: loads, nibble and bit unpacking, `u8 x i8`
//! products summed to `i32`, and horizontal sums.
//!
//! Every function is compiled for AVX2, FMA and F16C; the callers reach them only from
//! functions compiled for the same features, which [`super::Path::Avx2`] guards.

use std::arch::x86_64::*;

/// 32 bytes as a vector.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn load(bytes: &[u8; 32]) -> __m256i {
    // SAFETY: `bytes` holds 32 bytes; the load is unaligned.
    unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
}

/// 32 signed activation codes as a vector.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn load_codes(codes: &[i8; 32]) -> __m256i {
    // SAFETY: `codes` holds 32 bytes; the load is unaligned.
    unsafe { _mm256_loadu_si256(codes.as_ptr().cast()) }
}

/// The first 32 bytes of `bytes` as a vector.
///
/// # Panics
/// If `bytes` is shorter (the kernels pass fixed offsets into whole blocks, so never).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn load_at(bytes: &[u8]) -> __m256i {
    load(bytes.first_chunk().expect("32 bytes"))
}

/// 32 4-bit codes from 16 bytes, in value order: the low nibbles, then the high nibbles.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn nibbles(qs: &[u8; 16]) -> __m256i {
    // SAFETY: `qs` holds 16 bytes; the load is unaligned.
    let packed = unsafe { _mm_loadu_si128(qs.as_ptr().cast()) };
    let mask = _mm_set1_epi8(0x0F);
    let lo = _mm_and_si128(packed, mask);
    let hi = _mm_and_si128(_mm_srli_epi16(packed, 4), mask);
    _mm256_set_m128i(hi, lo)
}

/// The 4-bit codes of the first 16 bytes of `bytes`; see [`nibbles`].
///
/// # Panics
/// If `bytes` is shorter (never, as for [`load_at`]).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn nibbles_at(bytes: &[u8]) -> __m256i {
    nibbles(bytes.first_chunk().expect("16 bytes"))
}

/// Byte `i` is `0xFF` where bit `i` of `bits` is set, 0 elsewhere.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn bit_bytes(bits: u32) -> __m256i {
    // byte i takes byte i / 8 of `bits`, then every bit but bit i % 8 is set
    let spread = _mm256_set_epi64x(
        0x0303_0303_0303_0303,
        0x0202_0202_0202_0202,
        0x0101_0101_0101_0101,
        0,
    );
    let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(bits as i32), spread);
    let others = _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe);
    _mm256_cmpeq_epi8(_mm256_or_si256(bytes, others), _mm256_set1_epi64x(-1))
}

/// `value` in the low eight 16-bit lanes, `high` in the upper eight: one weight scale for each
/// half of a 32-value block (the halves are 16-value sub-blocks).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn halves_i16(low: i16, high: i16) -> __m256i {
    _mm256_set_m128i(_mm_set1_epi16(high), _mm_set1_epi16(low))
}

/// Eight i32 partial sums of 32 unsigned bytes times 32 signed bytes. `vpmaddubsw` adds
/// adjacent products in saturating i16, so each pair must stay within i16: it does for weights
/// of at most 7 bits times activation codes in -127..=127 (`2 * 127 * 127 < 2^15`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dot_u8_i8(unsigned: __m256i, signed: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(unsigned, signed), _mm256_set1_epi16(1))
}

/// Eight i32 partial sums of 32 signed bytes times 32 signed bytes (the first operand's signs
/// moved onto the second, as `vpmaddubsw` takes unsigned bytes first; neither may be -128).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dot_i8_i8(a: __m256i, b: __m256i) -> __m256i {
    dot_u8_i8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a))
}

/// The sum of the eight i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn hsum(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01));
    _mm_cvtsi128_si32(s)
}

/// The lane sums of eight vectors: lane `k` is the sum of the i32 lanes of `v[k]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn hsum8(v: [__m256i; 8]) -> __m256i {
    // pairwise sums: after two rounds, lane k of each half holds half of vector k's sum
    let h01 = _mm256_hadd_epi32(v[0], v[1]);
    let h23 = _mm256_hadd_epi32(v[2], v[3]);
    let h45 = _mm256_hadd_epi32(v[4], v[5]);
    let h67 = _mm256_hadd_epi32(v[6], v[7]);
    let h0123 = _mm256_hadd_epi32(h01, h23);
    let h4567 = _mm256_hadd_epi32(h45, h67);
    let low = _mm256_permute2x128_si256(h0123, h4567, 0x20);
    let high = _mm256_permute2x128_si256(h0123, h4567, 0x31);
    _mm256_add_epi32(low, high)
}

/// The eight i32 lanes.
#[cfg(test)]
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn to_array(v: __m256i) -> [i32; 8] {
    let mut out = [0i32; 8];
    // SAFETY: `out` holds eight i32; the store is unaligned.
    unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), v) };
    out
}

/// Eight f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_f32(v: &[f32; 8]) -> __m256 {
    // SAFETY: `v` holds eight f32; the load is unaligned.
    unsafe { _mm256_loadu_ps(v.as_ptr()) }
}

/// The sum of the eight lanes in [`super::tree8`]'s order: the same f32, bit for bit.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn hsum_f32(v: __m256) -> f32 {
    // [a + e, b + f, c + g, d + h], then [(a + e) + (c + g), (b + f) + (d + h)], then their sum
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

/// As [`super::fold8`]: `tree8(a[k] * sums[k] as f32)`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn fold8(a: &[f32; 8], sums: __m256i) -> f32 {
    hsum_f32(_mm256_mul_ps(load_f32(a), _mm256_cvtepi32_ps(sums)))
}

/// As [`super::dot8`]: `tree8(a[k] * b[k])`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dot8(a: &[f32; 8], b: &[f32; 8]) -> f32 {
    hsum_f32(_mm256_mul_ps(load_f32(a), load_f32(b)))
}

/// As [`super::weigh8`]: `tree8(a[k] as f32 * b[k])`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn weigh8(a: [u8; 8], b: &[f32; 8]) -> f32 {
    let a = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(i64::from_le_bytes(a)));
    hsum_f32(_mm256_mul_ps(_mm256_cvtepi32_ps(a), load_f32(b)))
}

/// The f16 at byte `at` of each of eight blocks, widened to f32 with F16C (exact, as the
/// portable widening; only a NaN's payload may differ).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn f16x8<const B: usize>(blocks: &[[u8; B]; 8], at: usize) -> [f32; 8] {
    let bits: [u16; 8] =
        std::array::from_fn(|j| u16::from_le_bytes([blocks[j][at], blocks[j][at + 1]]));
    // SAFETY: `bits` holds eight u16 and `out` eight f32; the load and store are unaligned.
    unsafe {
        let wide = _mm256_cvtph_ps(_mm_loadu_si128(bits.as_ptr().cast()));
        let mut out = [0.0f32; 8];
        _mm256_storeu_ps(out.as_mut_ptr(), wide);
        out
    }
}

/// One block of `x` to 8-bit `codes` as [`super::quantize_block`] does it (the same scale, the
/// same codes, halves rounded away from zero, NaN to 0), in vectors of eight.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn quantize_block(x: &[f32; 32], codes: &mut [i8; 32]) -> super::QuantizedBlock {
    // SAFETY: every load reads 8 of `x`'s 32 values, the store writes `codes`' 32 bytes.
    let v: [__m256; 4] = std::array::from_fn(|i| unsafe { _mm256_loadu_ps(x[8 * i..].as_ptr()) });
    let magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MAX));
    // `max(|v|, m)` keeps `m` where `|v|` is NaN, as `f32::max` does.
    let mut lanes = _mm256_setzero_ps();
    for v in v {
        lanes = _mm256_max_ps(_mm256_and_ps(v, magnitude), lanes);
    }
    let halves = _mm_max_ps(
        _mm256_castps256_ps128(lanes),
        _mm256_extractf128_ps::<1>(lanes),
    );
    let pairs = _mm_max_ps(halves, _mm_movehl_ps(halves, halves));
    let amax = _mm_cvtss_f32(_mm_max_ss(pairs, _mm_shuffle_ps::<1>(pairs, pairs)));
    let scale = amax / 127.0;
    let inverse = _mm256_set1_ps(if scale > 0.0 { 1.0 / scale } else { 0.0 });
    let (half, minus_half) = (_mm256_set1_ps(0.5), _mm256_set1_ps(-0.5));
    let ints = v.map(|v| {
        let scaled = _mm256_mul_ps(v, inverse);
        let toward_zero = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(scaled);
        let rest = _mm256_sub_ps(scaled, toward_zero);
        // Compare masks are -1 where true: up is `- mask`, down is `+ mask`.
        let up = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GE_OQ>(rest, half));
        let down = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_LE_OQ>(rest, minus_half));
        let rounded =
            _mm256_add_epi32(_mm256_sub_epi32(_mm256_cvttps_epi32(toward_zero), up), down);
        let ordered = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_ORD_Q>(scaled, scaled));
        _mm256_and_si256(rounded, ordered)
    });
    let total = |a: __m256i, b: __m256i| {
        let s = _mm256_add_epi32(a, b);
        let s = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
        let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
        _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32::<1>(s)))
    };
    let first_half_sum = total(ints[0], ints[1]);
    let sum = first_half_sum + total(ints[2], ints[3]);
    // Packing works within 128-bit lanes: the bytes come out in fours, values 0..4, 8..12,
    // 16..20, 24..28, then 4..8, 12..16, ...; one permutation of the fours puts them in order.
    let words = [
        _mm256_packs_epi32(ints[0], ints[1]),
        _mm256_packs_epi32(ints[2], ints[3]),
    ];
    let bytes = _mm256_packs_epi16(words[0], words[1]);
    let ordered = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    // SAFETY: `codes` holds 32 bytes; the store is unaligned.
    unsafe { _mm256_storeu_si256(codes.as_mut_ptr().cast(), ordered) };
    super::QuantizedBlock {
        scale,
        sum,
        first_half_sum,
    }
}
