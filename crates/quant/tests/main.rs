//! The quant crate against GGML's reference: bit-exact vectors written by the `gguf` Python
//! package (`tests/data/make_vectors.py`), round-trip error bounds, dot products, int8, and
//! clear errors for bad input.

use claude_quant::Int8Matrix;

mod k_quantize;

/// A small deterministic generator (SplitMix64), so the tests need no dependencies.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Roughly normal: the sum of four uniforms, centred and scaled to unit variance.
    fn normal(&mut self) -> f32 {
        let s: f32 = (0..4).map(|_| self.uniform()).sum();
        (s - 2.0) * 3.0f32.sqrt()
    }

    /// `n` values whose blocks of `block` share a magnitude drawn from 1e-3 .. 1e3.
    fn scaled_rows(&mut self, n: usize, block: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let scale = 10f32.powf(self.uniform() * 6.0 - 3.0);
            for _ in 0..block.min(n - out.len()) {
                out.push(self.normal() * scale);
            }
        }
        out
    }
}

/// `sum a_i b_i` in f64, sequentially, and `sum |a_i b_i|`.
fn reference_dot(a: &[f32], b: &[f32]) -> (f64, f64) {
    a.iter().zip(b).fold((0.0, 0.0), |(s, m), (&a, &b)| {
        let p = f64::from(a) * f64::from(b);
        (s + p, m + p.abs())
    })
}

/// Asserts `got` is within 1e-4 relative of `want`; where the sum cancels (|want| far below
/// `sum |a_i b_i|`), within 1e-6 of that magnitude instead.
fn assert_dot_close(what: &str, got: f32, want: f64, magnitude: f64) {
    let err = (f64::from(got) - want).abs();
    assert!(
        err <= 1e-4 * want.abs() || err <= 1e-6 * magnitude,
        "{what}: got {got}, want {want} (error {err:e}, sum |w x| {magnitude:e})"
    );
}

mod vectors {
    //! Bit-exact equality with the vectors `tests/data/make_vectors.py` wrote with gguf.quants.

    use claude_quant::{GgmlType, dequantize, dequantize_to_vec, quantize_to_vec};

    fn data(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{path}: {e} (run tests/data/make_vectors.py)"))
    }

