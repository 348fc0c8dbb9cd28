//! The gate of a gated MLP on the CPU, in one pass over its input projection: each row of
//! `[gate | up]` (`2 * width` values) becomes `act(gate) * up` (`width` values), with `act`
//! SiLU (`x / (1 + e^-x)`, Llama's SwiGLU) or GeLU in its tanh approximation
//! (`x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`, Gemma's GeGLU), `tanh(y)` as
//! `1 - 2 / (1 + e^2y)`.
//!
//! burn takes five to seven elementwise ops for this, each through libm one element at a time
//! (`expf`, `powf`, `tanhf`: a fifth of Gemma's prompt time) and each allocating its result;
//! here the loop is branch-free so that the compiler vectorises it (AVX2 + FMA chosen at run
//! time where the CPU has it), with [`gelu`](mod@super::gelu)'s `exp` (relative error below 2e-7).
//!
//! The backward step takes the output's gradient `dy` to the input's: `dgate = dy * up *
//! act'(gate)` and `dup = dy * act(gate)`, with `silu'(x) = s (1 + x (1 - s))` (`s` the
//! sigmoid) and `gelu_tanh'(x) = (1 + t) / 2 + x (1 - t^2) / 2 * sqrt(2/pi) (1 + 3 * 0.044715
//! x^2)` (`t = tanh(y)`).

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::gelu::exp;
use super::written_once::{unwritten, written};
use crate::team::Team;

/// Values of gradient per parallel task of the backward pass.
const CHUNK: usize = 1 << 14;
/// Least values of output per task of the forward pass: a batched decode step's rows (eight of
/// 1,536 values on SmolLM2) split over the decoding team, one row alone stays on its thread.
const FORWARD_CHUNK: usize = 1 << 12;
/// Tasks per thread of the forward pass on large inputs (prompts, training), so that uneven
/// progress balances.
const FORWARD_TASKS_PER_THREAD: usize = 4;

/// The activation applied to the gate half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// `silu(gate) * up` (SwiGLU).
    Silu,
    /// `gelu_tanh(gate) * up` (GeGLU with GeLU's tanh approximation).
    GeluTanh,
}

/// `act(h[r][..width]) * h[r][width..]` for each row `r` of `h` (`2 * width` values each), as
/// rows of `width` values. The output is written once, not zeroed first (zeroing it had been 3%
/// of a batched decode step on SmolLM2 under glibc's allocator, 1% under mimalloc).
///
/// # Panics
/// If `width` is 0 or `h` is not whole rows of `2 * width` values.
pub fn forward(gate: Gate, h: &[f32], width: usize) -> Vec<f32> {
    assert!(width > 0, "gate width");
    assert!(
        h.len().is_multiple_of(2 * width),
        "whole rows of gate and up"
    );
    let total_rows = h.len() / (2 * width);
    let mut out = unwritten(total_rows * width);
    let team = Team::global();
    let rows_per_task = (FORWARD_CHUNK / width)
        .max(total_rows.div_ceil(FORWARD_TASKS_PER_THREAD * team.threads()))
        .max(1);
    if total_rows <= rows_per_task {
        rows(gate, h, width, &mut out);
    } else {
        // The decoding team, not rayon: a decode step runs this between two of the team's
        // products, whose workers are still spinning, where waking rayon's would cost more than
        // the split saves.
        team.for_each_chunk(&mut out, rows_per_task * width, &|task, out| {
            let h = &h[2 * task * rows_per_task * width..][..2 * out.len()];
            rows(gate, h, width, out);
        });
    }
    // SAFETY: `rows` writes every value of the rows it is given, and the tasks' chunks cover
    // the output; a task that panicked would have unwound out of `for_each_chunk` before this.
    unsafe { written(out) }
}

/// The input's gradient `grad_h` (`[gate | up]` rows) from the output's, `dy`.
///
/// # Panics
/// If `h` and `grad_h` are not `dy.len() / width` rows of `2 * width` values.
pub fn backward(gate: Gate, h: &[f32], width: usize, dy: &[f32], grad_h: &mut [f32]) {
    assert!(width > 0, "gate width");
    assert_eq!(h.len(), 2 * dy.len(), "gate input and gradient lengths");
    assert_eq!(h.len(), grad_h.len(), "gate input and its gradient");
    assert!(dy.len().is_multiple_of(width), "whole rows");
    let rows_per_task = (CHUNK / width).max(1);
    grad_h
        .par_chunks_mut(2 * rows_per_task * width)
        .zip(h.par_chunks(2 * rows_per_task * width))
        .zip(dy.par_chunks(rows_per_task * width))
        .for_each(|((grad_h, h), dy)| {
            let rows = grad_h
                .chunks_exact_mut(2 * width)
                .zip(h.chunks_exact(2 * width));
            for ((grad_h, h), dy) in rows.zip(dy.chunks_exact(width)) {
                let (g, up) = h.split_at(width);
                let (grad_g, grad_up) = grad_h.split_at_mut(width);
                dispatch::row_backward(gate, [g, up], dy, [grad_g, grad_up]);
            }
        });
}

