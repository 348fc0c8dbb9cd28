//! Encoders for the k-quants Q4_K, Q5_K and Q6_K, byte for byte as GGML's reference quantizers
//! (`quantize_row_q4_K_ref`, `quantize_row_q5_K_ref`, `quantize_row_q6_K_ref` in
//! ggml-quants.c). [`crate::k_quants`] documents the layouts these fill. These are the bytes
//! llama.cpp's `llama-quantize` writes for these types without an importance matrix (its
//! `quantize_q4_K` and friends call the reference then); with one, GGML runs a differently
//! weighted search that this module does not implement.
//!
//! # Q4_K and Q5_K
//!
//! Each sub-block of 32 values gets its own scale `s` and offset `m >= 0` (value
//! `~ s * q - m`, codes `q` in `0..=N`, `N` = 15 or 31) from a weighted least-squares search,
//! GGML's `make_qkx2_quants`, with weight `w_i = sqrt(mean x^2) + |x_i|`:
//!
//! 1. `min = min(x_min, 0)`, `max = x_max` (a block with `max == min` gets `s = 0`, codes 0).
//!    The first guess codes `round(N (x - min) / (max - min))`, clamped to `0..=N`, with
//!    `s = (max - min) / N`, and its weighted squared error is the one to beat.
//! 2. For `k = 0..=K` it codes with the inverse scale `(N + rmin + k / 10) / (max - min)`,
//!    fits `s` and `min` to those codes by weighted least squares (or, when the fitted `min`
//!    comes out positive, `min = 0` and `s` alone), and keeps the fit whose weighted squared
//!    error is smallest. Q4_K searches `rmin = -1`, `K = 20`; Q5_K `rmin = -0.5`, `K = 15`.
//!    As in GGML, later steps measure `x - min` and `max - min` from the best `min` so far.
//!
//! The super-block then stores `d = max s / 63` and `dmin = max m / 63` as f16 and each
//! sub-block's `sc = round(s / (max s / 63))`, `mn = round(m / (max m / 63))` (6 bits each,
//! clamped to 63, packed as `get_scale_min_k4` unpacks them). Finally every value is coded
//! afresh against what was stored: `q = clamp(round((x + dmin * mn) / (d * sc)), 0, N)`, except
//! in a sub-block whose stored step `d * sc` is 0, which keeps the search's codes.
//!
//! # Q6_K
//!
//! Each sub-block of 16 values gets a signed scale from GGML's `make_qx_quants` (codes `l` in
//! `-32..=31`, weights `x^2`): with `max` the value of largest magnitude (the first on ties), it
//! tries the inverse scales `-(32 + k / 10) / max` for `k = 0, -9..=9`, fits the scale to each
//! code set by weighted least squares, and keeps the fit with the largest
//! `(sum w x l)^2 / sum w l^2` (the least weighted squared error). Sub-blocks whose largest
//! magnitude is below `1e-15` get scale 0. With `S` the scale of largest magnitude, the block
//! stores `d = S / -128` as f16 and `scales[i] = min(127, round(-128 s_i / S))`, and codes
//! `l = clamp(round(x / (d * scales[i])), -32, 31)` against them (a sub-block with stored step 0
//! keeps the search's codes). A block whose scales are all below `1e-15` is all zero bytes.
//!
//! # Bit-exactness
//!
//! Every sum, product and quotient is done in f32 in GGML's order, with no fused multiply-add,
//! and rounding to an integer uses GGML's `nearest_int` trick, which rounds halves to even.
//! That is GGML's reference as llama.cpp builds it for x86-64 (`ggml-base` gets no `-march`,
//! so no FMA); a C compiler that contracts `a * b + c` into an FMA (gcc's default on aarch64)
//! rounds some sums differently, and its bytes can differ from these and from x86-64's.
//! Non-finite input gives unspecified (but non-panicking) codes, as in the other encoders.
//!
//! # Error
//!
//! Every value inside its sub-block's stored range (`-dmin * mn ..= d * sc * N - dmin * mn`
//! for Q4_K / Q5_K, `d * sc * (-32 ..= 31)` for Q6_K) decodes within half a stored step
//! (`d * sc / 2`, plus f32 rounding), since the last pass codes it to the nearest grid point.
//! Over all values the tests bound the error by `R / N + t` plus the f16 rounding of `d` and
//! `dmin` (times at most `63 N` and 63; Q6_K `128 * 32`), with `R` the sub-block's range
//! (`max(x_max, 0) - min(x_min, 0)` for Q4_K and Q5_K, `2 max |x|` for Q6_K, `N` = 63):
//!
//! - `R / N`, a full step of the sub-block's own grid, is the search's share: half a step of
//!   rounding plus what the least-squares fit clips off the ends (under 0.9 of a step in the
//!   tests);
//! - `t = (N d + dmin) / 2` (Q6_K: `16 |d|`) is the rounding of the sub-block's scale and
//!   minimum to 6 bits (Q6_K: its scale to 8 bits) in units of the super-block's largest:
//!   about `r / 63` (Q6_K: `r / 512`) with `r` the largest sub-block range in the super-block.
//!   A sub-block far smaller than its neighbours pays it; its scale may round to 0.
//!
//! On unit Gaussian rows the RMS error is 0.069 (Q4_K), 0.035 (Q5_K) and 0.017 (Q6_K), against
//! 0.082 for Q4_0 at Q4_K's 4.5 bits per value and 0.076 for Q4_1 at 5.
//!
//! As in GGML, `d` and `dmin` are f16, which bounds the magnitudes a super-block can hold:
//! past a sub-block offset of about `63 * 65504` (4.1e6) or a sub-block range of about
//! `63 * 65504 * N` (6.2e7 Q4_K, 1.3e8 Q5_K), or (Q6_K) past a magnitude of about
//! `4096 * 65504` (2.7e8), the stored scale is infinite and the block decodes to infinities
//! and NaNs; far below 1e-5, the scales lose precision in f16's subnormals.

