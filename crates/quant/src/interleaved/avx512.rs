//! A whole group per vector: sixteen `i32` lanes, one per row, fed by `vpdpbusd` (four
//! unsigned weight codes times four broadcast activation codes, added to the lane).

use std::arch::x86_64::*;

use super::{Ahead, CHUNK, GROUP_ROWS, Kind, SCALES};
use crate::Q8Activations;
use crate::dot_q8::Q8_BLOCK;

/// The group's products with each of `xqs` (one to four activation rows, each weight chunk
/// loaded and unpacked once for all of them) stored into `out`, one array per row (see
/// [`super::portable`] for the arithmetic), asking for the next group's records as it goes
/// (`ahead`).
///
/// # Safety
/// The CPU must have AVX-512 F, BW and VNNI; `records` must hold whole records of `kind`, one
/// per block of each of `xqs`; `out` must have one array per row of `xqs`, at most four.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn dot_group(
    kind: Kind,
    records: &[u8],
    ahead: Ahead<'_>,
    xqs: &[&Q8Activations],
    out: &mut [[f32; GROUP_ROWS]],
) {
    match (kind, xqs.len()) {
        (Kind::Q4_0, n) => rows::<0>(records, ahead, xqs, out, n),
        (Kind::Q4_1, n) => rows::<1>(records, ahead, xqs, out, n),
        (Kind::Q5_0, n) => rows::<2>(records, ahead, xqs, out, n),
        (Kind::Q8_0, n) => rows::<3>(records, ahead, xqs, out, n),
        (Kind::Q4K, n) => rows::<4>(records, ahead, xqs, out, n),
        (Kind::Q6K, n) => rows::<5>(records, ahead, xqs, out, n),
        (Kind::Q5K, n) => rows::<6>(records, ahead, xqs, out, n),
    }
}

/// [`group`] for `n` rows (1 to 4): the row count as a constant keeps the sums in registers.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn rows<const K: u8>(
    records: &[u8],
    ahead: Ahead<'_>,
    xqs: &[&Q8Activations],
    out: &mut [[f32; GROUP_ROWS]],
    n: usize,
) {
    match n {
        1 => group::<K, 1>(records, ahead, xqs, out),
        2 => group::<K, 2>(records, ahead, xqs, out),
        3 => group::<K, 3>(records, ahead, xqs, out),
        4 => group::<K, 4>(records, ahead, xqs, out),
        _ => panic!("one to four activation rows per pass, not {n}"),
    }
}

/// Four activation codes as one `i32`, broadcast to every lane.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn broadcast(codes: &[i8], at: usize) -> __m512i {
    // No closures here: one passed to a function without these target features (such as
    // `array::map`) is not inlined, and this runs in the innermost loop.
    let four: &[i8; 4] = codes[at..at + 4].try_into().expect("four codes");
    let word = [four[0] as u8, four[1] as u8, four[2] as u8, four[3] as u8];
    _mm512_set1_epi32(i32::from_le_bytes(word))
}

/// 64 bytes of a record.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn chunk(record: &[u8], at: usize) -> __m512i {
    let bytes: &[u8; CHUNK] = record[at..at + CHUNK].try_into().expect("a chunk");
    // SAFETY: `bytes` holds 64 bytes; the load is unaligned.
    unsafe { _mm512_loadu_si512(bytes.as_ptr().cast()) }
}

/// Sixteen f16 scales of a record as f32.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn scales(record: &[u8], at: usize) -> __m512 {
    let bytes: &[u8; SCALES] = record[at..at + SCALES].try_into().expect("16 scales");
    // SAFETY: `bytes` holds 32 bytes; the load is unaligned.
    _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) })
}

/// Sixteen bytes of a record (Q4_K's sub-block scales or minimums) as `i32` lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn sub_scales(record: &[u8], at: usize) -> __m512i {
    _mm512_cvtepu8_epi32(sixteen(record, at))
}

/// Sixteen signed bytes of a record (Q6_K's sub-block scales) as `i32` lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn signed_sub_scales(record: &[u8], at: usize) -> __m512i {
    _mm512_cvtepi8_epi32(sixteen(record, at))
}

/// Sixteen bytes of a record.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn sixteen(record: &[u8], at: usize) -> __m128i {
    let bytes: &[u8; GROUP_ROWS] = record[at..at + GROUP_ROWS].try_into().expect("16 bytes");
    // SAFETY: `bytes` holds 16 bytes; the load is unaligned.
    unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
}