/// Whole rows, one after the other: writes every value of `out`.
fn rows(gate: Gate, h: &[f32], width: usize, out: &mut [MaybeUninit<f32>]) {
    for (out, h) in out.chunks_exact_mut(width).zip(h.chunks_exact(2 * width)) {
        let (g, up) = h.split_at(width);
        dispatch::row(gate, g, up, out);
    }
}

/// One loop body compiled twice: for the baseline target and with AVX2 + FMA, picked at run time.
mod dispatch {
    use std::mem::MaybeUninit;

    use super::{Gate, gelu_tanh, gelu_tanh_and_slope, silu, silu_and_slope};

    #[inline(always)]
    fn row_loop(gate: Gate, g: &[f32], up: &[f32], out: &mut [MaybeUninit<f32>]) {
        match gate {
            Gate::Silu => {
                for ((out, &g), &up) in out.iter_mut().zip(g).zip(up) {
                    out.write(silu(g) * up);
                }
            }
            Gate::GeluTanh => {
                for ((out, &g), &up) in out.iter_mut().zip(g).zip(up) {
                    out.write(gelu_tanh(g) * up);
                }
            }
        }
    }

    #[inline(always)]
    fn row_backward_loop(gate: Gate, h: [&[f32]; 2], dy: &[f32], grads: [&mut [f32]; 2]) {
        // One loop per activation, each with its function inlined: through a function pointer
        // the loop called it once per value, unvectorised.
        match gate {
            Gate::Silu => backward_with(silu_and_slope, h, dy, grads),
            Gate::GeluTanh => backward_with(gelu_tanh_and_slope, h, dy, grads),
        }
    }

    #[inline(always)]
    fn backward_with(
        act: impl Fn(f32) -> (f32, f32),
        [g, up]: [&[f32]; 2],
        dy: &[f32],
        grads: [&mut [f32]; 2],
    ) {
        let [grad_g, grad_up] = grads;
        let outs = grad_g.iter_mut().zip(grad_up.iter_mut());
        for (((grad_g, grad_up), (&g, &up)), &dy) in outs.zip(g.iter().zip(up)).zip(dy) {
            let (value, slope) = act(g);
            *grad_g = dy * up * slope;
            *grad_up = dy * value;
        }
    }

    pub(super) fn row(gate: Gate, g: &[f32], up: &[f32], out: &mut [MaybeUninit<f32>]) {
        #[cfg(target_arch = "x86_64")]
        if crate::kernels::simd::has_avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { avx2::row(gate, g, up, out) };
        }
        row_loop(gate, g, up, out)
    }

    pub(super) fn row_backward(gate: Gate, h: [&[f32]; 2], dy: &[f32], grads: [&mut [f32]; 2]) {
        #[cfg(target_arch = "x86_64")]
        if crate::kernels::simd::has_avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { avx2::row_backward(gate, h, dy, grads) };
        }
        row_backward_loop(gate, h, dy, grads)
    }

    #[cfg(target_arch = "x86_64")]
    mod avx2 {
        use std::mem::MaybeUninit;

        use super::Gate;

        #[target_feature(enable = "avx2,fma")]
        pub(super) unsafe fn row(gate: Gate, g: &[f32], up: &[f32], out: &mut [MaybeUninit<f32>]) {
            super::row_loop(gate, g, up, out)
        }

        #[target_feature(enable = "avx2,fma")]
        pub(super) unsafe fn row_backward(
            gate: Gate,
            h: [&[f32]; 2],
            dy: &[f32],
            grads: [&mut [f32]; 2],
        ) {
            super::row_backward_loop(gate, h, dy, grads)
        }
    }
}

/// `x / (1 + e^-x)`.
#[inline(always)]
fn silu(x: f32) -> f32 {
    x / (1.0 + exp(-x))
}

/// `silu(x)` and its derivative.
#[inline(always)]
fn silu_and_slope(x: f32) -> (f32, f32) {
    let s = 1.0 / (1.0 + exp(-x));
    (x * s, s * (1.0 + x * (1.0 - s)))
}

/// `sqrt(2/pi)`.
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
/// The cubic term's weight in GeLU's tanh approximation.
const CUBIC: f32 = 0.044_715;

/// `x/2 (1 + tanh(y))` with `y = sqrt(2/pi) (x + 0.044715 x^3)` and `1 + tanh(y) = 2 - 2 / (1 +
/// e^2y)`.
#[inline(always)]
fn gelu_tanh(x: f32) -> f32 {
    let y = SQRT_2_OVER_PI * (x + CUBIC * x * x * x);
    x * (1.0 - 1.0 / (1.0 + exp(2.0 * y)))
}

