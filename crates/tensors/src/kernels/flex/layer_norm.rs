//! Our LayerNorm and RMSNorm kernel ([`crate::kernels::layer_norm`]) on Flex and its backward
//! step.

use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops};
use burn_flex::{Flex, FlexTensor};

use super::{ContiguousF32, f32_slice, f32_tensor, register_parent_grads};
use crate::kernels::layer_norm;

/// What the LayerNorm backward pass needs.
#[derive(Debug, Clone)]
pub(super) struct LayerNormSaved {
    x: FlexTensor,
    gamma: FlexTensor,
    stats: layer_norm::RowStats,
}

/// The backward step of [`super::CpuKernels::fused_layer_norm`] on autodiff.
#[derive(Debug)]
pub(super) struct LayerNormBackward;

impl Backward<Flex, 3> for LayerNormBackward {
    type State = LayerNormSaved;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let saved = &ops.state;
        let grad_y = grads.consume::<Flex>(&ops.node).into_contiguous_f32();
        let mut grad_x = vec![0.0f32; saved.x.layout().num_elements()];
        let (grad_gamma, grad_beta) = layer_norm::backward(
            f32_slice(&saved.x),
            f32_slice(&saved.gamma),
            &saved.stats,
            f32_slice(&grad_y),
            &mut grad_x,
        );
        let features = saved.gamma.layout().shape().clone();
        let grads_of = [
            f32_tensor(grad_x, saved.x.layout().shape().clone()),
            f32_tensor(grad_gamma, features.clone()),
            f32_tensor(grad_beta, features),
        ];
        register_parent_grads(&ops, grads, grads_of);
    }
}

/// Runs the forward kernel (RMSNorm when not `centred`); returns the output and what the
/// backward pass needs.
pub(super) fn layer_norm_forward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    eps: f32,
    centred: bool,
) -> (FlexTensor, LayerNormSaved) {
    let x = x.clone().into_contiguous_f32();
    let gamma = gamma.clone().into_contiguous_f32();
    let beta = beta.clone().into_contiguous_f32();
    let mut y = vec![0.0f32; x.layout().num_elements()];
    let stats = layer_norm::forward(
        f32_slice(&x),
        f32_slice(&gamma),
        f32_slice(&beta),
        eps,
        centred,
        &mut y,
    );
    let y = f32_tensor(y, x.layout().shape().clone());
    (y, LayerNormSaved { x, gamma, stats })
}
