//! Reductions over `f32` kept in sixteen lanes, each with its own running value, so that the
//! compiler runs them in vector registers: one running `f32::max` or sum is a chain of dependent
//! scalar operations it may not reorder. Inlined into their callers, they take the callers'
//! instruction sets (a softmax compiled for AVX2 runs them on AVX2).

/// Values a lane-wise reduction takes at once: four SSE vectors, two AVX2, one AVX-512.
pub const LANES: usize = 16;

/// The highest of `values` that is not NaN (a NaN compares false, so it never replaces a lane's
/// maximum); minus infinity when there is none.
#[inline(always)]
pub fn highest(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = if v > *lane { v } else { *lane };
        }
    }
    for (lane, &v) in lanes.iter_mut().zip(rest) {
        *lane = if v > *lane { v } else { *lane };
    }
    lanes.into_iter().fold(f32::NEG_INFINITY, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_skips_nans_in_every_lane_and_the_rest() {
        assert_eq!(highest(&[]), f32::NEG_INFINITY);
        assert_eq!(highest(&[f32::NAN; 20]), f32::NEG_INFINITY);
        for len in [1, 15, 16, 17, 33, 100] {
            for at in [0, len / 2, len - 1] {
                let mut values: Vec<f32> = (0..len).map(|i| (i % 7) as f32 - 3.0).collect();
                values.iter_mut().step_by(5).for_each(|v| *v = f32::NAN);
                values[at] = 9.5;
                assert_eq!(highest(&values), 9.5, "{len} values, the highest at {at}");
            }
        }
    }
}
