//! The k-quant encoders (Q4_K, Q5_K, Q6_K): byte for byte llama.cpp's reference quantizers
//! (vectors written by GGML's own C, `tests/data/make_k_vectors.py`), and their round-trip
//! error: within half a stored step inside each sub-block's grid, within a bound in the
//! sub-block's range and the super-block's stored scales everywhere, and an RMS error on
//! Gaussian rows below Q4_0's and Q4_1's.

use super::Rng;
use claude_quant::{GgmlType, QK_K, dequantize_to_vec, quantize, quantize_to_vec};

/// The three encoders under test.
const K_TYPES: [GgmlType; 3] = [GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K];

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run tests/data/make_k_vectors.py)"))
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    assert_eq!(bytes.len() % 4, 0);
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn f16(bytes: &[u8]) -> f32 {
    half::f16::from_le_bytes([bytes[0], bytes[1]]).to_f32()
}

mod vectors {
    //! Byte equality with `quantize_row_q{4,5,6}_K_ref` on `tests/data/quant_k_blocks.f32`.

    use super::{K_TYPES, QK_K, data, f32s};
    use claude_quant::{GgmlType, quantize, quantize_to_vec};

    fn check(ty: GgmlType) {
        let x = f32s(&data("quant_k_blocks.f32"));
        let want = data(&format!("quant_{ty}.bin"));
        let got = quantize_to_vec(ty, &x).unwrap();
        assert_eq!(got.len(), want.len(), "{ty}: byte count");
        let block_bytes = ty.block_bytes();
        for (b, (g, w)) in got
            .chunks_exact(block_bytes)
            .zip(want.chunks_exact(block_bytes))
            .enumerate()
        {
            if let Some(i) = g.iter().zip(w).position(|(g, w)| g != w) {
                panic!(
                    "{ty}: block {b} (named in tests/data/k_quantize.json) differs first at \
                     byte {i}: ours {:#04x}, llama.cpp {:#04x}; its values start {:?}",
                    g[i],
                    w[i],
                    &x[b * QK_K..b * QK_K + 8]
                );
            }
        }
    }

    #[test]
    fn q4_k_matches_llama_cpp() {
        check(GgmlType::Q4_K);
    }

    #[test]
    fn q5_k_matches_llama_cpp() {
        check(GgmlType::Q5_K);
    }

    #[test]
    fn q6_k_matches_llama_cpp() {
        check(GgmlType::Q6_K);
    }

    /// Each block is encoded on its own: one block at a time gives the row's bytes.
    #[test]
    fn blocks_are_independent() {
        let x = f32s(&data("quant_k_blocks.f32"));
        for ty in K_TYPES {
            let row = quantize_to_vec(ty, &x).unwrap();
            let mut one = vec![0u8; ty.block_bytes()];
            for (values, want) in x.chunks_exact(QK_K).zip(row.chunks_exact(ty.block_bytes())) {
                quantize(ty, values, &mut one).unwrap();
                assert_eq!(one, want, "{ty}");
            }
        }
    }
}

/// Largest code `N` of a format (codes `0..=N`; Q6_K's `l + 32` in `0..=63`) and its
/// sub-block length.
fn codes_and_sub_block(ty: GgmlType) -> (f32, usize) {
    match ty {
        GgmlType::Q4_K => (15.0, 32),
        GgmlType::Q5_K => (31.0, 32),
        GgmlType::Q6_K => (63.0, 16),
        _ => unreachable!("{ty} is not a k-quant"),
    }
}

