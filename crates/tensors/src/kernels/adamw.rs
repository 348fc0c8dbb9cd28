//! One AdamW step over plain `f32` slices, in place: the moments and the weights are read and
//! written once (burn's AdamW runs a dozen whole-tensor ops per parameter, each with its own
//! buffer). Same arithmetic as burn's `AdamW` (Loshchilov & Hutter, 2019):
//!
//! ```text
//! m ← β1·m + (1−β1)·g          v ← β2·v + (1−β2)·g²
//! w ← w·(1 − lr·λ) − lr · (m / (1−β1^t)) / (√(v / (1−β2^t)) + ε)
//! ```

use rayon::prelude::*;

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

/// The settings of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWStep {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first moment.
    pub beta1: f32,
    /// Decay of the second moment.
    pub beta2: f32,
    /// Added to the root of the second moment.
    pub epsilon: f32,
    /// Decoupled weight decay `λ`.
    pub weight_decay: f32,
    /// The step's number `t`, from 1 (for the bias corrections).
    pub time: usize,
}

/// Updates `weights` and the moments `m`, `v` with the gradient `grad`, in place.
///
/// # Panics
/// If the lengths differ.
pub fn step(weights: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32], settings: &AdamWStep) {
    let len = weights.len();
    assert!(
        grad.len() == len && m.len() == len && v.len() == len,
        "AdamW weights, gradient and moments lengths"
    );
    let time = settings.time.min(i32::MAX as usize) as i32;
    let constants = Constants {
        beta1: settings.beta1,
        beta2: settings.beta2,
        epsilon: settings.epsilon,
        decay: (1.0 - settings.lr * f64::from(settings.weight_decay)) as f32,
        lr: settings.lr as f32,
        correction1: 1.0 - settings.beta1.powi(time),
        correction2: 1.0 - settings.beta2.powi(time),
    };
    weights
        .par_chunks_mut(CHUNK)
        .zip(grad.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
        .for_each(|((w, g), (m, v))| update(w, g, m, v, &constants));
}

/// What every element's update uses.
struct Constants {
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    decay: f32,
    lr: f32,
    correction1: f32,
    correction2: f32,
}

#[inline]
fn update(weights: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32], c: &Constants) {
    let elements = weights
        .iter_mut()
        .zip(grad)
        .zip(m.iter_mut().zip(v.iter_mut()));
    for ((w, &g), (m, v)) in elements {
        *m = *m * c.beta1 + g * (1.0 - c.beta1);
        *v = *v * c.beta2 + g * g * (1.0 - c.beta2);
        let delta = (*m / c.correction1) / ((*v / c.correction2).sqrt() + c.epsilon);
        *w = *w * c.decay - delta * c.lr;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AdamW in f64 from its definition, starting from zero moments.
    fn reference(w: &mut [f64], grads: &[Vec<f64>], s: &AdamWStep) {
        let (mut m, mut v) = (vec![0.0; w.len()], vec![0.0; w.len()]);
        let (b1, b2) = (f64::from(s.beta1), f64::from(s.beta2));
        for (t, g) in grads.iter().enumerate() {
            let t = t as i32 + 1;
            for i in 0..w.len() {
                m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                let m_hat = m[i] / (1.0 - b1.powi(t));
                let v_hat = v[i] / (1.0 - b2.powi(t));
                w[i] = w[i] * (1.0 - s.lr * f64::from(s.weight_decay))
                    - s.lr * m_hat / (v_hat.sqrt() + f64::from(s.epsilon));
            }
        }
    }

    #[test]
    fn steps_match_the_definition_in_f64() {
        let len = 40_000; // over two parallel chunks
        let settings = AdamWStep {
            lr: 1e-2,
            beta1: 0.9,
            beta2: 0.99,
            epsilon: 1e-8,
            weight_decay: 0.1,
            time: 0,
        };
        let start: Vec<f32> = (0..len).map(|i| ((i % 97) as f32 - 48.0) / 50.0).collect();
        let grads: Vec<Vec<f32>> = (0..3)
            .map(|s| {
                (0..len)
                    .map(|i| (((i * 31 + s * 7) % 89) as f32 - 44.0) / 40.0)
                    .collect()
            })
            .collect();
        let (mut w, mut m, mut v) = (start.clone(), vec![0.0; len], vec![0.0; len]);
        for (t, g) in grads.iter().enumerate() {
            let settings = AdamWStep {
                time: t + 1,
                ..settings
            };
            step(&mut w, g, &mut m, &mut v, &settings);
        }
        let mut want: Vec<f64> = start.iter().map(|&x| f64::from(x)).collect();
        let grads64: Vec<Vec<f64>> = grads
            .iter()
            .map(|g| g.iter().map(|&x| f64::from(x)).collect())
            .collect();
        reference(&mut want, &grads64, &settings);
        for (i, (&got, &want)) in w.iter().zip(&want).enumerate() {
            assert!(
                (f64::from(got) - want).abs() < 1e-6,
                "element {i}: {got} vs {want}"
            );
        }
    }
}