use crate::float::{f16_to_f32, f32_to_f16};
use crate::k_quants::{Q4_K_BLOCK_BYTES, Q5_K_BLOCK_BYTES, Q6_K_BLOCK_BYTES};
use crate::types::QK_K;

/// Values per Q4_K / Q5_K sub-block.
const SUB: usize = 32;
/// Values per Q6_K sub-block.
const SUB6: usize = 16;
/// GGML's `GROUP_MAX_EPS`: a Q6_K sub-block (or block) smaller than this is all zero.
const GROUP_MAX_EPS: f32 = 1e-15;

/// Rounds `x` to the nearest integer, halves to even, as GGML's `nearest_int`: adding
/// `1.5 * 2^23` leaves the rounded value in the low mantissa bits. Exact for `|x| < 2^22`;
/// beyond that (GGML asserts it never happens) it returns the same bits GGML does.
#[inline(always)]
fn nearest_int(x: f32) -> i32 {
    let bits = (x + 12_582_912.0).to_bits() as i32;
    (bits & 0x007f_ffff) - 0x0040_0000
}

/// The parameters of GGML's `make_qkx2_quants` search for one format.
struct Search {
    /// The largest code, `N`.
    nmax: u8,
    /// Offset of the first inverse scale tried (`rmin`).
    rmin: f32,
    /// Step between inverse scales (`rdelta`).
    rdelta: f32,
    /// Steps after the first (`nstep`).
    nstep: u8,
}

/// Q4_K's search: 4-bit codes, `make_qkx2_quants(32, 15, .., -1, 0.1, 20, false)`.
const Q4_K_SEARCH: Search = Search {
    nmax: 15,
    rmin: -1.0,
    rdelta: 0.1,
    nstep: 20,
};

/// Q5_K's search: 5-bit codes, `make_qkx2_quants(32, 31, .., -0.5, 0.1, 15, false)`.
const Q5_K_SEARCH: Search = Search {
    nmax: 31,
    rmin: -0.5,
    rdelta: 0.1,
    nstep: 15,
};

