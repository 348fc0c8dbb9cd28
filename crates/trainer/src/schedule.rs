//! The learning-rate schedule: linear warmup from 0, then cosine decay to a floor (nanoGPT's
//! `get_lr`). A pure function of the step, so a resumed run continues on the same curve.

use serde::{Deserialize, Serialize};

/// Warmup + cosine decay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Peak learning rate, reached at the end of warmup.
    pub lr: f64,
    /// Steps of linear warmup.
    #[serde(default)]
    pub warmup_steps: usize,
    /// Step at which the decay reaches `min_lr` (default: the run's `max_steps`).
    #[serde(default)]
    pub decay_steps: Option<usize>,
    /// The floor of the decay.
    #[serde(default)]
    pub min_lr: f64,
}

impl Schedule {
    /// The learning rate at `step` (0-based), for a run of `max_steps`.
    pub fn lr_at(&self, step: usize, max_steps: usize) -> f64 {
        let decay_steps = self.decay_steps.unwrap_or(max_steps);
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / (self.warmup_steps + 1) as f64;
        }
        if step > decay_steps {
            return self.min_lr;
        }
        let span = decay_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = (step - self.warmup_steps) as f64 / span as f64;
        let coeff = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        self.min_lr + coeff * (self.lr - self.min_lr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_nanogpt_get_lr() {
        // nanoGPT: warmup 100, lr_decay_iters 2000, lr 1e-3, min_lr 1e-4.
        let s = Schedule {
            lr: 1e-3,
            warmup_steps: 100,
            decay_steps: Some(2000),
            min_lr: 1e-4,
        };
        assert!((s.lr_at(0, 2000) - 1e-3 / 101.0).abs() < 1e-15);
        assert!((s.lr_at(99, 2000) - 1e-3 * 100.0 / 101.0).abs() < 1e-15);
        assert!((s.lr_at(100, 2000) - 1e-3).abs() < 1e-15);
        // Half way through the decay the cosine is at its midpoint: (lr + min_lr) / 2.
        assert!((s.lr_at(1050, 2000) - 5.5e-4).abs() < 1e-12);
        assert!((s.lr_at(2000, 2000) - 1e-4).abs() < 1e-15);
        assert_eq!(s.lr_at(5000, 2000), 1e-4);
    }
}
