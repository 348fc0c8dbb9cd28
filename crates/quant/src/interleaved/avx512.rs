//! A whole group per vector: sixteen `i32` lanes, one per row, fed by `vpdpbusd` (four
//! unsigned weight codes times four broadcast activation codes, added to the lane).

use std::arch::x86_64::*;

use super::{CHUNK, GROUP_ROWS, Kind, ROWS_PER_PASS, SCALES};
use crate::Q8Activations;
use crate::dot_q8::{Q8_BLOCK, Q8Parts};

/// The group's products with each of `xqs` stored into `out`, one array per row (see
/// [`super::portable`] for the arithmetic).
///
/// Up to [`ROWS_PER_PASS`] rows, the rows' sums stay in registers over the group's records
/// and each chunk of codes is unpacked as it is used. More rows take each record in turn, its
/// codes unpacked once for all of them and their sums kept in `out`: the weights then stream
/// in evenly over the whole group's work, which keeps the memory busy while the arithmetic
/// runs (passes of four rows over the whole group had left it idle on every pass but the
/// first).
///
/// # Safety
/// The CPU must have AVX-512 F, BW and VNNI; `records` must hold whole records of `kind`, one
/// per block of each of `xqs`; `out` must have one array per row of `xqs`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn dot_group(
    kind: Kind,
    records: &[u8],
    xqs: &[Q8Activations],
    out: &mut [[f32; GROUP_ROWS]],
) {
    match kind {
        Kind::Q4_0 => rows::<0>(records, xqs, out),
        Kind::Q4_1 => rows::<1>(records, xqs, out),
        Kind::Q5_0 => rows::<2>(records, xqs, out),
        Kind::Q8_0 => rows::<3>(records, xqs, out),
        Kind::Q4K => rows::<4>(records, xqs, out),
        Kind::Q6K => rows::<5>(records, xqs, out),
        Kind::Q5K => rows::<6>(records, xqs, out),
    }
}

/// [`dot_group`] for kind number `K`: a row count up to four, as a constant, keeps the sums
/// in registers.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn rows<const K: u8>(records: &[u8], xqs: &[Q8Activations], out: &mut [[f32; GROUP_ROWS]]) {
    match xqs.len() {
        1 => in_registers::<K, 1>(records, xqs, out),
        2 => in_registers::<K, 2>(records, xqs, out),
        3 => in_registers::<K, 3>(records, xqs, out),
        4 => in_registers::<K, 4>(records, xqs, out),
        _ => in_memory::<K>(records, xqs, out),
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

/// One record's codes, unpacked to one unsigned byte per value (Q8_0's eight chunks as they
/// are; the others' values `4c + j` in `codes[c]` and `16 + 4c + j` in `codes[4 + c]`).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn unpacked(kind: Kind, record: &[u8]) -> [__m512i; 8] {
    let mut codes = [_mm512_setzero_si512(); 8];
    if kind == Kind::Q8_0 {
        for (c, codes) in codes.iter_mut().enumerate() {
            *codes = chunk(record, c * CHUNK);
        }
        return codes;
    }
    let low = _mm512_set1_epi8(0x0F);
    let fifth = _mm512_set1_epi8(0x10);
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
        codes[c] = lo;
        codes[4 + c] = hi;
    }
    codes
}

/// The two vectors of [`unpacked`] codes whose sums step `c` (0 to 3) adds: Q8_0's chunks
/// `2c` and `2c + 1`, the others' low and high nibbles of chunk `c`. Q6_K's sums are then over
/// values 0..16 and 16..32, as its two scales need.
#[inline(always)]
fn pair(kind: Kind, c: usize) -> (usize, usize) {
    match kind {
        Kind::Q8_0 => (2 * c, 2 * c + 1),
        _ => (c, 4 + c),
    }
}

/// A record's scales, shared by every activation row.
#[derive(Clone, Copy)]
struct RecordScales {
    /// `d`.
    d: __m512,
    /// What multiplies the activations' scaled sum: Q4_1's `m` (added), the k-quants'
    /// `dmin * mn` (taken away); zeros elsewhere.
    m: __m512,
    /// The integer sub-block scale (Q4_K, Q5_K; Q6_K's first half); zeros elsewhere.
    sc: __m512i,
    /// Q6_K's second half's scale; zeros elsewhere.
    sc1: __m512i,
}

impl RecordScales {
    /// The scales of a record of `kind`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn of(kind: Kind, record: &[u8]) -> RecordScales {
        let m = match kind {
            Kind::Q4_1 => scales(record, kind.scales_at() + SCALES),
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
        RecordScales {
            d: scales(record, kind.scales_at()),
            m,
            sc,
            sc1,
        }
    }
}

