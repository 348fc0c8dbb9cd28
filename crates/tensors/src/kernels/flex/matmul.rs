//! Our matrix product ([`crate::kernels::gemm`]) on Flex and its backward step.

use burn::tensor::DType;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops};
use burn_flex::{Flex, FlexTensor};

use super::f32_tensor;
use crate::kernels::gemm::{self, Mat, Threads};

/// The backward step of [`super::CpuKernels::fused_matmul`]; its state is the two factors.
#[derive(Debug)]
pub(super) struct MatmulBackward;

impl Backward<Flex, 2> for MatmulBackward {
    type State = [FlexTensor; 2];

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [lhs, rhs] = &ops.state;
        let grad_out = matrix(grads.consume::<Flex>(&ops.node));
        let [lhs_node, rhs_node] = &ops.parents;
        // d(lhs) = d(out)·rhsᵀ and d(rhs) = lhsᵀ·d(out), each only for an input that needs it.
        if let Some(node) = lhs_node {
            let grad = gemm::product(mat(&grad_out), mat(rhs).t(), Threads::All);
            let dims = lhs.layout().shape().clone();
            grads.register::<Flex>(node.id, f32_tensor(grad, dims));
        }
        if let Some(node) = rhs_node {
            let grad = gemm::product(mat(lhs).t(), mat(&grad_out), Threads::All);
            let dims = rhs.layout().shape().clone();
            grads.register::<Flex>(node.id, f32_tensor(grad, dims));
        }
    }
}

/// `lhs · rhs` for two matrices made by [`matrix`].
pub(super) fn matmul_forward(lhs: &FlexTensor, rhs: &FlexTensor) -> FlexTensor {
    let (a, b) = (mat(lhs), mat(rhs));
    let dims = [a.num_rows(), b.num_cols()];
    f32_tensor(gemm::product(a, b, Threads::All), dims.into())
}

/// `tensor` as an `f32` matrix that [`mat`] can view in place: kept as it is when its strides
/// are non-negative (row-major, transposed or a slice), copied to row-major otherwise.
pub(super) fn matrix(tensor: FlexTensor) -> FlexTensor {
    assert_eq!(
        tensor.dtype(),
        DType::F32,
        "our CPU kernels take f32 tensors"
    );
    let layout = tensor.layout();
    assert_eq!(layout.num_dims(), 2, "a matrix product takes 2-D tensors");
    if layout.strides().iter().all(|&stride| stride >= 0) {
        tensor
    } else {
        tensor.to_contiguous()
    }
}

/// A view of a tensor made by [`matrix`].
fn mat(tensor: &FlexTensor) -> Mat<'_> {
    let layout = tensor.layout();
    let shape = layout.shape();
    let strides = layout.strides();
    let data = &tensor.storage::<f32>()[layout.start_offset()..];
    Mat::strided(
        data,
        [shape[0], shape[1]],
        [strides[0] as usize, strides[1] as usize],
    )
}
