//! The family kernels (Q5_0 and Q5_1, the k-quants, the IQ4 formats) on random blocks with
//! extreme scales: the AVX2 integer sums equal the portable ones exactly (so the dots are
//! bit-identical), the dots equal `sum w x̂` over the decoded weights and activation codes up
//! to f32 rounding, and stay within the 8-bit-activation tolerance of the exact f32 dot.

use super::*;
use crate::{GgmlType, dequantize_to_vec, vec_dot_f32};

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// The formats with a family kernel, and the offsets of the f16 fields in their blocks.
const FORMATS: [(GgmlType, &[usize]); 9] = [
    (GgmlType::Q5_0, &[0]),
    (GgmlType::Q5_1, &[0, 2]),
    (GgmlType::Q2_K, &[80, 82]),
    (GgmlType::Q3_K, &[108]),
    (GgmlType::Q4_K, &[0, 2]),
    (GgmlType::Q5_K, &[0, 2]),
    (GgmlType::Q6_K, &[208]),
    (GgmlType::IQ4_NL, &[0]),
    (GgmlType::IQ4_XS, &[0]),
];

/// Scales every test walks: zeros of both signs, f16's smallest subnormal and largest finite
/// value of both signs, one.
const EXTREME_SCALES: [f32; 7] = [
    0.0,
    -0.0,
    5.960_464_5e-8,
    -5.960_464_5e-8,
    65504.0,
    -65504.0,
    1.0,
];

/// `blocks` random blocks of `ty`: random bytes, the f16 fields set to extreme scales for the
/// first blocks and random finite ones (2^-10 .. 2^4, either sign) after.
fn random_row(rng: &mut Rng, ty: GgmlType, fields: &[usize], blocks: usize) -> Vec<u8> {
    let mut row = rng.bytes(blocks * ty.block_bytes());
    for (b, block) in row.chunks_exact_mut(ty.block_bytes()).enumerate() {
        for (f, &at) in fields.iter().enumerate() {
            let scale = match EXTREME_SCALES.get(b + 3 * f) {
                Some(&s) => s,
                None => {
                    let sign = if rng.next() & 1 == 0 { 1.0 } else { -1.0 };
                    sign * 2f32.powf(rng.uniform() * 14.0 - 10.0)
                }
            };
            block[at..at + 2].copy_from_slice(&half::f16::from_f32(scale).to_le_bytes());
        }
    }
    row
}

/// `n` activations in blocks of 32 whose magnitudes range from 0 to 1e4; some blocks sit
/// exactly on the code grid with codes of ±127.
fn activations(rng: &mut Rng, n: usize) -> Vec<f32> {
    let mut x = Vec::with_capacity(n);
    for b in 0..n / Q8_BLOCK {
        let kind = b % 5;
        let scale = [0.0, 1e-6, 1.0, 1e4, 3.0][kind];
        for _ in 0..Q8_BLOCK {
            let v = if kind == 4 {
                // on the grid of d = 3 / 127 at the extremes: codes +-127
                if rng.next() & 1 == 0 { 3.0 } else { -3.0 }
            } else {
                (rng.uniform() * 2.0 - 1.0) * scale
            };
            x.push(v);
        }
    }
    x
}

/// The row and `x` through both paths and the references.
fn check_row(ty: GgmlType, row: &[u8], x: &[f32]) {
    let xq = Q8Activations::quantize(x).unwrap();
    let integer = IntegerRow::ggml(ty, row).unwrap();
    let portable = dot_with(Path::Portable, integer, &xq);
    let dispatched = dot(integer, &xq);
    assert_eq!(
        portable.to_bits(),
        dispatched.to_bits(),
        "{ty}: portable {portable} vs dispatched {dispatched}"
    );
    let w = dequantize_to_vec(ty, row).unwrap();
    let mut x_hat = vec![0.0; x.len()];
    xq.dequantize_into(&mut x_hat);
    // f32 rounding of the integer path: relative to sum |w x̂| with the offsets counted, which
    // `2 max |w|` per weight block bounds
    let mut decoded = 0.0f64;
    let mut magnitude = 0.0f64;
    let mut activation_error = 0.0f64;
    let mut exact_magnitude = 0.0f64;
    for (b, (w, (x, x_hat))) in w
        .chunks_exact(ty.block_size())
        .zip(
            x.chunks_exact(ty.block_size())
                .zip(x_hat.chunks_exact(ty.block_size())),
        )
        .enumerate()
    {
        let wmax = w.iter().fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
        for (i, ((&w, &x), &xh)) in w.iter().zip(x).zip(x_hat).enumerate() {
            let (w, x, xh) = (f64::from(w), f64::from(x), f64::from(xh));
            decoded += w * xh;
            magnitude += (w.abs() + 2.0 * wmax) * xh.abs();
            exact_magnitude += (w * x).abs();
            // half an activation step per value
            let dx = f64::from(xq.scales[(b * ty.block_size() + i) / Q8_BLOCK]);
            activation_error += w.abs() * dx * 0.5;
        }
    }
    let got = f64::from(portable);
    assert!(
        (got - decoded).abs() <= 1e-5 * magnitude + 1e-30,
        "{ty}: {got} vs decoded {decoded} (magnitude {magnitude:e})"
    );
    let exact = f64::from(vec_dot_f32(ty, row, x).unwrap());
    let limit = activation_error * (1.0 + 1e-3) + 1e-5 * (magnitude + exact_magnitude) + 1e-30;
    assert!(
        (got - exact).abs() <= limit,
        "{ty}: {got} vs exact {exact}, more than the activation rounding {activation_error:e}"
    );
}