/// `acc` plus block `b` of one activation row `xq`, from the row's two integer sums over the
/// record (Q6_K: `s0` over values 0..16, `s1` over 16..32; any split elsewhere).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn finish_block(
    kind: Kind,
    b: usize,
    (s0, s1): (__m512i, __m512i),
    scales: &RecordScales,
    xq: &Q8Parts<'_>,
    acc: __m512,
) -> __m512 {
    let sum = match kind {
        // Each half with its own scale.
        Kind::Q6K => {
            let first = xq.first_half_sums[b];
            let second = xq.code_sums[b] - first;
            let lo = _mm512_sub_epi32(s0, _mm512_set1_epi32(32 * first));
            let hi = _mm512_sub_epi32(s1, _mm512_set1_epi32(32 * second));
            _mm512_add_epi32(
                _mm512_mullo_epi32(lo, scales.sc),
                _mm512_mullo_epi32(hi, scales.sc1),
            )
        }
        _ => {
            let mut sum = _mm512_add_epi32(s0, s1);
            if kind.offset() != 0 {
                let offset = _mm512_set1_epi32(kind.offset() * xq.code_sums[b]);
                sum = _mm512_sub_epi32(sum, offset);
            }
            if kind.has_sub_block_minimums() {
                sum = _mm512_mullo_epi32(sum, scales.sc);
            }
            sum
        }
    };
    let scale = _mm512_mul_ps(scales.d, _mm512_set1_ps(xq.scales[b]));
    let acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), scale, acc);
    let sx = || _mm512_set1_ps(xq.scaled_sums[b]);
    match kind {
        Kind::Q4_1 => _mm512_fmadd_ps(scales.m, sx(), acc),
        Kind::Q4K | Kind::Q5K => _mm512_fnmadd_ps(scales.m, sx(), acc),
        _ => acc,
    }
}

/// [`dot_group`] for `N` rows (one to four), their sums in registers: each chunk of a record
/// is unpacked and applied to every row before the next.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn in_registers<const K: u8, const N: usize>(
    records: &[u8],
    xqs: &[Q8Activations],
    out: &mut [[f32; GROUP_ROWS]],
) {
    let kind = Kind::from_index(K);
    // Plain loops, not `array::from_fn`: see `broadcast`.
    let mut parts = [xqs[0].parts(); N];
    for (part, xq) in parts.iter_mut().zip(xqs) {
        *part = xq.parts();
    }
    let mut acc = [_mm512_setzero_ps(); N];
    for (b, record) in records.chunks_exact(kind.record_bytes()).enumerate() {
        let mut x: [&[i8]; N] = [&[]; N];
        for (x, part) in x.iter_mut().zip(&parts) {
            *x = &part.codes[b * Q8_BLOCK..(b + 1) * Q8_BLOCK];
        }
        let codes = unpacked(kind, record);
        // Two sums per row, so that consecutive `vpdpbusd` do not wait on each other;
        // `codes[i]` meets activation codes `4i..4i + 4` (see `unpacked`).
        let (mut s0, mut s1) = ([_mm512_setzero_si512(); N], [_mm512_setzero_si512(); N]);
        for c in 0..4 {
            let (first, second) = pair(kind, c);
            for r in 0..N {
                s0[r] = _mm512_dpbusd_epi32(s0[r], codes[first], broadcast(x[r], 4 * first));
                s1[r] = _mm512_dpbusd_epi32(s1[r], codes[second], broadcast(x[r], 4 * second));
            }
        }
        let scales = RecordScales::of(kind, record);
        for r in 0..N {
            acc[r] = finish_block(kind, b, (s0[r], s1[r]), &scales, &parts[r], acc[r]);
        }
    }
    for (out, acc) in out.iter_mut().zip(acc) {
        // SAFETY: `out` holds 16 f32; the store is unaligned.
        unsafe { _mm512_storeu_ps(out.as_mut_ptr(), acc) };
    }
}

/// [`dot_group`] for more rows than registers hold: each record's codes are unpacked once
/// (eight vectors: Q8_0's chunks, or the others' low then high nibbles) and applied to every
/// row, [`ROWS_PER_PASS`] at a time, their sums kept in `out`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn in_memory<const K: u8>(records: &[u8], xqs: &[Q8Activations], out: &mut [[f32; GROUP_ROWS]]) {
    let kind = Kind::from_index(K);
    out.fill([0.0; GROUP_ROWS]);
    for (b, record) in records.chunks_exact(kind.record_bytes()).enumerate() {
        let codes = unpacked(kind, record);
        let scales = RecordScales::of(kind, record);
        for (xqs, out) in xqs.chunks(ROWS_PER_PASS).zip(out.chunks_mut(ROWS_PER_PASS)) {
            match xqs.len() {
                1 => add_record::<K, 1>(b, &codes, &scales, xqs, out),
                2 => add_record::<K, 2>(b, &codes, &scales, xqs, out),
                3 => add_record::<K, 3>(b, &codes, &scales, xqs, out),
                _ => add_record::<K, 4>(b, &codes, &scales, xqs, out),
            }
        }
    }
}

/// Block `b`'s unpacked `codes` times each of `N` activation rows, added to their sums in
/// `out` (the row count as a constant lets the rows' work interleave).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn add_record<const K: u8, const N: usize>(
    b: usize,
    codes: &[__m512i; 8],
    scales: &RecordScales,
    xqs: &[Q8Activations],
    out: &mut [[f32; GROUP_ROWS]],
) {
    let kind = Kind::from_index(K);
    for (xq, out) in xqs[..N].iter().zip(&mut out[..N]) {
        let xq = xq.parts();
        let x = &xq.codes[b * Q8_BLOCK..(b + 1) * Q8_BLOCK];
        // `codes[i]` meets activation codes `4i..4i + 4` (see `unpacked`).
        let (mut s0, mut s1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
        for c in 0..4 {
            let (first, second) = pair(kind, c);
            s0 = _mm512_dpbusd_epi32(s0, codes[first], broadcast(x, 4 * first));
            s1 = _mm512_dpbusd_epi32(s1, codes[second], broadcast(x, 4 * second));
        }
        // SAFETY: `out` holds 16 f32; the load and store are unaligned.
        let acc = unsafe { _mm512_loadu_ps(out.as_ptr()) };
        let acc = finish_block(kind, b, (s0, s1), scales, &xq, acc);
        unsafe { _mm512_storeu_ps(out.as_mut_ptr(), acc) };
    }
}