/// Q6_K's top two bits for chunk `c` (bits `2c, 2c + 1` of each byte of `top`) moved to bits
/// 4 and 5, the rest zero.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn top_bits(top: __m512i, c: usize) -> __m512i {
    // 16-bit shifts: what crosses into a neighbouring byte lands outside bits 4 and 5 there.
    let moved = match c {
        0 => _mm512_slli_epi16::<4>(top),
        1 => _mm512_slli_epi16::<2>(top),
        2 => top,
        _ => _mm512_srli_epi16::<2>(top),
    };
    _mm512_and_si512(moved, _mm512_set1_epi8(0x30))
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn group<const K: u8, const N: usize>(
    records: &[u8],
    ahead: Ahead<'_>,
    xqs: &[&Q8Activations],
    out: &mut [[f32; GROUP_ROWS]],
) {
    let kind = Kind::from_index(K);
    // Plain loops, not `array::from_fn`: see `broadcast`.
    let mut parts = [xqs[0].parts(); N];
    for (part, xq) in parts.iter_mut().zip(xqs) {
        *part = xq.parts();
    }
    let low = _mm512_set1_epi8(0x0F);
    let fifth = _mm512_set1_epi8(0x10);
    let mut acc = [_mm512_setzero_ps(); N];
    for (b, record) in records.chunks_exact(kind.record_bytes()).enumerate() {
        ahead.record(b);
        let mut x: [&[i8]; N] = [&[]; N];
        for (x, part) in x.iter_mut().zip(&parts) {
            *x = &part.codes[b * Q8_BLOCK..(b + 1) * Q8_BLOCK];
        }
        // Two sums per row, so that consecutive `vpdpbusd` do not wait on each other.
        let (mut s0, mut s1) = ([_mm512_setzero_si512(); N], [_mm512_setzero_si512(); N]);
        if kind == Kind::Q8_0 {
            for c in (0..8).step_by(2) {
                let (first, next) = (chunk(record, c * CHUNK), chunk(record, (c + 1) * CHUNK));
                for r in 0..N {
                    s0[r] = _mm512_dpbusd_epi32(s0[r], first, broadcast(x[r], 4 * c));
                    s1[r] = _mm512_dpbusd_epi32(s1[r], next, broadcast(x[r], 4 * c + 4));
                }
            }
        } else {
            let (high_bits, top_hi) = match kind {
                Kind::Q5_0 | Kind::Q5K => (chunk(record, 4 * CHUNK), _mm512_setzero_si512()),
                Kind::Q6K => (chunk(record, 4 * CHUNK), chunk(record, 5 * CHUNK)),
                _ => (_mm512_setzero_si512(), _mm512_setzero_si512()),
            };
            for c in 0..4 {
                let w = chunk(record, c * CHUNK);
                let mut lo = _mm512_and_si512(w, low);
                let mut hi = _mm512_and_si512(_mm512_srli_epi16::<4>(w), low);
                if kind.has_fifth_bits() {
                    let bit = |b: usize| _mm512_set1_epi8(1 << b);
                    let lo_set = _mm512_test_epi8_mask(high_bits, bit(2 * c));
                    let hi_set = _mm512_test_epi8_mask(high_bits, bit(2 * c + 1));
                    lo = _mm512_mask_add_epi8(lo, lo_set, lo, fifth);
                    hi = _mm512_mask_add_epi8(hi, hi_set, hi, fifth);
                }
                if kind == Kind::Q6K {
                    lo = _mm512_or_si512(lo, top_bits(high_bits, c));
                    hi = _mm512_or_si512(hi, top_bits(top_hi, c));
                }
                for r in 0..N {
                    s0[r] = _mm512_dpbusd_epi32(s0[r], lo, broadcast(x[r], 4 * c));
                    s1[r] = _mm512_dpbusd_epi32(s1[r], hi, broadcast(x[r], 16 + 4 * c));
                }
            }
        }
        let d = scales(record, kind.scales_at());
        let m = match kind {
            Kind::Q4_1 => scales(record, kind.scales_at() + SCALES),
            // Q4_K, Q5_K: `dmin * mn`, what the activations' scaled sum takes away.
            Kind::Q4K | Kind::Q5K => _mm512_mul_ps(
                scales(record, kind.scales_at() + SCALES),
                _mm512_cvtepi32_ps(sub_scales(record, kind.sub_scales_at() + GROUP_ROWS)),
            ),
            _ => _mm512_setzero_ps(),
        };
        let (sc, sc1) = match kind {
            Kind::Q4K | Kind::Q5K => (
                sub_scales(record, kind.sub_scales_at()),
                _mm512_setzero_si512(),
            ),
            Kind::Q6K => (
                signed_sub_scales(record, kind.sub_scales_at()),
                signed_sub_scales(record, kind.sub_scales_at() + GROUP_ROWS),
            ),
            _ => (_mm512_setzero_si512(), _mm512_setzero_si512()),
        };
        for r in 0..N {
            let xq = parts[r];
            let sum = match kind {
                // `s0` holds values 0..16 and `s1` 16..32: each half with its own scale.
                Kind::Q6K => {
                    let first = xq.first_half_sums[b];
                    let second = xq.code_sums[b] - first;
                    let lo = _mm512_sub_epi32(s0[r], _mm512_set1_epi32(32 * first));
                    let hi = _mm512_sub_epi32(s1[r], _mm512_set1_epi32(32 * second));
                    _mm512_add_epi32(_mm512_mullo_epi32(lo, sc), _mm512_mullo_epi32(hi, sc1))
                }
                _ => {
                    let mut sum = _mm512_add_epi32(s0[r], s1[r]);
                    if kind.offset() != 0 {
                        let offset = _mm512_set1_epi32(kind.offset() * xq.code_sums[b]);
                        sum = _mm512_sub_epi32(sum, offset);
                    }
                    if kind.has_sub_block_minimums() {
                        sum = _mm512_mullo_epi32(sum, sc);
                    }
                    sum
                }
            };
            let scale = _mm512_mul_ps(d, _mm512_set1_ps(xq.scales[b]));
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), scale, acc[r]);
            let sx = || _mm512_set1_ps(xq.scaled_sums[b]);
            match kind {
                Kind::Q4_1 => acc[r] = _mm512_fmadd_ps(m, sx(), acc[r]),
                Kind::Q4K | Kind::Q5K => acc[r] = _mm512_fnmadd_ps(m, sx(), acc[r]),
                _ => {}
            }
        }
    }
    for (out, acc) in out.iter_mut().zip(acc) {
        // SAFETY: `out` holds 16 f32; the store is unaligned.
        unsafe { _mm512_storeu_ps(out.as_mut_ptr(), acc) };
    }
}
