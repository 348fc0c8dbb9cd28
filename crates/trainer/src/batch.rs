//! The random generator behind every micro-batch.

use rand::SeedableRng;
use rand::rngs::StdRng;

/// The random generator for one micro-batch: a pure function of the seed, the step and the
/// micro-batch index, so a resumed run draws exactly the batches an uninterrupted run would.
pub fn batch_rng(seed: u64, step: usize, micro: usize) -> StdRng {
    let mix = seed
        ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (micro as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    StdRng::seed_from_u64(mix)
}
