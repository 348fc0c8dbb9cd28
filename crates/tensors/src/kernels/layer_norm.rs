//! LayerNorm (Ba et al., 2016) and RMSNorm (Zhang & Sennrich, 2019) over the last dimension on
//! the CPU, forward and backward, over plain `f32` slices.
//!
//! Per row: `x̂ = (x - mean)·rstd` with `rstd = 1/√(var + eps)` (biased variance), `y = x̂·γ + β`.
//! Backward: `dβ = Σ dy`, `dγ = Σ dy·x̂` over rows, and
//! `dx = rstd·(g - mean(g) - x̂·mean(g·x̂))` with `g = dy·γ`.
//! RMSNorm is the same without centring: `mean` is 0 (so `var` is the mean square) and the
//! `mean(g)` term goes; its `β` is zero.
//! Rows are split over threads with rayon; each keeps its mean and `rstd` for the backward pass.

use rayon::prelude::*;

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 64;

/// What the backward pass needs from the forward pass, per row.
#[derive(Debug, Clone, Default)]
pub struct RowStats {
    /// Whether the rows were centred (LayerNorm) or not (RMSNorm).
    pub centred: bool,
    /// Mean of each row (0 for RMSNorm).
    pub mean: Vec<f32>,
    /// `1/√(var + eps)` of each row.
    pub rstd: Vec<f32>,
}

/// `y = layer_norm(x)·gamma + beta` over rows of `gamma.len()` features, or with `centred`
/// false, `rms_norm(x)·gamma + beta`.
///
/// # Panics
/// If the lengths do not match.
pub fn forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    centred: bool,
    y: &mut [f32],
) -> RowStats {
    let width = gamma.len();
    assert!(width > 0, "layer norm over zero features");
    assert_eq!(beta.len(), width, "beta length");
    assert_eq!(x.len(), y.len(), "layer norm input and output lengths");
    assert_eq!(
        x.len() % width,
        0,
        "input length is not a whole number of rows"
    );
    let rows = x.len() / width;
    let mut stats = RowStats {
        centred,
        mean: vec![0.0; rows],
        rstd: vec![0.0; rows],
    };
    let norm = RowNorm {
        gamma,
        beta: Some(beta),
        eps,
        centred,
    };
    let task = ROWS_PER_TASK * width;
    y.par_chunks_mut(task)
        .zip(x.par_chunks(task))
        .zip(stats.mean.par_chunks_mut(ROWS_PER_TASK))
        .zip(stats.rstd.par_chunks_mut(ROWS_PER_TASK))
        .for_each(|(((y, x), means), rstds)| {
            let rows = y.chunks_exact_mut(width).zip(x.chunks_exact(width));
            for (((y, x), mean), rstd) in rows.zip(means).zip(rstds) {
                (*mean, *rstd) = norm.row(x, y);
            }
        });
    stats
}

/// The norm of one row of [`forward`]'s (LayerNorm, or RMSNorm when not `centred`), for kernels
/// that normalise their input rows themselves (a product fused with the norm before it).
#[derive(Debug, Clone, Copy)]
pub struct RowNorm<'a> {
    /// Scale, one per feature.
    pub gamma: &'a [f32],
    /// Shift, one per feature; none is a shift of zero.
    pub beta: Option<&'a [f32]>,
    /// Added to the variance (or mean square) under the square root.
    pub eps: f32,
    /// Whether the mean is taken off (LayerNorm) or not (RMSNorm).
    pub centred: bool,
}

impl RowNorm<'_> {
    /// `x` normalised into `y` (both `gamma.len()` long); returns the row's mean (0 when not
    /// centred) and `1/√(var + eps)`.
    ///
    /// # Panics
    /// If the lengths differ.
    pub fn row(&self, x: &[f32], y: &mut [f32]) -> (f32, f32) {
        let width = self.gamma.len();
        assert!(
            x.len() == width && y.len() == width,
            "a row of {} values for a norm of {width}",
            x.len()
        );
        let mean = if self.centred {
            sum(x) / width as f32
        } else {
            0.0
        };
        let centred_squares = x.iter().map(|v| (v - mean) * (v - mean));
        let var = sum_iter(centred_squares) / width as f32;
        let rstd = 1.0 / (var + self.eps).sqrt();
        match self.beta {
            Some(beta) => {
                for (((y, x), g), b) in y.iter_mut().zip(x).zip(self.gamma).zip(beta) {
                    *y = (x - mean) * rstd * g + b;
                }
            }
            None => {
                for ((y, x), g) in y.iter_mut().zip(x).zip(self.gamma) {
                    *y = (x - mean) * rstd * g;
                }
            }
        }
        (mean, rstd)
    }
}

