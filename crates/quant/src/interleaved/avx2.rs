//! Half a group per vector: eight `i32` lanes, one per row, each the sum of `vpmaddubsw`
//! (unsigned weight codes times signed activation codes, pairs added in 16 bits) widened by
//! `vpmaddwd`. Q8_0's codes go back to signed and multiply as magnitudes times signed
//! activations (`vpmaddubsw` would saturate on codes up to 255), so they need no offset.

use std::arch::x86_64::*;

use super::{Ahead, CHUNK, GROUP_ROWS, Kind, SCALES};
use crate::Q8Activations;
use crate::dot_q8::Q8_BLOCK;

/// The group's products into `out` (see [`super::portable`] for the arithmetic), asking for
/// the next group's records as it goes (`ahead`).
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C; `records` must hold whole records of `kind`, one per
/// block of `xq`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_group(
    kind: Kind,
    records: &[u8],
    ahead: Ahead<'_>,
    xq: &Q8Activations,
    out: &mut [f32; GROUP_ROWS],
) {
    let (first, second) = out.split_at_mut(GROUP_ROWS / 2);
    // The first half reads every line of the group (each holds both halves of a chunk).
    for ((half, out), ahead) in [first, second]
        .into_iter()
        .enumerate()
        .zip([ahead, Ahead::NONE])
    {
        let out: &mut [f32; 8] = out.try_into().expect("half a group");
        match kind {
            Kind::Q4_0 => half_group::<0>(records, ahead, xq, half, out),
            Kind::Q4_1 => half_group::<1>(records, ahead, xq, half, out),
            Kind::Q5_0 => half_group::<2>(records, ahead, xq, half, out),
            Kind::Q8_0 => half_group::<3>(records, ahead, xq, half, out),
            Kind::Q4K => half_group::<4>(records, ahead, xq, half, out),
            Kind::Q6K => half_group::<5>(records, ahead, xq, half, out),
            Kind::Q5K => half_group::<6>(records, ahead, xq, half, out),
        }
    }
}

/// Four activation codes as one `i32`, broadcast to every lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn broadcast(codes: &[i8], at: usize) -> __m256i {
    // No closures here: one passed to a function without these target features (such as
    // `array::map`) is not inlined, and this runs in the innermost loop.
    let four: &[i8; 4] = codes[at..at + 4].try_into().expect("four codes");
    let word = [four[0] as u8, four[1] as u8, four[2] as u8, four[3] as u8];
    _mm256_set1_epi32(i32::from_le_bytes(word))
}

/// The 32 bytes of half `half` of the chunk at `at`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn half_chunk(record: &[u8], at: usize, half: usize) -> __m256i {
    let at = at + half * CHUNK / 2;
    let bytes: &[u8; 32] = record[at..at + 32].try_into().expect("half a chunk");
    // SAFETY: `bytes` holds 32 bytes; the load is unaligned.
    unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
}

/// Eight f16 scales (half `half` of the sixteen at `at`) as f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn scales(record: &[u8], at: usize, half: usize) -> __m256 {
    let at = at + half * SCALES / 2;
    let bytes: &[u8; 16] = record[at..at + 16].try_into().expect("8 scales");
    // SAFETY: `bytes` holds 16 bytes; the load is unaligned.
    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) })
}

/// Eight bytes (half `half` of the sixteen at `at`: Q4_K's sub-block scales or minimums) as
/// `i32` lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn sub_scales(record: &[u8], at: usize, half: usize) -> __m256i {
    _mm256_cvtepu8_epi32(eight(record, at, half))
}

/// Eight signed bytes (half `half` of the sixteen at `at`: Q6_K's sub-block scales) as `i32`
/// lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn signed_sub_scales(record: &[u8], at: usize, half: usize) -> __m256i {
    _mm256_cvtepi8_epi32(eight(record, at, half))
}

/// Eight bytes: half `half` of the sixteen at `at`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn eight(record: &[u8], at: usize, half: usize) -> __m128i {
    let at = at + half * GROUP_ROWS / 2;
    let bytes: &[u8; 8] = record[at..at + 8].try_into().expect("8 bytes");
    _mm_set1_epi64x(i64::from_le_bytes(*bytes))
}