/// `gelu_tanh(x)` and its derivative.
#[inline(always)]
fn gelu_tanh_and_slope(x: f32) -> (f32, f32) {
    let y = SQRT_2_OVER_PI * (x + CUBIC * x * x * x);
    let t = 1.0 - 2.0 / (1.0 + exp(2.0 * y));
    let dy = SQRT_2_OVER_PI * (1.0 + 3.0 * CUBIC * x * x);
    (
        0.5 * x * (1.0 + t),
        0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dy,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn silu64(x: f64) -> f64 {
        x / (1.0 + (-x).exp())
    }

    fn gelu_tanh64(x: f64) -> f64 {
        let y = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
        0.5 * x * (1.0 + y.tanh())
    }

    /// Every gate value from -60 to 60 (past where `e^x` saturates) against f64, relative to
    /// `1 + |x|` (GeLU's cancellation near zero is absolute, not relative).
    #[test]
    fn both_gates_match_f64_over_the_whole_range() {
        let width = 12_001;
        let g: Vec<f32> = (0..width).map(|i| -60.0 + i as f32 * 0.01).collect();
        let up: Vec<f32> = (0..width).map(|i| 1.0 + (i % 7) as f32 * 0.25).collect();
        let h: Vec<f32> = g.iter().chain(&up).copied().collect();
        for (gate, reference) in [
            (Gate::Silu, silu64 as fn(f64) -> f64),
            (Gate::GeluTanh, gelu_tanh64),
        ] {
            let out = forward(gate, &h, width);
            for i in 0..width {
                let (x, u) = (f64::from(g[i]), f64::from(up[i]));
                let want = reference(x) * u;
                let got = f64::from(out[i]);
                assert!(
                    (got - want).abs() <= 1e-6 * (1.0 + x.abs()) * u,
                    "{gate:?}({x}) * {u}: {got} vs {want}"
                );
            }
        }
    }

    /// The backward step against central differences of the f64 gates.
    #[test]
    fn the_gradients_are_the_derivatives() {
        let (rows, width) = (3, 2001);
        let g: Vec<f32> = (0..rows * width)
            .map(|i| -10.0 + (i % width) as f32 * 0.01)
            .collect();
        let up: Vec<f32> = (0..rows * width)
            .map(|i| 0.5 + (i % 5) as f32 * 0.5)
            .collect();
        let dy: Vec<f32> = (0..rows * width)
            .map(|i| 1.0 - (i % 3) as f32 * 0.75)
            .collect();
        let mut h = Vec::new();
        for r in 0..rows {
            h.extend_from_slice(&g[r * width..(r + 1) * width]);
            h.extend_from_slice(&up[r * width..(r + 1) * width]);
        }
        for (gate, reference) in [
            (Gate::Silu, silu64 as fn(f64) -> f64),
            (Gate::GeluTanh, gelu_tanh64),
        ] {
            let mut grad_h = vec![0.0; h.len()];
            backward(gate, &h, width, &dy, &mut grad_h);
            for r in 0..rows {
                for i in 0..width {
                    let k = r * width + i;
                    let (x, u, d) = (f64::from(g[k]), f64::from(up[k]), f64::from(dy[k]));
                    let e = 1e-5;
                    let slope = (reference(x + e) - reference(x - e)) / (2.0 * e);
                    let (got_g, got_up) =
                        (grad_h[r * 2 * width + i], grad_h[r * 2 * width + width + i]);
                    let tolerance = 2e-6 * (1.0 + x.abs()) * u.max(1.0) * d.abs().max(1.0);
                    assert!(
                        (f64::from(got_g) - d * u * slope).abs() <= tolerance,
                        "{gate:?}'({x}): {got_g} vs {}",
                        d * u * slope
                    );
                    assert!(
                        (f64::from(got_up) - d * reference(x)).abs() <= tolerance,
                        "{gate:?}({x}) for up: {got_up}"
                    );
                }
            }
        }
    }

    /// Rows split over tasks give each row its own halves.
    #[test]
    fn many_rows_keep_their_halves() {
        let (rows, width) = (9, 4000);
        let h: Vec<f32> = (0..rows * 2 * width)
            .map(|i| ((i * 7919) % 2000) as f32 / 500.0 - 2.0)
            .collect();
        let out = forward(Gate::Silu, &h, width);
        assert_eq!(out.len(), rows * width);
        for r in 0..rows {
            for i in [0, 17, width - 1] {
                let (g, up) = (h[r * 2 * width + i], h[r * 2 * width + width + i]);
                let want = silu64(f64::from(g)) * f64::from(up);
                assert!(
                    (f64::from(out[r * width + i]) - want).abs() <= 1e-5,
                    "{r} {i}"
                );
            }
        }
    }
}