    fn f32s(bytes: &[u8]) -> Vec<f32> {
        assert_eq!(bytes.len() % 4, 0);
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    /// Panics at the first value whose bits differ, naming its index, block and both values.
    fn assert_bits_eq(ty: GgmlType, got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len(), "{ty}: value count");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(
                g.to_bits(),
                w.to_bits(),
                "{ty}: value {i} (block {}): got {g:e} ({:#010x}), gguf {w:e} ({:#010x})",
                i / ty.block_size(),
                g.to_bits(),
                w.to_bits()
            );
        }
    }

    fn check_dequantize(ty: GgmlType) {
        let input = data(&format!("dequant_{ty}.bin"));
        let want = f32s(&data(&format!("dequant_{ty}.f32")));
        assert_eq!(
            ty.values_in(input.len()).unwrap(),
            want.len(),
            "{ty}: vector sizes"
        );
        let got = dequantize_to_vec(ty, &input).unwrap();
        assert_bits_eq(ty, &got, &want);
        // block by block (the slice API on a sub-range) gives the same values
        let mut one = vec![0.0; ty.block_size()];
        let blocks = input
            .chunks_exact(ty.block_bytes())
            .zip(want.chunks_exact(ty.block_size()));
        for (block, want) in blocks.take(8) {
            dequantize(ty, block, &mut one).unwrap();
            assert_bits_eq(ty, &one, want);
        }
    }

    #[test]
    fn dequantize_f32() {
        check_dequantize(GgmlType::F32);
    }

    #[test]
    fn dequantize_f16() {
        check_dequantize(GgmlType::F16);
    }

    #[test]
    fn dequantize_bf16() {
        check_dequantize(GgmlType::BF16);
    }

    #[test]
    fn dequantize_q8_0() {
        check_dequantize(GgmlType::Q8_0);
    }

    #[test]
    fn dequantize_q4_0() {
        check_dequantize(GgmlType::Q4_0);
    }

    #[test]
    fn dequantize_q4_1() {
        check_dequantize(GgmlType::Q4_1);
    }

    #[test]
    fn dequantize_q5_0() {
        check_dequantize(GgmlType::Q5_0);
    }

    #[test]
    fn dequantize_q5_1() {
        check_dequantize(GgmlType::Q5_1);
    }

    #[test]
    fn dequantize_q2_k() {
        check_dequantize(GgmlType::Q2_K);
    }

    #[test]
    fn dequantize_q3_k() {
        check_dequantize(GgmlType::Q3_K);
    }

    #[test]
    fn dequantize_q4_k() {
        check_dequantize(GgmlType::Q4_K);
    }

    #[test]
    fn dequantize_q5_k() {
        check_dequantize(GgmlType::Q5_K);
    }

    #[test]
    fn dequantize_q6_k() {
        check_dequantize(GgmlType::Q6_K);
    }

    #[test]
    fn dequantize_iq4_nl() {
        check_dequantize(GgmlType::IQ4_NL);
    }

    #[test]
    fn dequantize_iq4_xs() {
        check_dequantize(GgmlType::IQ4_XS);
    }

    fn check_quantize(ty: GgmlType, input: &str) {
        let x = f32s(&data(input));
        let want = data(&format!("quant_{ty}.bin"));
        let got = quantize_to_vec(ty, &x).unwrap();
        assert_eq!(got.len(), want.len(), "{ty}: byte count");
        let block_bytes = ty.block_bytes();
        for (b, (g, w)) in got
            .chunks_exact(block_bytes)
            .zip(want.chunks_exact(block_bytes))
            .enumerate()
        {
            let vals = &x[b * ty.block_size()..(b + 1) * ty.block_size()];
            if ty == GgmlType::F16 && vals[0].is_nan() {
                // gguf narrows with numpy, which keeps NaN payloads its own way; a NaN suffices
                assert!(
                    half::f16::from_le_bytes([g[0], g[1]]).is_nan(),
                    "F16: value {b} is NaN"
                );
                continue;
            }
            assert_eq!(g, w, "{ty}: block {b} of values {vals:?}");
        }
    }

    #[test]
    fn quantize_q8_0() {
        check_quantize(GgmlType::Q8_0, "quant_blocks.f32");
    }

    #[test]
    fn quantize_q4_0() {
        check_quantize(GgmlType::Q4_0, "quant_blocks.f32");
    }

    #[test]
    fn quantize_q4_1() {
        check_quantize(GgmlType::Q4_1, "quant_blocks.f32");
    }

    #[test]
    fn quantize_q5_0() {
        check_quantize(GgmlType::Q5_0, "quant_blocks_q5.f32");
    }

    #[test]
    fn quantize_q5_1() {
        check_quantize(GgmlType::Q5_1, "quant_blocks_q5.f32");
    }

    #[test]
    fn quantize_f16() {
        check_quantize(GgmlType::F16, "quant_floats.f32");
    }

    #[test]
    fn quantize_bf16() {
        check_quantize(GgmlType::BF16, "quant_floats.f32");
    }

    #[test]
    fn quantize_f32_is_a_copy() {
        let x = f32s(&data("quant_floats.f32"));
        assert_eq!(
            quantize_to_vec(GgmlType::F32, &x).unwrap(),
            data("quant_floats.f32")
        );
    }

    /// The packed-row dot product on every reference vector, against gguf's decoded values.
    #[test]
    fn vec_dot_on_every_vector() {
        let mut rng = super::Rng(7);
        for ty in GgmlType::ALL {
            let input = data(&format!("dequant_{ty}.bin"));
            let want = f32s(&data(&format!("dequant_{ty}.f32")));
            if want.iter().any(|v| !v.is_finite()) {
                continue; // F32 / BF16 vectors hold NaNs and infinities on purpose
            }
            let x: Vec<f32> = (0..want.len()).map(|_| rng.normal()).collect();
            let (dot, magnitude) = super::reference_dot(&want, &x);
            let got = claude_quant::vec_dot_f32(ty, &input, &x).unwrap();
            super::assert_dot_close(ty.name(), got, dot, magnitude);
        }
    }

    /// Every block format's reference vector as a 4-row packed matrix: the integer path
    /// (`dot_row_quantized`) stays within the activations' rounding of the exact `dot_row`.
    #[test]
    fn quantized_row_dot_on_every_block_format() {
        use claude_quant::{PackedMatrix, Q8Activations};
        let mut rng = super::Rng(8);
        for ty in GgmlType::ALL.into_iter().filter(|ty| ty.block_size() > 1) {
            let input = data(&format!("dequant_{ty}.bin"));
            let want = f32s(&data(&format!("dequant_{ty}.f32")));
            let (rows, cols) = (4, want.len() / 4);
            let m = PackedMatrix::ggml(ty, rows, cols, input).unwrap();
            let x: Vec<f32> = (0..cols).map(|_| rng.normal()).collect();
            let xq = Q8Activations::quantize(&x).unwrap();
            for (r, w) in want.chunks_exact(cols).enumerate() {
                let exact = m.dot_row(r, &x);
                let fast = m.dot_row_quantized(r, &x, &xq);
                // half an activation step per value, plus f32 rounding
                let mut bound = 0.0f64;
                let mut magnitude = 0.0f64;
                for (w, x) in w.chunks_exact(32).zip(x.chunks_exact(32)) {
                    let step = f64::from(x.iter().fold(0.0f32, |m, v| m.max(v.abs()))) / 127.0;
                    for (&w, &x) in w.iter().zip(x) {
                        bound += f64::from(w).abs() * step * 0.5;
                        magnitude += (f64::from(w) * f64::from(x)).abs();
                    }
                }
                let err = (f64::from(fast) - f64::from(exact)).abs();
                assert!(
                    err <= bound * 1.001 + 1e-5 * magnitude,
                    "{ty} row {r}: integer {fast} vs exact {exact} (error {err:e} > {bound:e})"
                );
            }
        }
    }
}