/// The gradients of [`forward`]: writes `grad_x` and returns `(grad_gamma, grad_beta)`.
///
/// # Panics
/// If the lengths do not match.
pub fn backward(
    x: &[f32],
    gamma: &[f32],
    stats: &RowStats,
    grad_y: &[f32],
    grad_x: &mut [f32],
) -> (Vec<f32>, Vec<f32>) {
    let width = gamma.len();
    assert_eq!(
        x.len(),
        grad_y.len(),
        "layer norm input and gradient lengths"
    );
    assert_eq!(
        x.len(),
        grad_x.len(),
        "layer norm input and gradient lengths"
    );
    assert_eq!(stats.mean.len() * width, x.len(), "row statistics length");
    let task = ROWS_PER_TASK * width;
    let zeros = || (vec![0.0f32; width], vec![0.0f32; width]);
    grad_x
        .par_chunks_mut(task)
        .zip(x.par_chunks(task))
        .zip(grad_y.par_chunks(task))
        .zip(stats.mean.par_chunks(ROWS_PER_TASK))
        .zip(stats.rstd.par_chunks(ROWS_PER_TASK))
        .map(|((((grad_x, x), grad_y), means), rstds)| {
            let (mut grad_gamma, mut grad_beta) = zeros();
            let mut normalised = vec![0.0f32; width];
            let mut scaled = vec![0.0f32; width];
            let rows = grad_x
                .chunks_exact_mut(width)
                .zip(x.chunks_exact(width))
                .zip(grad_y.chunks_exact(width));
            for (((grad_x, x), grad_y), (mean, rstd)) in rows.zip(means.iter().zip(rstds)) {
                for (n, x) in normalised.iter_mut().zip(x) {
                    *n = (x - mean) * rstd;
                }
                let per_feature = gamma.iter().zip(grad_beta.iter_mut());
                for ((s, dy), (g, db)) in scaled.iter_mut().zip(grad_y).zip(per_feature) {
                    *s = dy * g;
                    *db += dy;
                }
                for ((dg, dy), n) in grad_gamma.iter_mut().zip(grad_y).zip(&normalised) {
                    *dg += dy * n;
                }
                let mean_scaled = match stats.centred {
                    true => sum(&scaled) / width as f32,
                    false => 0.0,
                };
                let mean_scaled_normalised =
                    sum_iter(scaled.iter().zip(&normalised).map(|(s, n)| s * n)) / width as f32;
                for ((dx, s), n) in grad_x.iter_mut().zip(&scaled).zip(&normalised) {
                    *dx = rstd * (s - mean_scaled - n * mean_scaled_normalised);
                }
            }
            (grad_gamma, grad_beta)
        })
        .reduce(zeros, |(mut ga, mut ba), (gb, bb)| {
            ga.iter_mut().zip(gb).for_each(|(a, b)| *a += b);
            ba.iter_mut().zip(bb).for_each(|(a, b)| *a += b);
            (ga, ba)
        })
}

/// Sum with eight independent accumulators, so the compiler can vectorise it.
fn sum(values: &[f32]) -> f32 {
    sum_iter(values.iter().copied())
}

fn sum_iter(values: impl Iterator<Item = f32>) -> f32 {
    let mut lanes = [0.0f32; 8];
    for (i, v) in values.enumerate() {
        lanes[i % 8] += v;
    }
    lanes.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// LayerNorm (or with `centred` false, RMSNorm) of one row in f64.
    fn reference_row(x: &[f32], gamma: &[f32], beta: &[f32], eps: f64, centred: bool) -> Vec<f64> {
        let n = x.len() as f64;
        let mean = match centred {
            true => x.iter().map(|&v| v as f64).sum::<f64>() / n,
            false => 0.0,
        };
        let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        x.iter()
            .zip(gamma.iter().zip(beta))
            .map(|(&v, (&g, &b))| (v as f64 - mean) / (var + eps).sqrt() * g as f64 + b as f64)
            .collect()
    }

    fn values(len: usize, seed: f32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as f32 * 0.37 + seed).sin() * 2.0) + seed)
            .collect()
    }

    #[test]
    fn forward_matches_an_f64_computation() {
        let (width, rows) = (13, 150);
        let (x, gamma, beta) = (
            values(width * rows, 0.5),
            values(width, 1.0),
            values(width, -0.3),
        );
        for centred in [true, false] {
            let mut y = vec![0.0; x.len()];
            forward(&x, &gamma, &beta, 1e-5, centred, &mut y);
            for (x, y) in x.chunks(width).zip(y.chunks(width)) {
                for (got, want) in y.iter().zip(reference_row(x, &gamma, &beta, 1e-5, centred)) {
                    assert!((*got as f64 - want).abs() < 2e-5, "{got} vs {want}");
                }
            }
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        for centred in [true, false] {
            backward_matches_finite_differences_when(centred);
        }
    }

    fn backward_matches_finite_differences_when(centred: bool) {
        let (width, rows) = (6, 70);
        let (x, gamma, beta) = (
            values(width * rows, 0.2),
            values(width, 1.5),
            values(width, 0.1),
        );
        let weights = values(width * rows, 2.0);
        // Loss = Σ y ⊙ w, in f64.
        let loss = |x: &[f32], gamma: &[f32], beta: &[f32]| -> f64 {
            x.chunks(width)
                .zip(weights.chunks(width))
                .map(|(x, w)| {
                    let y = reference_row(x, gamma, beta, 1e-5, centred);
                    y.iter().zip(w).map(|(y, w)| y * *w as f64).sum::<f64>()
                })
                .sum()
        };
        let mut y = vec![0.0; x.len()];
        let stats = forward(&x, &gamma, &beta, 1e-5, centred, &mut y);
        let mut grad_x = vec![0.0; x.len()];
        let (grad_gamma, grad_beta) = backward(&x, &gamma, &stats, &weights, &mut grad_x);

        let eps = 1e-3f32;
        let numeric = |which: usize, idx: usize| {
            let mut inputs = [x.clone(), gamma.clone(), beta.clone()];
            inputs[which][idx] += eps;
            let up = loss(&inputs[0], &inputs[1], &inputs[2]);
            inputs[which][idx] -= 2.0 * eps;
            let down = loss(&inputs[0], &inputs[1], &inputs[2]);
            (up - down) / (2.0 * eps as f64)
        };
        for (which, grad) in [(0, &grad_x), (1, &grad_gamma), (2, &grad_beta)] {
            for (idx, &g) in grad.iter().enumerate() {
                let want = numeric(which, idx);
                assert!(
                    (g as f64 - want).abs() < 2e-3 * (1.0 + want.abs()),
                    "centred {centred}, input {which}[{idx}]: {g} vs {want}"
                );
            }
        }
    }
}
