//! Our attention kernels on Flex, split-heads ([`crate::kernels::causal_attention`]) and packed
//! ([`crate::kernels::packed_attention`]), and their backward steps.

use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops};
use burn_flex::{Flex, FlexTensor};

use super::{ContiguousF32, f32_slice, f32_tensor, register_parent_grads};
use crate::kernels::causal_attention::{self, AttentionShape};
use crate::kernels::packed_attention::{self, PackedShape};

/// The forward pass's output and what its backward pass needs.
#[derive(Debug, Clone)]
pub(super) struct AttentionSaved {
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    pub(super) out: FlexTensor,
    lse: Vec<f32>,
}

/// The backward step of [`super::CpuKernels::fused_causal_attention`] on autodiff.
#[derive(Debug)]
pub(super) struct CausalAttentionBackward;

impl Backward<Flex, 3> for CausalAttentionBackward {
    type State = AttentionSaved;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let saved = &ops.state;
        let grad_out = grads.consume::<Flex>(&ops.node).into_contiguous_f32();
        let shape = attention_shape(&saved.q);
        let [mut grad_q, mut grad_k, mut grad_v] = [0; 3].map(|_| vec![0.0f32; shape.len()]);
        causal_attention::backward(
            shape,
            f32_slice(&saved.q),
            f32_slice(&saved.k),
            f32_slice(&saved.v),
            f32_slice(&saved.out),
            &saved.lse,
            f32_slice(&grad_out),
            &mut grad_q,
            &mut grad_k,
            &mut grad_v,
        );
        let dims = saved.q.layout().shape().clone();
        let [grad_q, grad_k, grad_v] =
            [grad_q, grad_k, grad_v].map(|grad| f32_tensor(grad, dims.clone()));
        register_parent_grads(&ops, grads, [grad_q, grad_k, grad_v]);
    }
}

/// Runs the forward kernel, keeping contiguous copies of the inputs for the backward pass.
pub(super) fn attention_forward(q: &FlexTensor, k: &FlexTensor, v: &FlexTensor) -> AttentionSaved {
    let (q, k, v) = (
        q.clone().into_contiguous_f32(),
        k.clone().into_contiguous_f32(),
        v.clone().into_contiguous_f32(),
    );
    let shape = attention_shape(&q);
    for other in [&k, &v] {
        assert_eq!(
            other.layout().shape(),
            q.layout().shape(),
            "fused causal attention needs equal q, k, v shapes"
        );
    }
    let mut out = vec![0.0f32; shape.len()];
    let mut lse = vec![0.0f32; shape.heads * shape.seq];
    causal_attention::forward(
        shape,
        f32_slice(&q),
        f32_slice(&k),
        f32_slice(&v),
        &mut out,
        &mut lse,
    );
    let out = f32_tensor(out, q.layout().shape().clone());
    AttentionSaved { q, k, v, out, lse }
}

fn attention_shape(q: &FlexTensor) -> AttentionShape {
    let dims = q.layout().shape();
    assert_eq!(
        dims.num_dims(),
        4,
        "attention inputs are [batch, heads, seq, head_dim]"
    );
    AttentionShape {
        heads: dims[0] * dims[1],
        seq: dims[2],
        head_dim: dims[3],
    }
}

/// The packed self-attention forward pass's output and what its backward pass needs.
#[derive(Debug, Clone)]
pub(super) struct SelfAttentionSaved {
    shape: PackedShape,
    qkv: FlexTensor,
    pub(super) out: FlexTensor,
    lse: Vec<f32>,
}

/// Runs the packed self-attention forward kernel.
pub(super) fn self_attention_forward(qkv: FlexTensor, n_head: usize) -> SelfAttentionSaved {
    let qkv = qkv.into_contiguous_f32();
    let shape = packed_shape(&qkv, n_head);
    let mut out = vec![0.0f32; shape.out_len()];
    let mut lse = vec![0.0f32; shape.lse_len()];
    packed_attention::forward(shape, f32_slice(&qkv), &mut out, &mut lse);
    let dims = [shape.batch, shape.seq, shape.width()];
    let out = f32_tensor(out, dims.into());
    SelfAttentionSaved {
        shape,
        qkv,
        out,
        lse,
    }
}

/// Runs the padded (non-causal) kernel; no state is kept.
pub(super) fn padded_self_attention_forward(
    qkv: FlexTensor,
    n_head: usize,
    key_lens: &[usize],
) -> FlexTensor {
    let qkv = qkv.into_contiguous_f32();
    let shape = packed_shape(&qkv, n_head);
    let mut out = vec![0.0f32; shape.out_len()];
    packed_attention::forward_padded(shape, f32_slice(&qkv), key_lens, &mut out);
    f32_tensor(out, [shape.batch, shape.seq, shape.width()].into())
}

/// The backward step of [`super::CpuKernels::fused_self_attention`] on autodiff.
#[derive(Debug)]
pub(super) struct SelfAttentionBackward;

impl Backward<Flex, 1> for SelfAttentionBackward {
    type State = SelfAttentionSaved;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let saved = &ops.state;
        let grad_out = grads.consume::<Flex>(&ops.node).into_contiguous_f32();
        let mut grad_qkv = vec![0.0f32; saved.shape.packed_len()];
        packed_attention::backward(
            saved.shape,
            f32_slice(&saved.qkv),
            f32_slice(&saved.out),
            &saved.lse,
            f32_slice(&grad_out),
            &mut grad_qkv,
        );
        let grad_qkv = f32_tensor(grad_qkv, saved.qkv.layout().shape().clone());
        register_parent_grads(&ops, grads, [grad_qkv]);
    }
}

/// The packed shape of a contiguous `[batch, seq, 3·width]` projection with `n_head` heads.
pub(super) fn packed_shape(qkv: &FlexTensor, n_head: usize) -> PackedShape {
    let dims = qkv.layout().shape();
    assert_eq!(
        dims.num_dims(),
        3,
        "the packed projection is [batch, seq, 3·width]"
    );
    let width = dims[2] / 3;
    assert!(
        n_head > 0 && dims[2] == 3 * width && width.is_multiple_of(n_head),
        "the packed projection's last dimension {} is not 3 x heads ({n_head}) x head width",
        dims[2]
    );
    PackedShape {
        batch: dims[0],
        seq: dims[1],
        heads: n_head,
        head_dim: width / n_head,
    }
}