mod round_trip {
    //! dequantize(quantize(w)) stays within each format's error bound.

    use super::Rng;
    use claude_quant::{GgmlType, dequantize_to_vec, quantize_to_vec};

    /// f16's unit roundoff: a normal value rounds with relative error at most 2^-11.
    const F16_EPS: f32 = 1.0 / 2048.0;

    /// The most rounding `v` to f16 can move it: 2^-11 relative for normal f16 values, half the
    /// subnormal spacing (2^-25) below 2^-14.
    fn f16_error(v: f32) -> f32 {
        (v.abs() * F16_EPS).max(2f32.powi(-25))
    }

    /// For every block: `|w - w'|` against a bound in terms of the block's statistics.
    fn check(ty: GgmlType, bound: impl Fn(&[f32]) -> f32) {
        let mut rng = Rng(ty.id().into());
        let mut w = rng.scaled_rows(32 * 512, 32);
        w.extend([0.0; 32]);
        w.extend([-3.0; 32]);
        let back = dequantize_to_vec(ty, &quantize_to_vec(ty, &w).unwrap()).unwrap();
        for (b, (w, back)) in w.chunks_exact(32).zip(back.chunks_exact(32)).enumerate() {
            let limit = bound(w);
            for (x, y) in w.iter().zip(back) {
                let err = (x - y).abs();
                assert!(
                    err <= limit,
                    "{ty} block {b}: {x} came back as {y}, error {err:e} > bound {limit:e}"
                );
            }
        }
    }

    fn amax(w: &[f32]) -> f32 {
        w.iter().fold(0.0f32, |m, v| m.max(v.abs()))
    }

    /// Q8_0: `d = amax / 127`, codes round to nearest: error <= d / 2, plus the f16 rounding
    /// of d times the largest code, plus f32 noise.
    #[test]
    fn q8_0_error_is_at_most_half_a_step() {
        check(GgmlType::Q8_0, |w| {
            let d = amax(w) / 127.0;
            d * 0.5 + 127.0 * f16_error(d) + amax(w) * 1e-6
        });
    }

    /// Q4_0: `|d| = amax / 8`; the value of largest magnitude clips from code 16 to 15 and is
    /// off by one full step, the rest by half a step; plus f16 rounding of d times 8.
    #[test]
    fn q4_0_error_is_at_most_one_step() {
        check(GgmlType::Q4_0, |w| {
            let d = amax(w) / 8.0;
            d + 8.0 * f16_error(d) + amax(w) * 1e-6
        });
    }

    /// Q4_1: `d = (max - min) / 15`, codes round to nearest: error <= d / 2, plus f16 rounding
    /// of d (times 15) and of m.
    #[test]
    fn q4_1_error_is_at_most_half_a_step() {
        check(GgmlType::Q4_1, |w| {
            let max = w.iter().copied().fold(f32::MIN, f32::max);
            let min = w.iter().copied().fold(f32::MAX, f32::min);
            let d = (max - min) / 15.0;
            d * 0.5 + 15.0 * f16_error(d) + f16_error(min) + amax(w) * 1e-6
        });
    }

    /// Q5_0: as Q4_0 with `|d| = amax / 16` and codes centred on 16.
    #[test]
    fn q5_0_error_is_at_most_one_step() {
        check(GgmlType::Q5_0, |w| {
            let d = amax(w) / 16.0;
            d + 16.0 * f16_error(d) + amax(w) * 1e-6
        });
    }

    /// Q5_1: as Q4_1 with `d = (max - min) / 31`.
    #[test]
    fn q5_1_error_is_at_most_half_a_step() {
        check(GgmlType::Q5_1, |w| {
            let max = w.iter().copied().fold(f32::MIN, f32::max);
            let min = w.iter().copied().fold(f32::MAX, f32::min);
            let d = (max - min) / 31.0;
            d * 0.5 + 31.0 * f16_error(d) + f16_error(min) + amax(w) * 1e-6
        });
    }