#[test]
fn family_kernels_agree_and_stay_within_the_activation_rounding() {
    let mut rng = Rng(0x5eed);
    for (ty, fields) in FORMATS {
        for blocks in [1, 2, 3, 8, 13] {
            let values = blocks * ty.block_size();
            for _ in 0..4 {
                let row = random_row(&mut rng, ty, fields, blocks);
                let x = activations(&mut rng, values);
                check_row(ty, &row, &x);
            }
        }
    }
}

/// Weight codes at both ends of their range against activation codes of ±127 everywhere: the
/// largest `vpmaddubsw` pairs the kernels form, which must not saturate.
#[test]
fn extreme_codes_do_not_saturate() {
    for (ty, fields) in FORMATS {
        for fill in [0x00u8, 0xff, 0x88, 0x77] {
            let mut row = vec![fill; 2 * ty.block_bytes()];
            for block in row.chunks_exact_mut(ty.block_bytes()) {
                for &at in fields {
                    block[at..at + 2].copy_from_slice(&half::f16::from_f32(0.5).to_le_bytes());
                }
            }
            for x in [127.0f32, -127.0] {
                let mut values = vec![x; 2 * ty.block_size()];
                values[1] = -x; // one of each sign per row
                check_row(ty, &row, &values);
            }
        }
    }
}

/// The AVX2 kernels' integer sums equal the portable ones, block by block.
#[cfg(target_arch = "x86_64")]
#[test]
fn avx2_sums_equal_portable_sums() {
    use super::simd::to_array;

    if Path::detect() != Path::Avx2 {
        eprintln!("no AVX2: nothing to compare");
        return;
    }
    let mut rng = Rng(0xabcd);
    for round in 0..500 {
        let codes: [[i8; 32]; 8] = std::array::from_fn(|_| {
            std::array::from_fn(|_| match round % 4 {
                0 => 127,
                1 => -127,
                _ => ((rng.next() % 255) as i16 - 127) as i8,
            })
        });
        let x0 = &codes[0];
        let w = rng.bytes(256);
        let sc: [u8; 8] = std::array::from_fn(|j| w[240 + j] & 63);
        let ls: [i8; 8] = std::array::from_fn(|j| (w[248 + j] & 63) as i8 - 32);
        let eight = |n: usize| -> Vec<u8> { w[..n * 8].to_vec() };
        // SAFETY (every call below): the CPU has AVX2, FMA and F16C.
        unsafe {
            let b = w[..22].try_into().unwrap();
            assert_eq!(
                q5::avx2::sum::<22, 2>(b, x0),
                q5::portable::sum::<22, 2>(b, x0),
                "Q5_0"
            );
            let blocks = eight(24);
            let blocks: &[[u8; 24]; 8] = blocks.as_chunks().0.try_into().unwrap();
            assert_eq!(
                to_array(q5::avx2::sums::<24, 4>(blocks, &codes)),
                q5::portable::sums::<24, 4>(blocks, &codes),
                "Q5_1"
            );
            assert_eq!(
                iq4::avx2::sum(&w[..16], x0),
                iq4::portable::sum(&w[..16], x0),
                "IQ4_NL"
            );
            let blocks = eight(18);
            let blocks: &[[u8; 18]; 8] = blocks.as_chunks().0.try_into().unwrap();
            assert_eq!(
                to_array(iq4::avx2::nl_sums(blocks, &codes)),
                iq4::portable::nl_sums(blocks, &codes),
                "IQ4_NL, eight blocks"
            );
            let b = w[..136].try_into().unwrap();
            assert_eq!(
                to_array(iq4::avx2::xs_sums(b, &ls, &codes)),
                iq4::portable::xs_sums(b, &ls, &codes),
                "IQ4_XS"
            );
            let b = w[..144].try_into().unwrap();
            assert_eq!(
                to_array(k_quants::avx2::q4_k(b, &sc, &codes)),
                k_quants::portable::q4_k(b, &sc, &codes),
                "Q4_K"
            );
            let b = w[..176].try_into().unwrap();
            assert_eq!(
                to_array(k_quants::avx2::q5_k(b, &sc, &codes)),
                k_quants::portable::q5_k(b, &sc, &codes),
                "Q5_K"
            );
            let b = w[..210].try_into().unwrap();
            assert_eq!(
                to_array(k_quants::avx2::q6_k(b, &codes)),
                k_quants::portable::q6_k(b, &codes),
                "Q6_K"
            );
            let b = w[..84].try_into().unwrap();
            let (sums, mins) = k_quants_low::avx2::q2_k(b, &codes);
            assert_eq!(
                (to_array(sums), to_array(mins)),
                k_quants_low::portable::q2_k(b, &codes),
                "Q2_K"
            );
            let b = w[..110].try_into().unwrap();
            let scales = crate::k_quants_low::q3_k_scales(&w[96..108]);
            assert_eq!(
                to_array(k_quants_low::avx2::q3_k(b, &scales, &codes)),
                k_quants_low::portable::q3_k(b, &scales, &codes),
                "Q3_K"
            );
        }
    }
}

