//! Our GeLU kernel ([`crate::kernels::gelu`]) on Flex and its backward step.

use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops};
use burn_flex::{Flex, FlexTensor};

use super::{ContiguousF32, f32_slice, f32_slice_mut, f32_tensor, register_parent_grads};
use crate::kernels::gelu;

/// The backward step of [`super::CpuKernels::fused_gelu`] on autodiff; its state is the input.
#[derive(Debug)]
pub(super) struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        // The output's gradient becomes the input's, in its own buffer (copied only if shared).
        let mut grad = grads.consume::<Flex>(&ops.node).into_contiguous_f32();
        gelu::backward(f32_slice(&ops.state), f32_slice_mut(&mut grad));
        register_parent_grads(&ops, grads, [grad]);
    }
}

pub(super) fn gelu_forward(x: &FlexTensor) -> FlexTensor {
    let mut y = vec![0.0f32; x.layout().num_elements()];
    gelu::forward(f32_slice(x), &mut y);
    f32_tensor(y, x.layout().shape().clone())
}