    /// F16 and BF16 round to nearest: relative error <= 2^-11 and 2^-8 in their normal ranges
    /// (and at most 2^-25 absolute in f16's subnormal range).
    #[test]
    fn f16_and_bf16_round_to_nearest() {
        let mut rng = Rng(3);
        let w: Vec<f32> = (0..4096)
            .map(|_| rng.normal() * 10f32.powf(rng.uniform() * 8.0 - 4.0))
            .collect();
        for (ty, bound) in [
            (GgmlType::F16, f16_error as fn(f32) -> f32),
            (GgmlType::BF16, |x: f32| x.abs() / 256.0),
        ] {
            let back = dequantize_to_vec(ty, &quantize_to_vec(ty, &w).unwrap()).unwrap();
            for (x, y) in w.iter().zip(&back) {
                assert!((x - y).abs() <= bound(*x), "{ty}: {x} came back as {y}");
            }
        }
        let back =
            dequantize_to_vec(GgmlType::F32, &quantize_to_vec(GgmlType::F32, &w).unwrap()).unwrap();
        assert_eq!(back, w);
    }

    /// Values already on a block's grid come back exactly.
    #[test]
    fn grid_values_are_exact() {
        let round_trip =
            |ty, w: &[f32]| dequantize_to_vec(ty, &quantize_to_vec(ty, w).unwrap()).unwrap();
        // Q8_0: amax 127 gives d = 1
        let w8: Vec<f32> = (0..32).map(|i| (i * 8 - 127) as f32).collect();
        assert_eq!(round_trip(GgmlType::Q8_0, &w8), w8);
        // Q4_0: the largest magnitude is +8, so d = -1 and codes 0..15 cover 8 down to -7
        let w4: Vec<f32> = (-8..8).chain(-8..8).map(|i| -(i as f32)).collect();
        assert_eq!(round_trip(GgmlType::Q4_0, &w4), w4);
        // Q4_1: min -16, max -1 gives d = 1, m = -16
        let w41: Vec<f32> = (-16..0).chain(-16..0).map(|i| i as f32).collect();
        assert_eq!(round_trip(GgmlType::Q4_1, &w41), w41);
    }
}

mod dot {
    //! vec_dot_f32 against dequantize-then-dot.

    use super::{Rng, assert_dot_close, reference_dot};
    use claude_quant::{GgmlType, dequantize_to_vec, dot_f32, quantize_to_vec, vec_dot_f32};

    #[test]
    fn quantized_rows_match_dequantize_then_dot() {
        let mut rng = Rng(11);
        for ty in GgmlType::ALL.into_iter().filter(|ty| ty.can_quantize()) {
            for n_blocks in [1, 2, 3, 7, 64, 129] {
                let n = ty.block_size().max(32) * n_blocks;
                let w = rng.scaled_rows(n, 32);
                let x: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
                let row = quantize_to_vec(ty, &w).unwrap();
                let decoded = dequantize_to_vec(ty, &row).unwrap();
                let (want, magnitude) = reference_dot(&decoded, &x);
                let got = vec_dot_f32(ty, &row, &x).unwrap();
                assert_dot_close(&format!("{ty} x {n}"), got, want, magnitude);
            }
        }
    }

    /// K-quant rows (random bytes, finite scales) through the decode-and-dot path.
    #[test]
    fn k_quant_rows_match_dequantize_then_dot() {
        let mut rng = Rng(12);
        for (ty, d_offsets) in [
            (GgmlType::Q4_K, &[0, 2][..]),
            (GgmlType::Q5_K, &[0, 2]),
            (GgmlType::Q6_K, &[208]),
        ] {
            let mut row: Vec<u8> = (0..3 * ty.block_bytes())
                .map(|_| rng.next_u64() as u8)
                .collect();
            for block in row.chunks_exact_mut(ty.block_bytes()) {
                for &o in d_offsets {
                    let d = half::f16::from_f32(rng.normal() * 0.01).to_le_bytes();
                    block[o..o + 2].copy_from_slice(&d);
                }
            }
            let decoded = dequantize_to_vec(ty, &row).unwrap();
            let x: Vec<f32> = (0..decoded.len()).map(|_| rng.normal()).collect();
            let (want, magnitude) = reference_dot(&decoded, &x);
            assert_dot_close(
                ty.name(),
                vec_dot_f32(ty, &row, &x).unwrap(),
                want,
                magnitude,
            );
        }
    }

