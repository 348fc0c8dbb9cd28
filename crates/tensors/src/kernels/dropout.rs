//! Dropout's mask, drawn in parallel: each value kept with probability `1 - p` and scaled by
//! `1 / (1 - p)`, the rest zero (inverted dropout, as burn's and PyTorch's layers apply it).
//!
//! burn's CPU backend draws a random tensor one element at a time from one generator behind a
//! lock, each through a general distribution sampler: with LoRA's dropout on every projection
//! of SmolLM2 (51 million values a step at batch 8) that was a tenth of a fine-tuning step, on
//! one core while the other waited. Here every chunk of [`CHUNK`] values has its own small
//! generator, seeded from one seed and the chunk's index, so the mask depends on the seed alone,
//! not on how many threads draw it.

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use rayon::prelude::*;

use super::written_once;

/// Values per chunk: one generator each.
const CHUNK: usize = 1 << 14;

/// A mask of `len` values for dropout with probability `prob`: `1 / (1 - prob)` where kept, 0
/// where dropped, the same for the same `seed`.
///
/// # Panics
/// If `prob` is not in `[0, 1)`.
pub fn scaled_keep_mask(len: usize, prob: f64, seed: u64) -> Vec<f32> {
    assert!(
        (0.0..1.0).contains(&prob),
        "dropout probability {prob} is not in [0, 1)"
    );
    // A value is dropped when its 32 random bits fall below `prob` of their range.
    let threshold = (prob * 4_294_967_296.0) as u64;
    let kept = (1.0 / (1.0 - prob)) as f32;
    // Each value is written once below, by its chunk's task: no zeroing first.
    let mut mask = written_once::unwritten(len);
    mask.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(index, chunk)| {
            // `seed_from_u64` spreads the seed through SplitMix64, so neighbouring chunk
            // indices give unrelated streams.
            let chunk_seed = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut rng = SmallRng::seed_from_u64(chunk_seed);
            for pair in chunk.chunks_mut(2) {
                let bits = rng.next_u64();
                for (value, word) in pair.iter_mut().zip([bits as u32, (bits >> 32) as u32]) {
                    value.write(if u64::from(word) >= threshold {
                        kept
                    } else {
                        0.0
                    });
                }
            }
        });
    // SAFETY: the chunks cover the mask, and every value of every chunk was written above.
    unsafe { written_once::written(mask) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_the_asked_share_and_scales_the_rest() {
        let (len, prob) = (1 << 20, 0.05);
        let mask = scaled_keep_mask(len, prob, 7);
        let kept = 1.0 / (1.0 - prob) as f32;
        assert!(mask.iter().all(|&value| value == 0.0 || value == kept));
        let dropped = mask.iter().filter(|&&value| value == 0.0).count() as f64 / len as f64;
        // The standard deviation of the share is sqrt(p (1 - p) / n) = 0.0002.
        assert!((dropped - prob).abs() < 0.001, "dropped {dropped}");
        // Inverted dropout keeps the mean: E[mask] = 1.
        let mean = mask.iter().map(|&value| f64::from(value)).sum::<f64>() / len as f64;
        assert!((mean - 1.0).abs() < 0.002, "mean {mean}");
    }

    #[test]
    fn the_seed_alone_decides_the_mask() {
        let len = 5 * CHUNK + 3;
        let many = scaled_keep_mask(len, 0.2, 11);
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("a pool")
            .install(|| scaled_keep_mask(len, 0.2, 11));
        assert_eq!(many, one_thread);
        assert_ne!(many, scaled_keep_mask(len, 0.2, 12));
        // Chunks do not repeat each other.
        assert_ne!(many[..CHUNK], many[CHUNK..2 * CHUNK]);
    }

    #[test]
    fn nothing_dropped_at_zero() {
        assert!(
            scaled_keep_mask(1000, 0.0, 3)
                .iter()
                .all(|&value| value == 1.0)
        );
        assert!(scaled_keep_mask(0, 0.5, 3).is_empty());
    }
}
