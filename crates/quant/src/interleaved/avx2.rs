//! Half a group per vector: eight `i32` lanes, one per row, each the sum of `vpmaddubsw`
//! (unsigned weight codes times signed activation codes, pairs added in 16 bits) widened by
//! `vpmaddwd`. Q8_0's codes go back to signed and multiply as magnitudes times signed
//! activations (`vpmaddubsw` would saturate on codes up to 255), so they need no offset.

use std::arch::x86_64::*;

use super::{CHUNK, GROUP_ROWS, Kind, SCALES};
use crate::Q8Activations;
use crate::dot_q8::Q8_BLOCK;

/// The group's products into `out` (see [`super::portable`] for the arithmetic).
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C; `records` must hold whole records of `kind`, one per
/// block of `xq`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_group(
    kind: Kind,
    records: &[u8],
    xq: &Q8Activations,
    out: &mut [f32; GROUP_ROWS],
) {
    let (first, second) = out.split_at_mut(GROUP_ROWS / 2);
    for (half, out) in [first, second].into_iter().enumerate() {
        let out: &mut [f32; 8] = out.try_into().expect("half a group");
        match kind {
            Kind::Q4_0 => half_group::<0>(records, xq, half, out),
            Kind::Q4_1 => half_group::<1>(records, xq, half, out),
            Kind::Q5_0 => half_group::<2>(records, xq, half, out),
            Kind::Q8_0 => half_group::<3>(records, xq, half, out),
            Kind::Q4K => half_group::<4>(records, xq, half, out),
        }
    }
}

/// Four activation codes as one `i32`, broadcast to every lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn broadcast(codes: &[i8], at: usize) -> __m256i {
    let four: [i8; 4] = codes[at..at + 4].try_into().expect("four codes");
    _mm256_set1_epi32(i32::from_le_bytes(four.map(|c| c as u8)))
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
    let at = at + half * GROUP_ROWS / 2;
    let bytes: &[u8; 8] = record[at..at + 8].try_into().expect("8 bytes");
    _mm256_cvtepu8_epi32(_mm_set1_epi64x(i64::from_le_bytes(*bytes)))
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn half_group<const K: u8>(records: &[u8], xq: &Q8Activations, half: usize, out: &mut [f32; 8]) {
    let kind = Kind::from_index(K);
    let (codes, block_scales, scaled_sums, code_sums) = xq.parts();
    let low = _mm256_set1_epi8(0x0F);
    let fifth = _mm256_set1_epi8(0x10);
    let ones = _mm256_set1_epi16(1);
    let mut acc = _mm256_setzero_ps();
    for (b, record) in records.chunks_exact(kind.record_bytes()).enumerate() {
        let x = &codes[b * Q8_BLOCK..(b + 1) * Q8_BLOCK];
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
        } else {
            let high_bits = match kind {
                Kind::Q5_0 => half_chunk(record, 4 * CHUNK, half),
                _ => _mm256_setzero_si256(),
            };
            for c in 0..4 {
                let w = half_chunk(record, c * CHUNK, half);
                let mut lo = _mm256_and_si256(w, low);
                let mut hi = _mm256_and_si256(_mm256_srli_epi16::<4>(w), low);
                if kind == Kind::Q5_0 {
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
                let offset = _mm256_set1_epi32(kind.offset() * code_sums[b]);
                sum = _mm256_sub_epi32(sum, offset);
            }
        }
        if kind == Kind::Q4K {
            sum = _mm256_mullo_epi32(sum, sub_scales(record, kind.sub_scales_at(), half));
        }
        let d = scales(record, kind.scales_at(), half);
        let scale = _mm256_mul_ps(d, _mm256_set1_ps(block_scales[b]));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), scale, acc);
        let sx = _mm256_set1_ps(scaled_sums[b]);
        match kind {
            Kind::Q4_1 => {
                let m = scales(record, kind.scales_at() + SCALES, half);
                acc = _mm256_fmadd_ps(m, sx, acc);
            }
            Kind::Q4K => {
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