    #[test]
    fn f32_dot_handles_tails() {
        let mut rng = Rng(13);
        for n in [0, 1, 7, 8, 9, 31, 100] {
            let a: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
            let (want, magnitude) = reference_dot(&a, &b);
            assert_dot_close("f32", dot_f32(&a, &b).unwrap(), want, magnitude);
            let row = quantize_to_vec(GgmlType::F32, &a).unwrap();
            assert_dot_close(
                "F32 row",
                vec_dot_f32(GgmlType::F32, &row, &b).unwrap(),
                want,
                magnitude,
            );
            let row = quantize_to_vec(GgmlType::BF16, &a).unwrap();
            let decoded = dequantize_to_vec(GgmlType::BF16, &row).unwrap();
            let (want, magnitude) = reference_dot(&decoded, &b);
            assert_dot_close(
                "BF16 row",
                vec_dot_f32(GgmlType::BF16, &row, &b).unwrap(),
                want,
                magnitude,
            );
        }
    }
}

mod int8 {
    //! Per-output-channel int8.

    use super::{Int8Matrix, Rng, assert_dot_close, reference_dot};

    #[test]
    fn scales_are_row_max_over_127_and_halves_round_away_from_zero() {
        let w = [
            127.0, 0.5, -0.5, 1.5, -2.5, -127.0, 3.0, 0.0, /* row 2 */ 0.0, 0.0, 0.0, 0.0,
            0.0, 0.0, 0.0, 0.0,
        ];
        let m = Int8Matrix::quantize(2, 8, &w).unwrap();
        assert_eq!(m.scales, vec![1.0, 0.0]);
        assert_eq!(m.data[..8], [127, 1, -1, 2, -3, -127, 3, 0]);
        assert_eq!(m.data[8..], [0; 8]);
        assert_eq!(
            m.dequantize().unwrap()[..8],
            [127.0, 1.0, -1.0, 2.0, -3.0, -127.0, 3.0, 0.0]
        );
    }

    #[test]
    fn round_trip_error_is_at_most_half_a_step() {
        let mut rng = Rng(21);
        let (rows, cols) = (37, 53);
        let w = rng.scaled_rows(rows * cols, cols);
        let m = Int8Matrix::quantize(rows, cols, &w).unwrap();
        m.validate().unwrap();
        assert!(m.data.iter().all(|&q| q != i8::MIN));
        let back = m.dequantize().unwrap();
        for (r, (w, back)) in w
            .chunks_exact(cols)
            .zip(back.chunks_exact(cols))
            .enumerate()
        {
            let amax = w.iter().fold(0.0f32, |a, v| a.max(v.abs()));
            assert_eq!(m.scales[r], amax / 127.0);
            assert!(
                w.iter().zip(back).any(|(a, b)| a.abs() == amax && a == b),
                "row {r}: max is exact"
            );
            for (a, b) in w.iter().zip(back) {
                assert!(
                    (a - b).abs() <= m.scales[r] * (0.5 + 1e-5),
                    "row {r}: {a} came back as {b}"
                );
            }
        }
    }

    #[test]
    fn row_dot_and_matvec_match_dequantize_then_dot() {
        let mut rng = Rng(22);
        let (rows, cols) = (9, 77);
        let w = rng.scaled_rows(rows * cols, cols);
        let x: Vec<f32> = (0..cols).map(|_| rng.normal()).collect();
        let m = Int8Matrix::quantize(rows, cols, &w).unwrap();
        let back = m.dequantize().unwrap();
        let mut out = vec![0.0; rows];
        m.matvec(&x, &mut out).unwrap();
        for (r, w) in back.chunks_exact(cols).enumerate() {
            let (want, magnitude) = reference_dot(w, &x);
            assert_dot_close("int8 row_dot", m.row_dot(r, &x).unwrap(), want, magnitude);
            assert_dot_close("int8 matvec", out[r], want, magnitude);
        }
    }

    #[test]
    fn empty_matrices_work() {
        let m = Int8Matrix::quantize(3, 0, &[]).unwrap();
        assert_eq!(m.scales, vec![0.0; 3]);
        let mut out = [1.0; 3];
        m.matvec(&[], &mut out).unwrap();
        assert_eq!(out, [0.0; 3]);
        assert!(
            Int8Matrix::quantize(0, 5, &[])
                .unwrap()
                .dequantize()
                .unwrap()
                .is_empty()
        );
    }
}

mod layout {
    //! Hand-built blocks: the documented layouts, independent of the reference vectors.

    use claude_quant::{GgmlType, bf16_bits_to_f32, dequantize_to_vec, f32_to_bf16_bits};

    fn f16(x: f32) -> [u8; 2] {
        half::f16::from_f32(x).to_le_bytes()
    }

    #[test]
    fn q4_0_low_nibbles_first_then_high() {
        let mut block = vec![0u8; 18];
        block[..2].copy_from_slice(&f16(0.5));
        block[2] = 0xa2; // value 0: 2 - 8, value 16: 10 - 8
        block[17] = 0x0f; // value 15: 15 - 8, value 31: 0 - 8
        let v = dequantize_to_vec(GgmlType::Q4_0, &block).unwrap();
        assert_eq!(
            (v[0], v[16], v[15], v[31], v[1]),
            (-3.0, 1.0, 3.5, -4.0, -4.0)
        );
    }

