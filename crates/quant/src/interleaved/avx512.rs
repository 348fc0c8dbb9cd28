//! A whole group per vector: sixteen `i32` lanes, one per row, fed by `vpdpbusd` (four
//! unsigned weight codes times four broadcast activation codes, added to the lane).

use std::arch::x86_64::*;

use super::{CHUNK, GROUP_ROWS, Kind, SCALES};
use crate::Q8Activations;
use crate::dot_q8::Q8_BLOCK;

/// The group's products with each of `xqs` (one to four activation rows, each weight chunk
/// loaded and unpacked once for all of them) into `out`, one array per row (see
/// [`super::portable`] for the arithmetic).
///
/// # Safety
/// The CPU must have AVX-512 F, BW and VNNI; `records` must hold whole records of `kind`, one
/// per block of each of `xqs`; `out` must have one array per row of `xqs`, at most four.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn dot_group(
    kind: Kind,
    records: &[u8],
    xqs: &[&Q8Activations],
    out: &mut [[f32; GROUP_ROWS]],
) {
    match (kind, xqs.len()) {
        (Kind::Q4_0, n) => rows::<0>(records, xqs, out, n),
        (Kind::Q4_1, n) => rows::<1>(records, xqs, out, n),
        (Kind::Q5_0, n) => rows::<2>(records, xqs, out, n),
        (Kind::Q8_0, n) => rows::<3>(records, xqs, out, n),
        (Kind::Q4K, n) => rows::<4>(records, xqs, out, n),
    }
}

/// [`group`] for `n` rows (1 to 4): the row count as a constant keeps the sums in registers.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn rows<const K: u8>(
    records: &[u8],
    xqs: &[&Q8Activations],
    out: &mut [[f32; GROUP_ROWS]],
    n: usize,
) {
    match n {
        1 => group::<K, 1>(records, xqs, out),
        2 => group::<K, 2>(records, xqs, out),
        3 => group::<K, 3>(records, xqs, out),
        4 => group::<K, 4>(records, xqs, out),
        _ => panic!("one to four activation rows per pass, not {n}"),
    }
}

/// Four activation codes as one `i32`, broadcast to every lane.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn broadcast(codes: &[i8], at: usize) -> __m512i {
    let four: [i8; 4] = codes[at..at + 4].try_into().expect("four codes");
    _mm512_set1_epi32(i32::from_le_bytes(four.map(|c| c as u8)))
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
    let bytes: &[u8; GROUP_ROWS] = record[at..at + GROUP_ROWS].try_into().expect("16 bytes");
    // SAFETY: `bytes` holds 16 bytes; the load is unaligned.
    _mm512_cvtepu8_epi32(unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) })
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn group<const K: u8, const N: usize>(
    records: &[u8],
    xqs: &[&Q8Activations],
    out: &mut [[f32; GROUP_ROWS]],
) {
    let kind = Kind::from_index(K);
    let parts: [_; N] = std::array::from_fn(|r| xqs[r].parts());
    let low = _mm512_set1_epi8(0x0F);
    let fifth = _mm512_set1_epi8(0x10);
    let mut acc = [_mm512_setzero_ps(); N];
    for (b, record) in records.chunks_exact(kind.record_bytes()).enumerate() {
        let x: [&[i8]; N] = std::array::from_fn(|r| &parts[r].0[b * Q8_BLOCK..(b + 1) * Q8_BLOCK]);
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
            let high_bits = match kind {
                Kind::Q5_0 => chunk(record, 4 * CHUNK),
                _ => _mm512_setzero_si512(),
            };
            for c in 0..4 {
                let w = chunk(record, c * CHUNK);
                let mut lo = _mm512_and_si512(w, low);
                let mut hi = _mm512_and_si512(_mm512_srli_epi16::<4>(w), low);
                if kind == Kind::Q5_0 {
                    let bit = |b: usize| _mm512_set1_epi8(1 << b);
                    let lo_set = _mm512_test_epi8_mask(high_bits, bit(2 * c));
                    let hi_set = _mm512_test_epi8_mask(high_bits, bit(2 * c + 1));
                    lo = _mm512_mask_add_epi8(lo, lo_set, lo, fifth);
                    hi = _mm512_mask_add_epi8(hi, hi_set, hi, fifth);
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
            // Q4_K: `dmin * mn`, what the activations' scaled sum takes away.
            Kind::Q4K => _mm512_mul_ps(
                scales(record, kind.scales_at() + SCALES),
                _mm512_cvtepi32_ps(sub_scales(record, kind.sub_scales_at() + GROUP_ROWS)),
            ),
            _ => _mm512_setzero_ps(),
        };
        let sc = match kind {
            Kind::Q4K => sub_scales(record, kind.sub_scales_at()),
            _ => _mm512_setzero_si512(),
        };
        for r in 0..N {
            let (_, block_scales, scaled_sums, code_sums) = parts[r];
            let mut sum = _mm512_add_epi32(s0[r], s1[r]);
            if kind.offset() != 0 {
                let offset = _mm512_set1_epi32(kind.offset() * code_sums[b]);
                sum = _mm512_sub_epi32(sum, offset);
            }
            if kind == Kind::Q4K {
                sum = _mm512_mullo_epi32(sum, sc);
            }
            let scale = _mm512_mul_ps(d, _mm512_set1_ps(block_scales[b]));
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), scale, acc[r]);
            match kind {
                Kind::Q4_1 => acc[r] = _mm512_fmadd_ps(m, _mm512_set1_ps(scaled_sums[b]), acc[r]),
                Kind::Q4K => acc[r] = _mm512_fnmadd_ps(m, _mm512_set1_ps(scaled_sums[b]), acc[r]),
                _ => {}
            }
        }
    }
    for (out, acc) in out.iter_mut().zip(acc) {
        // SAFETY: `out` holds 16 f32; the store is unaligned.
        unsafe { _mm512_storeu_ps(out.as_mut_ptr(), acc) };
    }
}