/// The grid of every sub-block of a super-block as stored: `(step, lowest, highest)` value.
fn grids(ty: GgmlType, block: &[u8]) -> Vec<(f32, f32, f32)> {
    let (n, _) = codes_and_sub_block(ty);
    if ty == GgmlType::Q6_K {
        let d = f16(&block[208..]);
        return block[192..208]
            .iter()
            .map(|&sc| {
                let step = d * f32::from(sc as i8);
                let (a, b) = (-32.0 * step, 31.0 * step);
                (step.abs(), a.min(b), a.max(b))
            })
            .collect();
    }
    let (d, dmin) = (f16(&block[0..]), f16(&block[2..]));
    let s = &block[4..16];
    (0..8)
        .map(|j| {
            let (sc, mn) = if j < 4 {
                (s[j] & 63, s[j + 4] & 63)
            } else {
                (
                    (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4),
                    (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
                )
            };
            let (step, offset) = (d * f32::from(sc), dmin * f32::from(mn));
            (step, -offset, step * n - offset)
        })
        .collect()
}

/// Rows that stress the scale search: Gaussian super-blocks whose 16-value sub-blocks each
/// get their own magnitude (up to 1e4 apart within a block, so that small sub-blocks' scales
/// round to 0), some shifted off zero, some heavy-tailed, some one-signed, plus zeros and
/// constants. Sub-block magnitudes lie between 1e-4 and 1e4 (heavy tails reach some 40 times
/// that), well inside what the f16 scales hold.
fn hard_rows(rng: &mut Rng, n_blocks: usize) -> Vec<f32> {
    let mut w = Vec::with_capacity(n_blocks * QK_K + 4 * QK_K);
    for b in 0..n_blocks {
        let block_scale = 10f32.powf(rng.uniform() * 4.0 - 2.0);
        for _ in 0..QK_K / 16 {
            let spread = match b % 4 {
                0 => 1.0,
                1 => 10f32.powf(rng.uniform() * 2.0 - 1.0),
                _ => 10f32.powf(rng.uniform() * 4.0 - 2.0),
            };
            let shift = if b % 3 == 0 { rng.normal() * 3.0 } else { 0.0 };
            for _ in 0..16 {
                let v = match b % 5 {
                    0 => rng.normal() / (rng.uniform() + 0.1), // heavy tails
                    1 => rng.normal().abs(),                   // one sign
                    _ => rng.normal(),
                };
                w.push((v + shift) * spread * block_scale);
            }
        }
    }
    w.extend([0.0; QK_K]);
    w.extend([-0.0; QK_K]);
    w.extend([2.5; QK_K]);
    w.extend([-1e-3; QK_K]);
    w
}

/// The most rounding `v` to f16 can move it: 2^-11 relative, 2^-25 in the subnormal range.
fn f16_error(v: f32) -> f32 {
    (v.abs() / 2048.0).max(2f32.powi(-25))
}

/// A value inside its sub-block's stored grid decodes within half a stored step: the last
/// pass codes each value to the nearest grid point. Allowed on top: f32 rounding of the
/// coding and decoding arithmetic, a few units in the last place of the magnitudes involved.
#[test]
fn values_inside_the_grid_are_within_half_a_step() {
    let mut rng = Rng(0x6b);
    let w = hard_rows(&mut rng, 600);
    for ty in K_TYPES {
        let (_, sub) = codes_and_sub_block(ty);
        let packed = quantize_to_vec(ty, &w).unwrap();
        let back = dequantize_to_vec(ty, &packed).unwrap();
        let mut inside = 0usize;
        for (b, ((x, y), block)) in w
            .chunks_exact(QK_K)
            .zip(back.chunks_exact(QK_K))
            .zip(packed.chunks_exact(ty.block_bytes()))
            .enumerate()
        {
            for (j, ((step, lo, hi), (x, y))) in grids(ty, block)
                .into_iter()
                .zip(x.chunks_exact(sub).zip(y.chunks_exact(sub)))
                .enumerate()
            {
                for (&x, &y) in x.iter().zip(y) {
                    if step == 0.0 || x < lo || x > hi {
                        continue;
                    }
                    inside += 1;
                    let rounding = 4.0 * f32::EPSILON * (x.abs() + lo.abs() + hi.abs());
                    let err = (x - y).abs();
                    assert!(
                        err <= step / 2.0 + rounding,
                        "{ty} block {b} sub-block {j}: {x} in [{lo}, {hi}] came back as {y}, \
                         error {err:e} > half the step {step:e}"
                    );
                }
            }
        }
        // most values lie inside their grid (the others are clipped at an end, or in a sub-block
        // whose scale rounded to 0)
        assert!(
            inside * 3 > w.len() * 2,
            "{ty}: only {inside} values inside"
        );
    }
}

/// The whole round-trip error, per value, is at most `R / N + t + f`, with `N` the largest
/// code (15, 31, 63), `R` the value's sub-block range and `t`, `f` read off the super-block's
/// stored scales. The range of a sub-block is what its grid must span: `max(x_max, 0) -
/// min(x_min, 0)` for Q4_K and Q5_K, whose offset is never positive, and `2 max |x|` for Q6_K,
/// whose grid is symmetric.
///
/// - `R / N`, one full step of the sub-block's own grid, is the search's share: half a step
///   of rounding, and room for the least-squares fit to clip the ends (at most 0.89 of a step
///   in 25,000 varied blocks measured while writing this test).
/// - `t` is the rounding of each sub-block's scale and minimum to 6 bits in units of `d` and
///   `dmin` (Q6_K: its scale to 8 bits in units of `d`): half a unit each, the scale's times
///   codes up to `N` (Q6_K: 32), so `t = (N d + dmin) / 2` (Q6_K: `16 |d|`). With `d` about the
///   largest sub-block scale over 63 (Q6_K: 128), that is about `r / 63` (Q6_K: `r / 512`) for
///   `r` the largest sub-block range in the super-block: what a small sub-block beside a large
///   one pays (its scale may round to 0).
/// - `f` is the f16 rounding of `d` (and `dmin`) times the most it is multiplied by: `63 N`
///   (and 63) for Q4_K and Q5_K, `128 * 32` for Q6_K; it matters where `d` is an f16 subnormal.
#[test]
fn error_is_bounded_by_sub_block_range_and_stored_scales() {
    let mut rng = Rng(0x6b6b);
    let w = hard_rows(&mut rng, 600);
    for ty in K_TYPES {
        let (n, sub) = codes_and_sub_block(ty);
        let packed = quantize_to_vec(ty, &w).unwrap();
        let back = dequantize_to_vec(ty, &packed).unwrap();
        let blocks = w
            .chunks_exact(QK_K)
            .zip(back.chunks_exact(QK_K))
            .zip(packed.chunks_exact(ty.block_bytes()));
        for (b, ((x, y), block)) in blocks.enumerate() {
            let (t, f) = if ty == GgmlType::Q6_K {
                let d = f16(&block[208..]);
                (16.0 * d.abs(), 128.0 * 32.0 * f16_error(d))
            } else {
                let (d, dmin) = (f16(&block[0..]), f16(&block[2..]));
                (
                    (n * d + dmin) / 2.0,
                    63.0 * (n * f16_error(d) + f16_error(dmin)),
                )
            };
            let range = |s: &[f32]| {
                if ty == GgmlType::Q6_K {
                    2.0 * s.iter().fold(0.0f32, |m, v| m.max(v.abs()))
                } else {
                    s.iter().copied().fold(0.0f32, f32::max)
                        - s.iter().copied().fold(0.0f32, f32::min)
                }
            };
            for (j, (x, y)) in x.chunks_exact(sub).zip(y.chunks_exact(sub)).enumerate() {
                let range = range(x);
                let bound = range / n + t + f;
                for (&x, &y) in x.iter().zip(y) {
                    let err = (x - y).abs();
                    assert!(
                        err <= bound,
                        "{ty} block {b} sub-block {j} (range {range:e}, scale term {t:e}): {x} came \
                         back as {y}, error {err:e} > {bound:e}"
                    );
                }
            }
        }
    }
}

/// RMS error on unit Gaussian rows, against the 32-value formats at the same or more bits
/// per value. Measured: Q4_0 (4.5 bits) 0.082, Q4_1 (5) 0.076, Q4_K (4.5) 0.069, Q5_K (5.5)
/// 0.035, Q6_K (6.5625) 0.017, Q8_0 (8.5) 0.005; each extra bit halves the error.
#[test]
fn rms_error_on_gaussian_rows() {
    let mut rng = Rng(0x5eed);
    let w: Vec<f32> = (0..QK_K * 512).map(|_| rng.normal()).collect();
    let rms = |ty: GgmlType| {
        let back = dequantize_to_vec(ty, &quantize_to_vec(ty, &w).unwrap()).unwrap();
        let sum: f64 = w
            .iter()
            .zip(&back)
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum();
        (sum / w.len() as f64).sqrt()
    };
    let (q4_0, q4_1) = (rms(GgmlType::Q4_0), rms(GgmlType::Q4_1));
    let (q4_k, q5_k, q6_k) = (
        rms(GgmlType::Q4_K),
        rms(GgmlType::Q5_K),
        rms(GgmlType::Q6_K),
    );
    assert!(
        q4_k < q4_0 && q4_k < q4_1,
        "Q4_K {q4_k} vs Q4_0 {q4_0}, Q4_1 {q4_1}"
    );
    assert!(q4_k < 0.072, "Q4_K rms {q4_k}");
    assert!(
        q5_k < 0.037 && q5_k < q4_k / 1.8,
        "Q5_K {q5_k} vs Q4_K {q4_k}"
    );
    assert!(
        q6_k < 0.018 && q6_k < q5_k / 1.8,
        "Q6_K {q6_k} vs Q5_K {q5_k}"
    );
}

/// Zeros (of either sign) encode as all-zero bytes, as GGML's do, and decode to zeros.
#[test]
fn zeros_are_zero_bytes() {
    for ty in K_TYPES {
        for zero in [0.0f32, -0.0] {
            let packed = quantize_to_vec(ty, &[zero; 2 * QK_K]).unwrap();
            assert!(
                packed.iter().all(|&b| b == 0),
                "{ty}: {zero} gave {packed:?}"
            );
            let back = dequantize_to_vec(ty, &packed).unwrap();
            assert!(back.iter().all(|&v| v == 0.0), "{ty}");
        }
    }
}

/// Non-finite input gives some codes, not a panic; finite blocks beside it are unaffected.
#[test]
fn non_finite_input_does_not_panic() {
    let mut rng = Rng(9);
    let finite: Vec<f32> = (0..QK_K).map(|_| rng.normal()).collect();
    for ty in K_TYPES {
        let alone = quantize_to_vec(ty, &finite).unwrap();
        for bad in [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            -f32::MAX,
        ] {
            let mut w = finite.clone();
            w[3] = bad;
            w.extend(&finite);
            let mut out = vec![0u8; 2 * ty.block_bytes()];
            quantize(ty, &w, &mut out).unwrap();
            assert_eq!(&out[ty.block_bytes()..], &alone[..], "{ty} beside {bad}");
        }
    }
}

/// Rows must be whole super-blocks of 256.
#[test]
fn rows_are_whole_super_blocks() {
    for ty in K_TYPES {
        assert_eq!(ty.bytes_for(QK_K).unwrap(), ty.block_bytes());
        assert!(ty.can_quantize(), "{ty}");
        let err = quantize_to_vec(ty, &[1.0; QK_K + 32]).unwrap_err();
        assert!(
            err.to_string()
                .contains("not a multiple of the block size 256"),
            "{err}"
        );
    }
}