    #[test]
    fn q4_1_adds_the_minimum() {
        let mut block = vec![0u8; 20];
        block[..2].copy_from_slice(&f16(2.0));
        block[2..4].copy_from_slice(&f16(-1.0));
        block[4] = 0x31;
        let v = dequantize_to_vec(GgmlType::Q4_1, &block).unwrap();
        assert_eq!((v[0], v[16], v[1]), (1.0, 5.0, -1.0));
    }

    #[test]
    fn q4_k_upper_sub_blocks_take_high_scale_bits() {
        let mut block = vec![0u8; 144];
        block[..2].copy_from_slice(&f16(1.0));
        block[2..4].copy_from_slice(&f16(1.0));
        // sub-block 4: scale = (s[8] & 15) | (s[0] >> 6) << 4 = 5 | 3 << 4 = 53,
        //              min   = (s[8] >> 4) | (s[4] >> 6) << 4 = 2 | 1 << 4 = 18
        block[4] = 0xc0; // s[0]: sub-block 0 scale 0, top bits 3
        block[8] = 0x40; // s[4]: sub-block 0 min 0, top bits 1
        block[12] = 0x25; // s[8]
        block[16 + 64] = 0x07; // qs chunk 2, byte 0: sub-block 4 value 0 = 7
        let v = dequantize_to_vec(GgmlType::Q4_K, &block).unwrap();
        assert_eq!(v[128], 53.0 * 7.0 - 18.0);
        assert_eq!(v[129], -18.0);
        assert_eq!(v[0], 0.0);
    }

    #[test]
    fn q6_k_value_128_uses_the_second_half() {
        let mut block = vec![0u8; 210];
        block[208..].copy_from_slice(&f16(1.0));
        block[192 + 8] = 2; // scale of values 128..144
        block[64] = 0x05; // ql[64]: value 128 low bits 5
        block[128 + 32] = 0x02; // qh[32]: value 128 top bits 2
        let v = dequantize_to_vec(GgmlType::Q6_K, &block).unwrap();
        assert_eq!(v[128], 2.0 * f32::from(5i16 + (2 << 4) - 32));
        assert_eq!(v[0], 0.0); // scale 0
    }

    #[test]
    fn q5_0_fifth_bits_come_from_qh() {
        let mut block = vec![0u8; 22];
        block[..2].copy_from_slice(&f16(1.0));
        block[2..6].copy_from_slice(&(1u32 | 1 << 17).to_le_bytes());
        block[6] = 0x0f; // value 0: 15 + 16, value 16: 0
        block[7] = 0x30; // value 1: 0, value 17: 3 + 16
        let v = dequantize_to_vec(GgmlType::Q5_0, &block).unwrap();
        assert_eq!((v[0], v[16], v[1], v[17]), (15.0, -16.0, -16.0, 3.0));
    }

    #[test]
    fn q2_k_keeps_its_scales_first_and_its_f16_last() {
        let mut block = vec![0u8; 84];
        block[80..82].copy_from_slice(&f16(1.0)); // d
        block[82..84].copy_from_slice(&f16(0.5)); // dmin
        block[0] = 0x23; // sub-block 0: scale 3, min 2
        block[2] = 0x05; // sub-block 2 (values 32..48): scale 5, min 0
        block[16] = 0b0000_1110; // qs[0]: value 0 = 2, value 32 = 3
        let v = dequantize_to_vec(GgmlType::Q2_K, &block).unwrap();
        assert_eq!((v[0], v[32], v[1]), (3.0 * 2.0 - 1.0, 5.0 * 3.0, -1.0));
    }

    #[test]
    fn q3_k_subtracts_four_where_the_mask_bit_is_clear() {
        let mut block = vec![0u8; 110];
        block[108..].copy_from_slice(&f16(1.0));
        // every scale 33 - 32 = 1: low nibbles 1, top bits 2 (0b10 in each pair of s[8..12])
        block[96..104].fill(0x11);
        block[104..108].fill(0xaa);
        block[0] = 0b0000_0001; // hmask[0]: value 0 (bit 0) set, value 32 (bit 1) clear
        block[32] = 0b0000_1011; // qs[0]: value 0 = 3, value 32 = 2
        let v = dequantize_to_vec(GgmlType::Q3_K, &block).unwrap();
        assert_eq!((v[0], v[32], v[1]), (3.0, 2.0 - 4.0, -4.0));
    }

