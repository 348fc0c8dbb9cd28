//! The exact (erf) GeLU on the CPU, forward and backward, over plain `f32` slices.
//!
//! `gelu(x) = x·Φ(x)` with `Φ(x) = (1 + erf(x/√2)) / 2`, and `gelu'(x) = Φ(x) + x·φ(x)` with
//! `φ(x) = exp(-x²/2) / √(2π)` (Hendrycks & Gimpel, 2016). burn evaluates `erf` and `exp` one
//! element at a time through libm and records the backward as several ops; here both passes are
//! one loop each, written branch-free so the compiler vectorises them (AVX2 + FMA chosen at run
//! time where the CPU has it), and split over threads with rayon.
//!
//! `erf` is Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7), `exp` a degree-6
//! polynomial after range reduction (relative error below 2e-7).

use rayon::prelude::*;

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

/// `y = gelu(x)`.
///
/// # Panics
/// If the lengths differ.
pub fn forward(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "gelu input and output lengths");
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| dispatch::forward(x, y));
}

/// `grad ← grad · gelu'(x)`: the output's gradient in, the input's gradient out (in place, so
/// the backward pass allocates nothing).
///
/// # Panics
/// If the lengths differ.
pub fn backward(x: &[f32], grad: &mut [f32]) {
    assert_eq!(x.len(), grad.len(), "gelu input and gradient lengths");
    grad.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(grad, x)| dispatch::backward(x, grad));
}

/// One loop body compiled twice: for the baseline target and with AVX2 + FMA, picked at run time.
mod dispatch {
    use super::{gelu, gelu_derivative};

    #[inline(always)]
    fn forward_loop(x: &[f32], y: &mut [f32]) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = gelu(x);
        }
    }

    #[inline(always)]
    fn backward_loop(x: &[f32], grad: &mut [f32]) {
        for (grad, &x) in grad.iter_mut().zip(x) {
            *grad *= gelu_derivative(x);
        }
    }

    pub(super) fn forward(x: &[f32], y: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if crate::kernels::simd::has_avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { avx2::forward(x, y) };
        }
        forward_loop(x, y)
    }

    pub(super) fn backward(x: &[f32], grad: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if crate::kernels::simd::has_avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { avx2::backward(x, grad) };
        }
        backward_loop(x, grad)
    }

    #[cfg(target_arch = "x86_64")]
    mod avx2 {
        #[target_feature(enable = "avx2,fma")]
        pub(super) unsafe fn forward(x: &[f32], y: &mut [f32]) {
            super::forward_loop(x, y)
        }

        #[target_feature(enable = "avx2,fma")]
        pub(super) unsafe fn backward(x: &[f32], grad: &mut [f32]) {
            super::backward_loop(x, grad)
        }
    }
}

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// `1 / √(2π)`.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// `x·Φ(x)`.
#[inline(always)]
fn gelu(x: f32) -> f32 {
    x * normal_cdf(x)
}

/// `Φ(x) + x·φ(x)`.
#[inline(always)]
fn gelu_derivative(x: f32) -> f32 {
    normal_cdf(x) + x * FRAC_1_SQRT_2PI * exp(-0.5 * x * x)
}

/// `Φ(x) = (1 + erf(x/√2)) / 2`.
#[inline(always)]
fn normal_cdf(x: f32) -> f32 {
    0.5 + 0.5 * erf(x * FRAC_1_SQRT_2)
}

/// Abramowitz & Stegun 7.1.26: `erf(|x|) = 1 - t·(a1 + t·(a2 + ...))·exp(-x²)` with
/// `t = 1 / (1 + p·|x|)`, sign restored at the end.
#[inline(always)]
fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_7,
        -1.453_152,
        1.061_405_4,
    ];
    let a = x.abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let magnitude = 1.0 - poly * exp(-a * a);
    magnitude.copysign(x)
}

/// `e^x`, with `x` clamped to `[-87, 88]` (where `e^x` stays a normal f32): `x = n·ln2 + r`
/// with `|r| <= ln2/2`, `e^r` by its Taylor polynomial to `r⁶`, times `2^n` built in the exponent
/// bits. Branch-free, so loops of it vectorise (also used by [`gated`](mod@super::gated)).
#[inline(always)]
pub(super) fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Rounds to the nearest integer without a call: adding 1.5·2^23 pushes the fraction out.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // `n` sits in the low bits of `shifted` (its unit in the last place is 1). Reading it there
    // in wrapping integer arithmetic, rather than with a saturating `n as i32`, keeps the loop
    // vectorised.
    let biased_exponent = shifted
        .to_bits()
        .wrapping_sub(ROUND.to_bits())
        .wrapping_add(127);
    let scale = f32::from_bits(biased_exponent << 23);
    p * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf by its Maclaurin series in f64 (converges fast for |x| <= 3).
    fn erf_series(x: f64) -> f64 {
        let (mut term, mut sum) = (x, x);
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    fn inputs() -> Vec<f32> {
        (0..6001).map(|i| -6.0 + i as f32 * 0.002).collect()
    }

    #[test]
    fn exp_matches_std_over_its_range() {
        for x in (-8700..=8800).map(|i| i as f32 * 0.01) {
            let (got, want) = (exp(x) as f64, (x as f64).exp());
            assert!(
                (got - want).abs() <= 3e-7 * want + 1e-37,
                "exp({x}): {got} vs {want}"
            );
        }
    }

    #[test]
    fn forward_matches_an_f64_series_for_erf() {
        let x = inputs();
        let mut y = vec![0.0; x.len()];
        forward(&x, &mut y);
        for (&x, &y) in x.iter().zip(&y) {
            let x64 = x as f64;
            let want = if x64.abs() < 5.0 {
                x64 * 0.5 * (1.0 + erf_series(x64 / 2f64.sqrt()))
            } else {
                x64.max(0.0) // Φ is 0 or 1 to f32 precision out here
            };
            assert!(
                (y as f64 - want).abs() < 1e-6 * (1.0 + x64.abs()),
                "gelu({x}): {y} vs {want}"
            );
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let x = inputs();
        let grad_y: Vec<f32> = x.iter().map(|x| 1.0 + 0.1 * x).collect();
        let mut grad_x = grad_y.clone();
        backward(&x, &mut grad_x);
        let gelu64 = |x: f64| x * 0.5 * (1.0 + erf_series(x / 2f64.sqrt()));
        for ((&x, &g), &dy) in x.iter().zip(&grad_x).zip(&grad_y) {
            if x.abs() >= 4.5 {
                continue; // the series loses precision there; the f32 check above covers it
            }
            let h = 1e-4;
            let numeric = (gelu64(x as f64 + h) - gelu64(x as f64 - h)) / (2.0 * h) * dy as f64;
            assert!(
                (g as f64 - numeric).abs() < 2e-6,
                "gelu'({x}): {g} vs {numeric}"
            );
        }
    }
}
