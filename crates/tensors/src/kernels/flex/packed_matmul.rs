//! Activations times a packed weight ([`crate::kernels::packed_matmul`]) on Flex, and its
//! backward step for the activations: the weight is a constant (QLoRA's frozen base), so only
//! `dx = dy · w` is computed, from the packed weight decoded a tile at a time.

use std::sync::Arc;

use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops};
use burn_flex::{Flex, FlexTensor};
use claude_quant::PackedMatrix;

use super::{ContiguousF32, f32_slice, f32_tensor, register_parent_grads};
use crate::kernels::layer_norm::RowNorm;
use crate::kernels::packed_matmul::{
    Around, NormedProduct, PackedArithmetic, packed_matmul_around_f32, packed_matmul_f32,
    packed_matmul_transposed_f32,
};

/// The backward step of [`super::CpuKernels::fused_packed_matmul`]; its state is the packed
/// weight (shared, never copied).
#[derive(Debug)]
pub(super) struct PackedMatmulBackward;

impl Backward<Flex, 1> for PackedMatmulBackward {
    type State = Arc<PackedMatrix>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let weight = &ops.state;
        let grad_out = grads.consume::<Flex>(&ops.node).into_contiguous_f32();
        let n = grad_out.layout().shape()[0];
        // The exactly decoded weight, whatever arithmetic the forward pass used.
        let grad = packed_matmul_transposed_f32(f32_slice(&grad_out), n, weight);
        let grad = f32_tensor(grad, [n, weight.cols()].into());
        register_parent_grads(&ops, grads, [grad]);
    }
}

/// `x · wᵀ` (`x` `[n, w.cols()]`, f32) with our CPU kernel: `[n, w.rows()]`.
pub(super) fn packed_matmul_forward(
    x: FlexTensor,
    weight: &PackedMatrix,
    arithmetic: PackedArithmetic,
) -> FlexTensor {
    let x = x.into_contiguous_f32();
    let n = activation_rows(&x, weight);
    let out = packed_matmul_f32(f32_slice(&x), n, weight, arithmetic);
    f32_tensor(out, [n, weight.rows()].into())
}

/// `norm(x) · wᵀ` (`x` `[n, w.cols()]`, f32; the norm's `gamma` and `beta` `[w.cols()]`) with
/// our CPU kernel: `[n, w.rows()]`.
pub(super) fn normed_packed_matmul_forward(
    x: FlexTensor,
    (gamma, beta): (FlexTensor, FlexTensor),
    weight: &PackedMatrix,
    options: NormedProduct,
) -> FlexTensor {
    let (gamma, beta) = (gamma.into_contiguous_f32(), beta.into_contiguous_f32());
    let norm = RowNorm {
        gamma: f32_slice(&gamma),
        beta: Some(f32_slice(&beta)),
        eps: options.eps,
        centred: options.centred,
    };
    let around = Around {
        norm: Some(norm),
        residual: None,
    };
    packed_around_forward(x, weight, options.arithmetic, &around)
}

/// `residual + x · wᵀ` (`x` `[n, w.cols()]`, `residual` `[n, w.rows()]`, f32) with our CPU
/// kernel: `[n, w.rows()]`.
pub(super) fn packed_matmul_add_forward(
    x: FlexTensor,
    residual: FlexTensor,
    weight: &PackedMatrix,
    arithmetic: PackedArithmetic,
) -> FlexTensor {
    let residual = residual.into_contiguous_f32();
    let around = Around {
        norm: None,
        residual: Some(f32_slice(&residual)),
    };
    packed_around_forward(x, weight, arithmetic, &around)
}

/// The product `around` describes, of `x` (`[n, w.cols()]`, f32): `[n, w.rows()]`.
fn packed_around_forward(
    x: FlexTensor,
    weight: &PackedMatrix,
    arithmetic: PackedArithmetic,
    around: &Around<'_>,
) -> FlexTensor {
    let x = x.into_contiguous_f32();
    let n = activation_rows(&x, weight);
    let out = packed_matmul_around_f32(f32_slice(&x), n, weight, arithmetic, around);
    f32_tensor(out, [n, weight.rows()].into())
}

/// The number of rows of `x`, a 2-D tensor of `weight.cols()` columns.
///
/// # Panics
/// If `x` has another shape.
fn activation_rows(x: &FlexTensor, weight: &PackedMatrix) -> usize {
    let shape = x.layout().shape();
    assert_eq!(
        shape.num_dims(),
        2,
        "a packed matrix product takes a 2-D tensor"
    );
    let (n, cols) = (shape[0], shape[1]);
    assert_eq!(
        cols,
        weight.cols(),
        "activations of {cols} features for a weight of {} columns",
        weight.cols()
    );
    n
}

#[cfg(test)]
mod tests {
    use burn::prelude::*;
    use burn::tensor::Distribution;
    use claude_quant::{GgmlType, RowFormat};