/// Weighted least-squares scale and offset of one sub-block (`make_qkx2_quants` with squared
/// errors): fills `codes` and returns `(scale, m)` with value `~ scale * code - m`, `m >= 0`.
fn scale_min_search(
    x: &[f32; SUB],
    w: &[f32; SUB],
    codes: &mut [u8; SUB],
    search: &Search,
) -> (f32, f32) {
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = w[0];
    let mut sum_x = sum_w * x[0];
    for (&v, &wi) in x.iter().zip(w).skip(1) {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
        sum_w += wi;
        sum_x += wi * v;
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        codes.fill(0);
        return (0.0, -min);
    }
    let nmax = i32::from(search.nmax);
    let nmax_f = f32::from(search.nmax);
    let code = |iscale: f32, v: f32, min: f32| nearest_int(iscale * (v - min)).clamp(0, nmax) as u8;

    let iscale = nmax_f / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for ((c, &v), &wi) in codes.iter_mut().zip(x).zip(w) {
        *c = code(iscale, v, min);
        let diff = scale * f32::from(*c) + min - v;
        best_error += wi * (diff * diff);
    }

    for step in 0..=search.nstep {
        let iscale = (search.rmin + search.rdelta * f32::from(step) + nmax_f) / (max - min);
        let trial = x.map(|v| code(iscale, v, min));
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for ((&t, &v), &wi) in trial.iter().zip(x).zip(w) {
            let l = f32::from(t);
            sum_l += wi * l;
            sum_l2 += wi * l * l;
            sum_xl += wi * l * v;
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut error = 0.0f32;
            for ((&t, &v), &wi) in trial.iter().zip(x).zip(w) {
                let diff = this_scale * f32::from(t) + this_min - v;
                error += wi * (diff * diff);
            }
            if error < best_error {
                *codes = trial;
                best_error = error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// Packs 8 six-bit scales and minimums into 12 bytes, the layout `get_scale_min_k4` reads:
/// sub-blocks 0..4 in the low 6 bits of bytes 0..4 (scale) and 4..8 (min); sub-blocks 4..8 with
/// their low nibbles in bytes 8..12 and their top two bits in the top of bytes 0..8.
fn pack_scale_min(sc: &[u8; 8], mn: &[u8; 8]) -> [u8; 12] {
    let mut s = [0u8; 12];
    for j in 0..4 {
        s[j] = sc[j] | ((sc[j + 4] >> 4) << 6);
        s[j + 4] = mn[j] | ((mn[j + 4] >> 4) << 6);
        s[j + 8] = (sc[j + 4] & 0x0f) | ((mn[j + 4] & 0x0f) << 4);
    }
    s
}

/// The header and codes of a Q4_K or Q5_K super-block: f16 `d` and `dmin`, the 12 packed scale
/// bytes and the 256 codes (each `0..=search.nmax`).
struct ScaleMinBlock {
    /// `d` as f16 bytes.
    d: [u8; 2],
    /// `dmin` as f16 bytes.
    dmin: [u8; 2],
    /// The packed 6-bit scales and minimums.
    scales: [u8; 12],
    /// One code per value.
    codes: [u8; QK_K],
}

/// Runs the Q4_K / Q5_K quantizer on one super-block, up to bit packing.
fn quantize_scale_min(x: &[f32; QK_K], search: &Search) -> ScaleMinBlock {
    let mut codes = [0u8; QK_K];
    let mut scales = [0.0f32; QK_K / SUB];
    let mut mins = [0.0f32; QK_K / SUB];
    let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
    let subs = x.as_chunks::<SUB>().0;
    let code_subs = codes.as_chunks_mut::<SUB>().0;
    for (j, (x, codes)) in subs.iter().zip(code_subs.iter_mut()).enumerate() {
        let mut sum_x2 = 0.0f32;
        for &v in x {
            sum_x2 += v * v;
        }
        let av_x = (sum_x2 / SUB as f32).sqrt();
        let w = x.map(|v| av_x + v.abs());
        (scales[j], mins[j]) = scale_min_search(x, &w, codes, search);
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
        }
    }

    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    // `as u8` wraps like C's int to uint8_t conversion (the product is at most about 63).
    let sc = scales.map(|s| (nearest_int(inv_scale * s) as u8).min(63));
    let mn = mins.map(|m| (nearest_int(inv_min * m) as u8).min(63));
    let d = f32_to_f16(max_scale / 63.0);
    let dmin = f32_to_f16(max_min / 63.0);

    let (d_f, dmin_f) = (f16_to_f32(d), f16_to_f32(dmin));
    let nmax = i32::from(search.nmax);
    for (j, (x, codes)) in subs.iter().zip(code_subs).enumerate() {
        let step = d_f * f32::from(sc[j]);
        if step == 0.0 {
            continue;
        }
        let offset = dmin_f * f32::from(mn[j]);
        for (c, &v) in codes.iter_mut().zip(x) {
            *c = nearest_int((v + offset) / step).clamp(0, nmax) as u8;
        }
    }
    ScaleMinBlock {
        d,
        dmin,
        scales: pack_scale_min(&sc, &mn),
        codes,
    }
}

/// Encodes 256 values as one Q4_K super-block, bit for bit as GGML's `quantize_row_q4_K_ref`.
pub fn quantize_q4_k_block(x: &[f32; QK_K], out: &mut [u8; Q4_K_BLOCK_BYTES]) {
    let block = quantize_scale_min(x, &Q4_K_SEARCH);
    out[0..2].copy_from_slice(&block.d);
    out[2..4].copy_from_slice(&block.dmin);
    out[4..16].copy_from_slice(&block.scales);
    // sub-blocks 2c and 2c + 1 share qs[32c..32c + 32]: low nibbles, then high nibbles
    for (qs, codes) in out[16..]
        .chunks_exact_mut(32)
        .zip(block.codes.chunks_exact(64))
    {
        let (lo, hi) = codes.split_at(32);
        for ((q, &l), &h) in qs.iter_mut().zip(lo).zip(hi) {
            *q = l | (h << 4);
        }
    }
}

/// Encodes 256 values as one Q5_K super-block, bit for bit as GGML's `quantize_row_q5_K_ref`.
pub fn quantize_q5_k_block(x: &[f32; QK_K], out: &mut [u8; Q5_K_BLOCK_BYTES]) {
    let block = quantize_scale_min(x, &Q5_K_SEARCH);
    out[0..2].copy_from_slice(&block.d);
    out[2..4].copy_from_slice(&block.dmin);
    out[4..16].copy_from_slice(&block.scales);
    let (qh, qs) = out[16..].split_at_mut(QK_K / 8);
    qh.fill(0);
    // the low four bits as in Q4_K; bit j of qh[l] is the fifth bit of value l of sub-block j
    for (c, (qs, codes)) in qs
        .chunks_exact_mut(32)
        .zip(block.codes.chunks_exact(64))
        .enumerate()
    {
        let (lo, hi) = codes.split_at(32);
        for (((q, high), &l), &h) in qs.iter_mut().zip(qh.iter_mut()).zip(lo).zip(hi) {
            *q = (l & 0x0f) | ((h & 0x0f) << 4);
            *high |= ((l >> 4) << (2 * c)) | ((h >> 4) << (2 * c + 1));
        }
    }
}

/// Signed least-squares scale of one Q6_K sub-block (`make_qx_quants(16, 32, .., 1, NULL)`):
/// fills `codes` with `l + 32` (`l` in `-32..=31`) and returns the scale, value `~ scale * l`.
fn signed_scale_search(x: &[f32; SUB6], codes: &mut [u8; SUB6]) -> f32 {
    const NMAX: i32 = 32;
    let mut max = 0.0f32;
    let mut amax = 0.0f32;
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        codes.fill(0);
        return 0.0;
    }
    // codes l (as f32, exact) for one inverse scale, then sum w x l and sum w l^2 with w = x^2,
    // in GGML's order
    let trial = |iscale: f32| {
        let l = x.map(|v| nearest_int(iscale * v).clamp(-NMAX, NMAX - 1) as f32);
        let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
        for (&v, &l) in x.iter().zip(&l) {
            let w = v * v;
            sumlx += w * v * l;
            suml2 += w * l * l;
        }
        (l, sumlx, suml2)
    };
    // l + 32 is in 0..=63
    let keep = |codes: &mut [u8; SUB6], l: &[f32; SUB6]| *codes = l.map(|l| (l + 32.0) as u8);

    let (l, sumlx, suml2) = trial(-(NMAX as f32) / max);
    keep(codes, &l);
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for step in (-9i8..=9).filter(|&s| s != 0) {
        let (l, sumlx, suml2) = trial(-(NMAX as f32 + 0.1 * f32::from(step)) / max);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            keep(codes, &l);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// Encodes 256 values as one Q6_K super-block, bit for bit as GGML's `quantize_row_q6_K_ref`.
pub fn quantize_q6_k_block(x: &[f32; QK_K], out: &mut [u8; Q6_K_BLOCK_BYTES]) {
    let mut codes = [0u8; QK_K];
    let mut scales = [0.0f32; QK_K / SUB6];
    let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
    let subs = x.as_chunks::<SUB6>().0;
    let code_subs = codes.as_chunks_mut::<SUB6>().0;
    for ((x, codes), s) in subs.iter().zip(code_subs.iter_mut()).zip(&mut scales) {
        *s = signed_scale_search(x, codes);
        if s.abs() > max_abs_scale {
            max_abs_scale = s.abs();
            max_scale = *s;
        }
    }
    if max_abs_scale < GROUP_MAX_EPS {
        out.fill(0);
        return;
    }

    let iscale = -128.0 / max_scale;
    let d = f32_to_f16(1.0 / iscale);
    // `as i8` wraps like C's int to int8_t conversion (the product lies in -128..=128)
    let sc = scales.map(|s| nearest_int(iscale * s).min(127) as i8);
    let d_f = f16_to_f32(d);
    for ((x, codes), &sc) in subs.iter().zip(code_subs).zip(&sc) {
        let step = d_f * f32::from(sc);
        if step == 0.0 {
            continue;
        }
        for (c, &v) in codes.iter_mut().zip(x) {
            *c = (nearest_int(v / step).clamp(-32, 31) + 32) as u8;
        }
    }

    let (ql, rest) = out.split_at_mut(QK_K / 2);
    let (qh, rest) = rest.split_at_mut(QK_K / 4);
    let (scale_bytes, d_bytes) = rest.split_at_mut(QK_K / 16);
    // each half of 128 values: value 32t + l keeps its low nibble in nibble t / 2 of
    // ql[32 (t % 2) + l] and its top two bits in bits 2t..2t + 2 of qh[l]
    for ((ql, qh), codes) in ql
        .chunks_exact_mut(64)
        .zip(qh.chunks_exact_mut(32))
        .zip(codes.chunks_exact(128))
    {
        let quarter = |t: usize, l: usize| codes[32 * t + l];
        for l in 0..32 {
            ql[l] = (quarter(0, l) & 0x0f) | ((quarter(2, l) & 0x0f) << 4);
            ql[l + 32] = (quarter(1, l) & 0x0f) | ((quarter(3, l) & 0x0f) << 4);
            qh[l] = (quarter(0, l) >> 4)
                | ((quarter(1, l) >> 4) << 2)
                | ((quarter(2, l) >> 4) << 4)
                | ((quarter(3, l) >> 4) << 6);
        }
    }
    for (b, s) in scale_bytes.iter_mut().zip(sc) {
        *b = s as u8;
    }
    d_bytes.copy_from_slice(&d);
}