    #[test]
    fn iq4_xs_scales_take_two_high_bits_each() {
        let mut block = vec![0u8; 136];
        block[..2].copy_from_slice(&f16(1.0));
        // sub-block 1: low nibble 1 (high nibble of scales_l[0]), high bits 2 (bits 2..4 of
        // scales_h): 1 + 32 - 32 = 1
        block[2..4].copy_from_slice(&(2u16 << 2).to_le_bytes());
        block[4] = 0x10;
        block[8 + 16] = 0xf0; // sub-block 1: value 0 index 0 (-127), value 16 index 15 (113)
        let v = dequantize_to_vec(GgmlType::IQ4_XS, &block).unwrap();
        assert_eq!((v[32], v[48]), (-127.0, 113.0));
        assert_eq!(v[0], 127.0 * 32.0); // sub-block 0: scale 0 - 32, index 0
    }

    /// GGML's C quantizer starts its search from +0.0, so a zero block gets d = -0.0 however
    /// its first zero is signed (gguf's numpy port takes the first element and writes +0.0).
    #[test]
    fn q4_0_zero_block_follows_ggml_c() {
        let mut w = [0.0f32; 32];
        w[0] = -0.0;
        for w in [w, [0.0; 32]] {
            let q = claude_quant::quantize_to_vec(GgmlType::Q4_0, &w).unwrap();
            assert_eq!(q[..2], [0x00, 0x80]);
            assert_eq!(q[2..], [0x88; 16]);
        }
    }

    #[test]
    fn nan_stays_nan() {
        assert!(dequantize_to_vec(GgmlType::F16, &[0x01, 0x7e]).unwrap()[0].is_nan());
        let quiet = f32_to_bf16_bits(f32::from_bits(0x7f80_0001));
        assert_eq!(quiet, 0x7fc0);
        assert!(bf16_bits_to_f32(quiet).is_nan());
        assert_eq!(f32_to_bf16_bits(1.0 + 1.0 / 256.0), 0x3f80); // tie to even
        assert_eq!(f32_to_bf16_bits(f32::MAX), 0x7f80); // overflows to infinity
    }
}

mod errors {
    //! Bad input is an error naming what is wrong, never a panic.

    use super::Rng;
    use claude_quant::{
        Error, GgmlType, Int8Matrix, dequantize, dequantize_to_vec, ggml_type_name, quantize,
        quantize_to_vec, vec_dot_f32,
    };

    #[test]
    fn ids_names_and_sizes_match_ggml() {
        // (type, id, values per block, bytes per block) as in ggml.c's type_traits
        let table = [
            (GgmlType::F32, 0, 1, 4),
            (GgmlType::F16, 1, 1, 2),
            (GgmlType::Q4_0, 2, 32, 18),
            (GgmlType::Q4_1, 3, 32, 20),
            (GgmlType::Q5_0, 6, 32, 22),
            (GgmlType::Q5_1, 7, 32, 24),
            (GgmlType::Q8_0, 8, 32, 34),
            (GgmlType::Q2_K, 10, 256, 84),
            (GgmlType::Q3_K, 11, 256, 110),
            (GgmlType::Q4_K, 12, 256, 144),
            (GgmlType::Q5_K, 13, 256, 176),
            (GgmlType::Q6_K, 14, 256, 210),
            (GgmlType::IQ4_NL, 20, 32, 18),
            (GgmlType::IQ4_XS, 23, 256, 136),
            (GgmlType::BF16, 30, 1, 2),
        ];
        assert_eq!(table.len(), GgmlType::ALL.len());
        for (ty, id, block_size, block_bytes) in table {
            assert_eq!(
                (ty.id(), ty.block_size(), ty.block_bytes()),
                (id, block_size, block_bytes),
                "{ty}"
            );
            assert_eq!(GgmlType::from_id(id).unwrap(), ty);
            assert_eq!(GgmlType::try_from(id).unwrap(), ty);
            assert_eq!(ty.name().parse::<GgmlType>().unwrap(), ty);
            assert_eq!(ty.name().to_lowercase().parse::<GgmlType>().unwrap(), ty);
            assert_eq!(ggml_type_name(id), Some(ty.name()));
        }
    }

    #[test]
    fn unsupported_and_unknown_types_are_named() {
        let err = GgmlType::from_id(9).unwrap_err();
        assert_eq!(
            err,
            Error::UnsupportedType {
                id: 9,
                name: "Q8_1"
            }
        );
        assert!(
            err.to_string().contains("Q8_1 (id 9) is not supported"),
            "{err}"
        );
        for (id, name) in [
            (15, "Q8_K"),
            (16, "IQ2_XXS"),
            (28, "F64"),
            (35, "TQ2_0"),
            (39, "MXFP4"),
        ] {
            assert_eq!(
                GgmlType::from_id(id).unwrap_err(),
                Error::UnsupportedType { id, name }
            );
        }
        assert_eq!(
            GgmlType::from_id(4).unwrap_err(),
            Error::UnsupportedType {
                id: 4,
                name: "Q4_2"
            }
        );
        assert_eq!(
            GgmlType::from_id(1000).unwrap_err(),
            Error::UnknownType { id: 1000 }
        );
        assert_eq!(
            GgmlType::from_id(1000).unwrap_err().to_string(),
            "unknown GGML type id 1000"
        );
        assert_eq!(
            "iq3_s".parse::<GgmlType>().unwrap_err(),
            Error::UnsupportedType {
                id: 21,
                name: "IQ3_S"
            }
        );
        assert_eq!(
            "Q9_9".parse::<GgmlType>().unwrap_err(),
            Error::UnknownTypeName("Q9_9".into())
        );
    }