    use super::*;
    use crate::kernels::flex::supports;
    use crate::kernels::packed_matmul as packed;

    /// A `rows x cols` weight of type `ty` from random values, and its decoded values.
    fn weight(ty: GgmlType, rows: usize, cols: usize, seed: u64) -> (Arc<PackedMatrix>, Vec<f32>) {
        let device = Device::flex();
        device.seed(seed);
        let values = Tensor::<2>::random([rows, cols], Distribution::Normal(0.0, 0.5), &device)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let w = PackedMatrix::quantize(RowFormat::Ggml(ty), rows, cols, &values).unwrap();
        let decoded = w.dequantize();
        (Arc::new(w), decoded)
    }

    fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_into_vec::<f32>().unwrap()
    }

    /// The gradient of `sum(packed_matmul(x, w) * r)` is `r · decoded(w)`, the forward equals the
    /// untracked one, and a tracked product of an untracked input records no backward step.
    #[test]
    fn the_gradient_of_the_activations_is_the_output_gradient_times_the_decoded_weight() {
        let (n, rows, cols) = (7, 300, 256);
        for ty in [GgmlType::Q4_1, GgmlType::Q6_K] {
            let (w, decoded) = weight(ty, rows, cols, 11);
            let device = Device::flex().autodiff();
            device.seed(12);
            let x = Tensor::<2>::random([n, cols], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let r = Tensor::<2>::random([n, rows], Distribution::Normal(0.0, 1.0), &device);
            assert!(supports(&x));
            let y = crate::kernels::packed_matmul(x.clone(), &w, packed::PackedArithmetic::Exact);
            assert_eq!(y.dims(), [n, rows]);

            // The forward pass is the plain one.
            let untracked = crate::kernels::packed_matmul(
                Tensor::from_data(x.to_data(), &Device::flex()),
                &w,
                packed::PackedArithmetic::Exact,
            );
            assert_eq!(to_vec(y.clone()), to_vec(untracked));

            let grads = (y * r.clone()).sum().backward();
            let got = to_vec(x.grad(&grads).expect("a gradient for x"));
            let r = to_vec(r);
            for i in 0..n {
                for j in 0..cols {
                    let want: f64 = (0..rows)
                        .map(|o| f64::from(r[i * rows + o]) * f64::from(decoded[o * cols + j]))
                        .sum();
                    let got = f64::from(got[i * cols + j]);
                    assert!(
                        (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "{ty} ({i}, {j}): {got} vs {want}"
                    );
                }
            }
        }
    }

    /// A constant input on an autodiff device: the product is a constant too.
    #[test]
    fn an_untracked_input_gives_an_untracked_output() {
        let (w, _) = weight(GgmlType::Q8_0, 40, 64, 3);
        let device = Device::flex().autodiff();
        let x = Tensor::<2>::random([3, 64], Distribution::Default, &device);
        let y = crate::kernels::packed_matmul(x, &w, packed::PackedArithmetic::Fast);
        assert!(!y.is_require_grad());
        assert_eq!(y.dims(), [3, 40]);
    }

    /// Central differences of a scalar loss against the gradient, for a few coordinates.
    #[test]
    fn the_gradient_matches_finite_differences() {
        let (n, rows, cols) = (3, 48, 256);
        let (w, _) = weight(GgmlType::Q4_K, rows, cols, 21);
        let device = Device::flex().autodiff();
        device.seed(22);
        let x0 = to_vec(Tensor::<2>::random(
            [n, cols],
            Distribution::Normal(0.0, 1.0),
            &device,
        ));
        let r = Tensor::<2>::random([n, rows], Distribution::Normal(0.0, 1.0), &device);
        // A loss that is not linear in x, so the gradient depends on where it is taken.
        let loss = |x: Tensor<2>| {
            let y = crate::kernels::packed_matmul(x, &w, packed::PackedArithmetic::Exact);
            (y.clone() * y * r.clone()).sum() * 0.5
        };
        let x =
            Tensor::<2>::from_data(TensorData::new(x0.clone(), [n, cols]), &device).require_grad();
        let grads = loss(x.clone()).backward();
        let grad = to_vec(x.grad(&grads).expect("a gradient for x"));

        let step = 1e-2f32;
        let at = |values: Vec<f32>| {
            let x = Tensor::<2>::from_data(TensorData::new(values, [n, cols]), &device);
            f64::from(loss(x).into_scalar::<f32>())
        };
        for index in [0, 17, cols + 100, 2 * cols + 255] {
            let (mut plus, mut minus) = (x0.clone(), x0.clone());
            plus[index] += step;
            minus[index] -= step;
            let numeric = (at(plus) - at(minus)) / (2.0 * f64::from(step));
            let analytic = f64::from(grad[index]);
            assert!(
                (numeric - analytic).abs() <= 2e-2 * (1.0 + analytic.abs()),
                "x[{index}]: finite difference {numeric} vs gradient {analytic}"
            );
        }
    }
}
