//! Test vectors shared by the index tests.

/// `n` unit vectors of width `d`, deterministic.
pub fn unit_vectors(n: usize, d: usize, seed: u64) -> Vec<Vec<f32>> {
    (0..n)
        .map(|i| {
            let v: Vec<f32> = (0..d)
                .map(|j| ((i * d + j) as f32 * 0.618 + seed as f32).sin())
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / norm).collect()
        })
        .collect()
}

/// `n` unit vectors of width `d` with pseudo-random directions (SplitMix64), deterministic.
pub fn random_unit_vectors(n: usize, d: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    (0..n)
        .map(|_| {
            let v: Vec<f64> = (0..d).map(|_| next()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            v.iter().map(|x| (x / norm) as f32).collect()
        })
        .collect()
}
