//! The gated MLP's gate ([`crate::kernels::gated`]) on Flex tensors, and its backward step.

use burn::tensor::Shape;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops};
use burn_flex::{Flex, FlexTensor};

use super::{ContiguousF32, f32_slice, f32_tensor, register_parent_grads};
use crate::kernels::gated::{Gate, backward, forward};

/// The backward step of [`super::CpuKernels::fused_gate`] on autodiff; its state is the input
/// and the gate.
#[derive(Debug)]
pub(super) struct GateBackward;

impl Backward<Flex, 1> for GateBackward {
    type State = (FlexTensor, Gate);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (h, gate) = &ops.state;
        let dy = grads.consume::<Flex>(&ops.node).into_contiguous_f32();
        let width = h.layout().shape().to_vec().last().copied().unwrap_or(0) / 2;
        let mut grad_h = vec![0.0f32; h.layout().num_elements()];
        if width > 0 {
            backward(*gate, f32_slice(h), width, f32_slice(&dy), &mut grad_h);
        }
        let grad_h = f32_tensor(grad_h, h.layout().shape().clone());
        register_parent_grads(&ops, grads, [grad_h]);
    }
}

/// `act(gate) * up` for `h` `[..., 2 * width]` (gate half first, contiguous), giving
/// `[..., width]`.
pub(super) fn gate_forward(h: &FlexTensor, gate: Gate) -> FlexTensor {
    let mut dims = h.layout().shape().to_vec();
    let last = dims.last_mut().expect("at least one dimension");
    assert!(last.is_multiple_of(2), "gate and up halves of equal width");
    *last /= 2;
    let width = *last;
    let shape = Shape::from(dims);
    let out = match width {
        0 => Vec::new(),
        _ => forward(gate, f32_slice(h), width),
    };
    f32_tensor(out, shape)
}
