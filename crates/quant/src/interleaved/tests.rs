//! Every path of the repacked products against the row-wise kernels, for every repacked format,
//! a partial last group and groups left row-wise.

use super::*;
use crate::{GgmlType, PackedMatrix, RowFormat};

/// Deterministic pseudo-random weights in `[-1, 1)`, with a few large values.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let v = (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
            if i % 97 == 0 { 6.0 * v } else { v }
        })
        .collect()
}

/// Every format with a repacked layout.
const REPACKED: [GgmlType; 7] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q8_0,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

/// The paths this CPU runs.
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))] // Only x86 adds paths.
fn paths() -> Vec<Isa> {
    let mut paths = vec![Isa::Portable];
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("fma") && has!("f16c") {
            paths.push(Isa::Avx2);
        }
        if has!("avx512f") && has!("avx512bw") && has!("avx512vnni") {
            paths.push(Isa::Avx512Vnni);
        }
    }
    paths
}

/// Every row's product through the groups on `isa`.
fn grouped(isa: Isa, m: &PackedMatrix, x: &[f32], xq: &Q8Activations) -> Vec<f32> {
    let repacked = InterleavedMatrix::new(m).with_isa(isa);
    let mut out = vec![0.0; m.rows()];
    for (g, out) in out.chunks_mut(GROUP_ROWS).enumerate() {
        repacked.dot_group(m, g, x, xq, out);
    }
    out
}

/// Checks every path against `dot_row_quantized`, relative to the products' magnitude.
fn check(m: &PackedMatrix) {
    let x = values(m.cols(), 7);
    let xq = Q8Activations::quantize(&x).expect("whole blocks");
    let expected: Vec<f32> = (0..m.rows())
        .map(|r| m.dot_row_quantized(r, &x, &xq))
        .collect();
    let scale = expected.iter().fold(1.0f32, |a, v| a.max(v.abs()));
    for isa in paths() {
        let got = grouped(isa, m, &x, &xq);
        for (r, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert!(
                (g - e).abs() <= 2e-5 * scale,
                "{:?} on {isa:?}, row {r}: {g} against {e}",
                m.formats()
            );
        }
    }
}

fn matrix(ty: GgmlType, rows: usize, cols: usize, seed: u64) -> PackedMatrix {
    let w = values(rows * cols, seed);
    PackedMatrix::quantize(RowFormat::Ggml(ty), rows, cols, &w).expect("quantizable")
}

#[test]
fn repacked_formats_equal_the_row_wise_kernels_on_every_path() {
    for ty in REPACKED {
        let m = matrix(ty, 48, 512, ty as u64);
        assert!(InterleavedMatrix::new(&m).any_repacked(), "{ty:?}");
        check(&m);
    }
}

#[test]
fn a_partial_last_group_has_only_its_rows() {
    // 37 rows: two whole groups and five rows, padded with zeros inside the record.
    for ty in [GgmlType::Q4_1, GgmlType::Q8_0] {
        check(&matrix(ty, 37, 96, 3));
    }
    check(&matrix(GgmlType::Q6_K, 37, 256, 3));
}

#[test]
fn other_formats_and_mixed_groups_stay_row_wise() {
    let other = matrix(GgmlType::Q5_1, 20, 256, 5);
    assert!(!InterleavedMatrix::new(&other).any_repacked());
    check(&other);
    // 24 rows of Q4_1 over 24 of Q8_0: group 1 mixes both and stays row-wise, the others are
    // repacked.
    let stacked = PackedMatrix::stack([
        matrix(GgmlType::Q4_1, 24, 64, 11),
        matrix(GgmlType::Q8_0, 24, 64, 13),
    ])
    .expect("same width");
    let repacked = InterleavedMatrix::new(&stacked);
    assert!(matches!(
        repacked.groups[0],
        Group::Repacked {
            kind: Kind::Q4_1,
            ..
        }
    ));
    assert!(matches!(repacked.groups[1], Group::RowWise));
    assert!(matches!(
        repacked.groups[2],
        Group::Repacked {
            kind: Kind::Q8_0,
            ..
        }
    ));
    check(&stacked);
}

#[test]
fn the_codes_read_back_as_placed() {
    for (kind, bits) in [
        (Kind::Q5_0, 5),
        (Kind::Q6K, 6),
        (Kind::Q8_0, 8),
        (Kind::Q4K, 4),
        (Kind::Q5K, 5),
    ] {
        let codes: [u8; Q8_BLOCK] =
            std::array::from_fn(|i| ((i as u32 * 37 + 3) % (1 << bits)) as u8);
        let mut record = vec![0u8; kind.record_bytes()];
        place_codes(kind, &codes, 5, &mut record);
        for (i, &code) in codes.iter().enumerate() {
            assert_eq!(
                code_at(kind, &record, 5, i),
                i32::from(code),
                "{kind:?} value {i}"
            );
            assert_eq!(code_at(kind, &record, 4, i), 0, "{kind:?} another row");
        }
    }
}

#[test]
fn several_activation_rows_per_pass_equal_one_at_a_time() {
    for ty in REPACKED {
        let m = matrix(ty, 37, 256, 9);
        for n in [1, 3, 4, 5, 9] {
            let x = values(n * m.cols(), n as u64);
            let xq: Vec<Q8Activations> = x
                .chunks_exact(m.cols())
                .map(|row| Q8Activations::quantize(row).unwrap())
                .collect();
            for isa in paths() {
                let repacked = InterleavedMatrix::new(&m).with_isa(isa);
                repacked.dot_groups_rows(&m, 0..m.groups(), &x, &xq, |g, out| {
                    let rows = m.rows().min((g + 1) * GROUP_ROWS) - g * GROUP_ROWS;
                    for r in 0..n {
                        let row = &x[r * m.cols()..(r + 1) * m.cols()];
                        let mut one = vec![0.0; rows];
                        repacked.dot_group(&m, g, row, &xq[r], &mut one);
                        let what = format!("{ty:?} {isa:?}, {n} rows, group {g}");
                        assert_eq!(out[r][..rows], one[..], "{what}");
                    }
                });
            }
        }
    }
}