    #[test]
    fn partial_blocks_and_wrong_buffers_are_errors() {
        let err = dequantize_to_vec(GgmlType::Q8_0, &[0; 35]).unwrap_err();
        assert_eq!(
            err,
            Error::ByteLength {
                ty: GgmlType::Q8_0,
                len: 35,
                block_bytes: 34
            }
        );
        assert_eq!(
            err.to_string(),
            "Q8_0 data is 35 bytes, not a whole number of 34-byte blocks"
        );
        let err = dequantize(GgmlType::Q4_K, &[0; 144], &mut [0.0; 255]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "dequantize output (f32 values): expected 256, got 255"
        );
        let err = quantize_to_vec(GgmlType::Q4_0, &[0.0; 33]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Q4_0 row has 33 values, not a multiple of the block size 32"
        );
        let err = quantize(GgmlType::Q8_0, &[0.0; 32], &mut [0; 33]).unwrap_err();
        assert_eq!(
            err,
            Error::BufferLength {
                what: "quantize output (bytes)",
                expected: 34,
                got: 33
            }
        );
        let decode_only = GgmlType::ALL.into_iter().find(|ty| !ty.can_quantize());
        let ty = decode_only.expect("a decode-only type");
        let err = quantize_to_vec(ty, &[0.0; 256]).unwrap_err();
        assert_eq!(err, Error::QuantizeUnsupported(ty));
        assert!(
            err.to_string()
                .contains(&format!("quantizing to {ty} is not implemented"))
        );
        let err = vec_dot_f32(GgmlType::Q4_1, &[0; 40], &[0.0; 32]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "vec_dot_f32 vector (f32 values): expected 64, got 32"
        );
        assert!(vec_dot_f32(GgmlType::Q4_1, &[0; 41], &[0.0; 64]).is_err());
        assert!(dequantize_to_vec(GgmlType::F32, &[0; 6]).is_err());
        assert!(quantize_to_vec(GgmlType::Q8_0, &[]).unwrap().is_empty());
        assert_eq!(vec_dot_f32(GgmlType::Q6_K, &[], &[]).unwrap(), 0.0);
    }

    #[test]
    fn int8_shape_errors() {
        let err = Int8Matrix::quantize(2, 3, &[0.0; 5]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "int8 matrix of 2 x 3: 5 weights given, 6 needed"
        );
        assert!(Int8Matrix::quantize(usize::MAX, 2, &[]).is_err());
        let mut m = Int8Matrix::quantize(2, 3, &[1.0; 6]).unwrap();
        assert!(m.row(2).is_err());
        assert!(m.row_dot(0, &[1.0; 2]).is_err());
        assert!(m.matvec(&[1.0; 3], &mut [0.0; 1]).is_err());
        m.scales.pop();
        assert_eq!(
            m.validate().unwrap_err().to_string(),
            "int8 matrix of 2 x 3: scales holds 1 values, 2 needed"
        );
        assert!(m.dequantize().is_err());
        assert!(m.row_dot(0, &[1.0; 3]).is_err());
    }

    /// Random bytes of random lengths through every decoder: Ok or an error, never a panic.
    #[test]
    fn random_input_never_panics() {
        let mut rng = Rng(31);
        for _ in 0..2000 {
            let ty = GgmlType::ALL[(rng.next_u64() % GgmlType::ALL.len() as u64) as usize];
            let len = (rng.next_u64() % 700) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            match dequantize_to_vec(ty, &bytes) {
                Ok(v) => {
                    assert_eq!(v.len(), ty.values_in(len).unwrap());
                    let _ = vec_dot_f32(ty, &bytes, &v.iter().map(|_| 1.0).collect::<Vec<_>>())
                        .unwrap();
                }
                Err(e) => assert!(matches!(e, Error::ByteLength { .. }), "{e}"),
            }
            let x: Vec<f32> = (0..len)
                .map(|_| f32::from_bits(rng.next_u64() as u32))
                .collect();
            let _ = quantize_to_vec(ty, &x);
        }
    }
}