/// Q6_K's top two bits for chunk `c` (bits `2c, 2c + 1` of each byte of `top`) moved to bits
/// 4 and 5, the rest zero.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn top_bits(top: __m256i, c: usize) -> __m256i {
    // 16-bit shifts: what crosses into a neighbouring byte lands outside bits 4 and 5 there.
    let moved = match c {
        0 => _mm256_slli_epi16::<4>(top),
        1 => _mm256_slli_epi16::<2>(top),
        2 => top,
        _ => _mm256_srli_epi16::<2>(top),
    };
    _mm256_and_si256(moved, _mm256_set1_epi8(0x30))
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn half_group<const K: u8>(
    records: &[u8],
    ahead: Ahead<'_>,
    xq: &Q8Activations,
    half: usize,
    out: &mut [f32; 8],
) {
    let kind = Kind::from_index(K);
    let xq = xq.parts();
    let low = _mm256_set1_epi8(0x0F);
    let fifth = _mm256_set1_epi8(0x10);
    let ones = _mm256_set1_epi16(1);
    let mut acc = _mm256_setzero_ps();
    for (b, record) in records.chunks_exact(kind.record_bytes()).enumerate() {
        ahead.record(b);
        let x = &xq.codes[b * Q8_BLOCK..(b + 1) * Q8_BLOCK];
        let mut sum = _mm256_setzero_si256();
        if kind == Kind::Q8_0 {
            let signs = _mm256_set1_epi8(-128);
            for c in 0..8 {
                let w = _mm256_xor_si256(half_chunk(record, c * CHUNK, half), signs);
                let products = _mm256_maddubs_epi16(
                    _mm256_abs_epi8(w),
                    _mm256_sign_epi8(broadcast(x, 4 * c), w),
                );
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(products, ones));
            }
        } else if kind == Kind::Q6K {
            let (top_lo, top_hi) = (
                half_chunk(record, 4 * CHUNK, half),
                half_chunk(record, 5 * CHUNK, half),
            );
            // Values 0..16 and 16..32 apart: each half has its own scale.
            let (mut first, mut second) = (_mm256_setzero_si256(), _mm256_setzero_si256());
            for c in 0..4 {
                let w = half_chunk(record, c * CHUNK, half);
                let lo = _mm256_or_si256(_mm256_and_si256(w, low), top_bits(top_lo, c));
                let hi = _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(w), low),
                    top_bits(top_hi, c),
                );
                // At most 2 * 63 * 127 in a 16-bit lane: no saturation.
                let lo = _mm256_maddubs_epi16(lo, broadcast(x, 4 * c));
                let hi = _mm256_maddubs_epi16(hi, broadcast(x, 16 + 4 * c));
                first = _mm256_add_epi32(first, _mm256_madd_epi16(lo, ones));
                second = _mm256_add_epi32(second, _mm256_madd_epi16(hi, ones));
            }
            let (first_sum, at) = (xq.first_half_sums[b], kind.sub_scales_at());
            first = _mm256_sub_epi32(first, _mm256_set1_epi32(32 * first_sum));
            second = _mm256_sub_epi32(
                second,
                _mm256_set1_epi32(32 * (xq.code_sums[b] - first_sum)),
            );
            sum = _mm256_add_epi32(
                _mm256_mullo_epi32(first, signed_sub_scales(record, at, half)),
                _mm256_mullo_epi32(second, signed_sub_scales(record, at + GROUP_ROWS, half)),
            );
        } else {
            let high_bits = match kind {
                Kind::Q5_0 | Kind::Q5K => half_chunk(record, 4 * CHUNK, half),
                _ => _mm256_setzero_si256(),
            };
            for c in 0..4 {
                let w = half_chunk(record, c * CHUNK, half);
                let mut lo = _mm256_and_si256(w, low);
                let mut hi = _mm256_and_si256(_mm256_srli_epi16::<4>(w), low);
                if kind.has_fifth_bits() {
                    let fifth_where = |bit: usize| {
                        let bit = _mm256_set1_epi8(1 << bit);
                        let set = _mm256_cmpeq_epi8(_mm256_and_si256(high_bits, bit), bit);
                        _mm256_and_si256(set, fifth)
                    };
                    lo = _mm256_or_si256(lo, fifth_where(2 * c));
                    hi = _mm256_or_si256(hi, fifth_where(2 * c + 1));
                }
                // At most 2 * (31 * 127 * 2) in a 16-bit lane: no saturation.
                let products = _mm256_add_epi16(
                    _mm256_maddubs_epi16(lo, broadcast(x, 4 * c)),
                    _mm256_maddubs_epi16(hi, broadcast(x, 16 + 4 * c)),
                );
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(products, ones));
            }
            if kind.offset() != 0 {
                let offset = _mm256_set1_epi32(kind.offset() * xq.code_sums[b]);
                sum = _mm256_sub_epi32(sum, offset);
            }
        }
        if kind.has_sub_block_minimums() {
            sum = _mm256_mullo_epi32(sum, sub_scales(record, kind.sub_scales_at(), half));
        }
        let d = scales(record, kind.scales_at(), half);
        let scale = _mm256_mul_ps(d, _mm256_set1_ps(xq.scales[b]));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), scale, acc);
        let sx = _mm256_set1_ps(xq.scaled_sums[b]);
        match kind {
            Kind::Q4_1 => {
                let m = scales(record, kind.scales_at() + SCALES, half);
                acc = _mm256_fmadd_ps(m, sx, acc);
            }
            Kind::Q4K | Kind::Q5K => {
                let dmin = scales(record, kind.scales_at() + SCALES, half);
                let mn = sub_scales(record, kind.sub_scales_at() + GROUP_ROWS, half);
                acc = _mm256_fnmadd_ps(_mm256_mul_ps(dmin, _mm256_cvtepi32_ps(mn)), sx, acc);
            }
            _ => {}
        }
    }
    // SAFETY: `out` holds 8 f32; the store is unaligned.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), acc) };
}