/// The AVX2 folds add in `tree8`'s order: the same f32, bit for bit.
#[cfg(target_arch = "x86_64")]
#[test]
fn avx2_folds_equal_portable_folds() {
    if Path::detect() != Path::Avx2 {
        return;
    }
    let mut rng = Rng(77);
    for _ in 0..1000 {
        let mut f = || (rng.uniform() * 2.0 - 1.0) * 10f32.powf(rng.uniform() * 8.0 - 4.0);
        let a: [f32; 8] = std::array::from_fn(|_| f());
        let b: [f32; 8] = std::array::from_fn(|_| f());
        let sums: [i32; 8] = std::array::from_fn(|k| (a[k] * 1e4) as i32);
        let bytes: [u8; 8] = std::array::from_fn(|k| (b[k].to_bits() >> 7) as u8);
        // SAFETY (every call below): the CPU has AVX2, FMA and F16C.
        unsafe {
            let v = std::arch::x86_64::_mm256_loadu_si256(sums.as_ptr().cast());
            assert_eq!(simd::fold8(&b, v).to_bits(), fold8(&b, sums).to_bits());
            assert_eq!(simd::dot8(&a, &b).to_bits(), dot8(&a, &b).to_bits());
            assert_eq!(
                simd::weigh8(bytes, &a).to_bits(),
                weigh8(bytes, &a).to_bits()
            );
        }
    }
}

/// The integer-only f16 widening equals `half`'s on every bit pattern (NaNs stay NaNs).
#[test]
fn f16_widening_matches_half() {
    for bits in 0..=u16::MAX {
        let want = half::f16::from_bits(bits).to_f32();
        let got = f16_bits_to_f32(bits);
        if want.is_nan() {
            assert!(got.is_nan(), "{bits:#06x}");
        } else {
            assert_eq!(got.to_bits(), want.to_bits(), "{bits:#06x}");
        }
    }
}

/// The word-wise decoding of Q4_K's and Q5_K's scales equals the byte-wise one.
#[test]
fn scales_and_mins_decode_as_k_quants_does() {
    let mut rng = Rng(12);
    for _ in 0..1000 {
        let s = rng.bytes(12);
        let (scales, mins) = k_quants::scales_mins(&s);
        for j in 0..8 {
            assert_eq!(
                (scales[j], mins[j]),
                crate::k_quants::scale_min(j, &s),
                "{s:?}"
            );
        }
    }
}

#[test]
fn avx2_quantization_equals_portable_quantization() {
    #[cfg(target_arch = "x86_64")]
    if Path::detect() == Path::Avx2 {
        let mut rng = Rng(17);
        let mut x = activations(&mut rng, 64 * Q8_BLOCK);
        // Exact halves on a grid of d = 1 (a block whose largest value is 127), values that
        // round to ±127, a block with a NaN and one with an infinity, subnormals.
        let halves: Vec<f32> = (0..31).map(|i| i as f32 - 15.5).chain([127.0]).collect();
        x.extend(&halves);
        x.extend(halves.iter().map(|v| -v));
        let mut nan = [1.0f32; Q8_BLOCK];
        nan[5] = f32::NAN;
        let mut infinite = [0.25f32; Q8_BLOCK];
        infinite[9] = f32::NEG_INFINITY;
        x.extend(nan.iter().chain(&infinite));
        x.extend((0..Q8_BLOCK).map(|i| f32::from_bits(i as u32 + 1) * [1.0, -1.0][i % 2]));
        let mut portable = Q8Activations::quantize(&x).unwrap();
        portable.quantize_blocks(&x);
        let vector = Q8Activations::quantize(&x).unwrap();
        assert_eq!(portable.codes, vector.codes);
        assert_eq!(portable.code_sums, vector.code_sums);
        assert_eq!(portable.first_half_sums, vector.first_half_sums);
        let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&portable.scales), bits(&vector.scales));
        assert_eq!(bits(&portable.sums), bits(&vector.sums));
    }
}
