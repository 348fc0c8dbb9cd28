//! Choosing the next token from logits.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// How to pick tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    /// Softmax temperature; 0 picks the most likely token.
    pub temperature: f32,
    /// Keep only the `k` most likely tokens (0 = all).
    pub top_k: usize,
    /// Seed of the random generator.
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 0.8,
            top_k: 200,
            seed: 1337,
        }
    }
}

/// A seeded sampler.
pub struct Sampler {
    params: SamplingParams,
    rng: StdRng,
}

impl Sampler {
    /// A sampler with its generator seeded from `params.seed`.
    pub fn new(params: SamplingParams) -> Self {
        let rng = StdRng::seed_from_u64(params.seed);
        Sampler { params, rng }
    }

    /// Picks a token id from one position's logits.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if self.params.temperature <= 0.0 {
            return argmax(logits);
        }
        let mut candidates: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, l))
            .collect();
        if self.params.top_k > 0 && self.params.top_k < candidates.len() {
            candidates.select_nth_unstable_by(self.params.top_k - 1, |a, b| b.1.total_cmp(&a.1));
            candidates.truncate(self.params.top_k);
        }
        let max = candidates
            .iter()
            .map(|c| c.1)
            .fold(f32::NEG_INFINITY, f32::max);
        let weights: Vec<f64> = candidates
            .iter()
            .map(|&(_, l)| f64::from((l - max) / self.params.temperature).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        let mut draw = self.rng.random::<f64>() * total;
        for (&(id, _), w) in candidates.iter().zip(&weights) {
            if draw < *w {
                return id;
            }
            draw -= w;
        }
        candidates.last().map_or(0, |c| c.0)
    }
}

fn argmax(logits: &[f32]) -> u32 {
    logits
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_temperature_is_argmax() {
        let mut s = Sampler::new(SamplingParams {
            temperature: 0.0,
            top_k: 0,
            seed: 1,
        });
        assert_eq!(s.sample(&[0.1, 2.0, -1.0, 1.9]), 1);
    }

    #[test]
    fn top_k_never_leaves_the_k_best() {
        let mut s = Sampler::new(SamplingParams {
            temperature: 5.0,
            top_k: 2,
            seed: 3,
        });
        for _ in 0..500 {
            let id = s.sample(&[0.0, 3.0, 0.5, 2.9, -1.0]);
            assert!(id == 1 || id == 3, "{id}");
        }
    }

    #[test]
    fn frequencies_follow_the_softmax() {
        // softmax([ln 1, ln 3]) = [0.25, 0.75].
        let mut s = Sampler::new(SamplingParams {
            temperature: 1.0,
            top_k: 0,
            seed: 9,
        });
        let n = 20_000;
        let ones = (0..n).filter(|_| s.sample(&[0.0, 3f32.ln()]) == 1).count();
        let p = ones as f64 / n as f64;
        assert!((p - 0.75).abs() < 0.015, "{p}");
    }
}
