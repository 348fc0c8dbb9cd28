//! Our rotary-position kernel ([`crate::kernels::rotary`]) on Flex and its backward step.

use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops};
use burn_flex::{Flex, FlexTensor};

use super::attention::packed_shape;
use super::{
    ContiguousF32, f32_slice, f32_tensor, head_rows, register_parent_grads, with_readable_heads,
};
use crate::kernels::packed_attention::PackedShape;
use crate::kernels::rotary::{self, Direction};

/// Each row of `x` (`[rows, heads, 1, head_dim]`, any strides; read in place where each head's
/// values are contiguous) rotated by its own position's entry of `table` (`[positions,
/// head_dim, 2]`), into a new tensor. Inference only.
pub(super) fn rotate_rows_forward(
    x: FlexTensor,
    table: &FlexTensor,
    positions: &[usize],
) -> FlexTensor {
    let x = with_readable_heads(x);
    let shape = x.layout().shape().clone();
    let (rows, head_dim) = (shape[0], shape[3]);
    assert_eq!(positions.len(), rows, "one position per row");
    let table = table.clone().into_contiguous_f32();
    assert!(
        positions.iter().all(|&p| p < table.layout().shape()[0]),
        "positions within the rotary table"
    );
    let out = rotary::rotate_rows_at(f32_slice(&table), positions, head_dim, &head_rows(&x));
    f32_tensor(out, shape)
}

/// A rotary table and the packed shape it rotates.
#[derive(Debug, Clone)]
pub(super) struct Rotation {
    shape: PackedShape,
    freqs: FlexTensor,
}

impl Rotation {
    /// Rotates `qkv` with the table `freqs`; returns the rotated projection and the rotation
    /// (what the backward step needs).
    pub(super) fn forward(qkv: FlexTensor, freqs: FlexTensor, n_head: usize) -> (FlexTensor, Self) {
        let qkv = qkv.into_contiguous_f32();
        let shape = packed_shape(&qkv, n_head);
        let freqs = freqs.into_contiguous_f32();
        assert_eq!(
            freqs.layout().shape().to_vec(),
            [shape.seq, shape.head_dim, 2],
            "rotary table is [seq, head_dim, 2]"
        );
        let rotation = Rotation { shape, freqs };
        (rotation.apply(&qkv, Direction::Forward), rotation)
    }

    /// `x` (contiguous, the packed shape) rotated one way or the other.
    fn apply(&self, x: &FlexTensor, direction: Direction) -> FlexTensor {
        let mut y = vec![0.0f32; self.shape.packed_len()];
        rotary::rotate(
            self.shape,
            f32_slice(&self.freqs),
            f32_slice(x),
            &mut y,
            direction,
        );
        f32_tensor(y, x.layout().shape().clone())
    }
}

/// The backward step of [`super::CpuKernels::fused_rotary`] on autodiff: the transposed rotation.
#[derive(Debug)]
pub(super) struct RotaryBackward;

impl Backward<Flex, 1> for RotaryBackward {
    type State = Rotation;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad_out = grads.consume::<Flex>(&ops.node).into_contiguous_f32();
        let grad_qkv = ops.state.apply(&grad_out, Direction::Transpose);
        register_parent_grads(&ops, grads, [grad_qkv]);
    }
}
