//! Our CPU kernels as a burn backend extension of the Flex backend, with their own backward pass
//! on burn's autodiff (burn would otherwise record attention as a dozen decomposed ops, each
//! keeping a `[batch, heads, seq, seq]` tensor for the backward pass, and GeLU as five).
//! A packed weight ([`PackedMatrix`]) passes through the extension as an ordinary argument (the
//! macro forwards non-tensor arguments as they are): the product with it is tracked for the
//! activations only, the weight being a constant.

use std::sync::Arc;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, DispatchDevice, backend_extension};
use burn::prelude::*;
use burn::tensor::{DType, TensorData};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};
use claude_quant::PackedMatrix;

use crate::kernels::gated::Gate;
use crate::kernels::head_rows::HeadRows;
use crate::kernels::packed_matmul::{NormedProduct, PackedArithmetic};

mod adamw;
mod attention;
mod cache_write;
mod decode_attention;
mod gated;
mod gelu;
mod layer_norm;
mod matmul;
mod packed_matmul;
mod rotary;

pub use adamw::{adamw_step, supports_adamw};
use attention::{
    CausalAttentionBackward, SelfAttentionBackward, attention_forward,
    padded_self_attention_forward, self_attention_forward,
};
use cache_write::write_slots_forward;
use decode_attention::decode_attention_forward;
use gated::{GateBackward, gate_forward};
use gelu::{GeluBackward, gelu_forward};
use layer_norm::{LayerNormBackward, layer_norm_forward};
use matmul::{MatmulBackward, matmul_forward, matrix};
use packed_matmul::{
    PackedMatmulBackward, normed_packed_matmul_forward, packed_matmul_add_forward,
    packed_matmul_forward,
};
use rotary::{RotaryBackward, Rotation, rotate_rows_forward};

/// Operations we run with our own CPU kernels.
#[backend_extension(Flex, Autodiff)]
pub trait CpuKernels: Backend {
    /// Causal scaled dot-product attention, `[batch, heads, seq, head_dim]` for all three inputs
    /// and the output.
    fn fused_causal_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// One query per row and head, `[rows, n_head, 1, head_dim]`, against the first
    /// `key_lens[r]` of each row's cached keys and values (`[rows, n_kv_head, positions,
    /// head_dim]`, read in place through their strides). Inference only: no backward step.
    fn fused_decode_attention(
        q: FloatTensor<Self>,
        keys: FloatTensor<Self>,
        values: FloatTensor<Self>,
        key_lens: Vec<usize>,
    ) -> FloatTensor<Self>;

    /// The exact (erf) GeLU, elementwise.
    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// A gated MLP's gate: `[..., 2 * width]` (gate half, then up half) to `act(gate) * up`,
    /// `[..., width]`.
    fn fused_gate(h: FloatTensor<Self>, gate: Gate) -> FloatTensor<Self>;

    /// LayerNorm over the last dimension, `gamma` and `beta` `[features]`; with `centred` false,
    /// RMSNorm (no mean taken off).
    fn fused_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f32,
        centred: bool,
    ) -> FloatTensor<Self>;

    /// The matrix product of `[m, k]` and `[k, n]` matrices (strided views are read in place).
    fn fused_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `x · wᵀ` for `[n, weight.cols()]` activations and a packed weight (a constant: under
    /// autodiff only `x` gets a gradient, `dy · w` with the exactly decoded weight), giving
    /// `[n, weight.rows()]`.
    fn fused_packed_matmul(
        x: FloatTensor<Self>,
        weight: Arc<PackedMatrix>,
        arithmetic: PackedArithmetic,
    ) -> FloatTensor<Self>;

    /// `norm(x) · wᵀ` for `[n, weight.cols()]` activations, the norm's `gamma` and `beta`
    /// (`[weight.cols()]`) with `options`' epsilon and centring. Inference only: no backward
    /// step.
    fn fused_normed_packed_matmul(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        weight: Arc<PackedMatrix>,
        options: NormedProduct,
    ) -> FloatTensor<Self>;

    /// `residual + x · wᵀ` for `[n, weight.cols()]` activations and an `[n, weight.rows()]`
    /// residual. Inference only: no backward step.
    fn fused_packed_matmul_add(
        x: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        weight: Arc<PackedMatrix>,
        arithmetic: PackedArithmetic,
    ) -> FloatTensor<Self>;

    /// Causal self-attention with `n_head` heads from the packed projection
    /// `[batch, seq, 3·width]`, giving `[batch, seq, width]` with the heads merged.
    fn fused_self_attention(qkv: FloatTensor<Self>, n_head: usize) -> FloatTensor<Self>;

    /// Self-attention without the causal mask from the packed projection `[batch, seq,
    /// 3·width]`, each query of row `b` over the row's first `key_lens[b]` keys, giving
    /// `[batch, seq, width]`. Inference only: no backward step.
    fn fused_padded_self_attention(
        qkv: FloatTensor<Self>,
        n_head: usize,
        key_lens: Vec<usize>,
    ) -> FloatTensor<Self>;

    /// Each row of `x` (`[rows, heads, 1, head_dim]`) rotated by its own position's entry of the
    /// rotary table (`[positions, head_dim, 2]`): the decode step's queries or keys. Inference
    /// only: no backward step.
    fn fused_rotate_rows(
        x: FloatTensor<Self>,
        table: FloatTensor<Self>,
        positions: Vec<usize>,
    ) -> FloatTensor<Self>;

    /// `new` (`[rows, heads, 1, head_dim]`) written into the key/value cache buffer `buffer`
    /// (`[rows, heads, allocated, head_dim]`, f32 or f16) at slot `slots[r]` of each row `r`, in
    /// place where the buffer is not shared. Inference only: no backward step.
    fn fused_write_slots(
        buffer: FloatTensor<Self>,
        new: FloatTensor<Self>,
        slots: Vec<usize>,
    ) -> FloatTensor<Self>;

    /// Rotary positions on the query and key parts of the packed projection
    /// `[batch, seq, 3·width]`, with the table `freqs` (`[seq, head_dim, 2]`).
    fn fused_rotary(
        qkv: FloatTensor<Self>,
        freqs: FloatTensor<Self>,
        n_head: usize,
    ) -> FloatTensor<Self>;
}

/// Whether our kernels run for this tensor: `f32` on the Flex device (with or without autodiff).
pub fn supports<const D: usize>(x: &Tensor<D>) -> bool {
    let on_flex = matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_));
    on_flex && x.dtype() == DType::F32
}

/// LayerNorm (RMSNorm when not `centred`) through our Flex kernel; see [`supports`].
pub fn layer_norm<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    eps: f32,
    centred: bool,
) -> Tensor<D> {
    Tensor::from_dispatch(Dispatch::fused_layer_norm(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        eps,
        centred,
    ))
}

/// The matrix product through our Flex kernel; see [`supports`].
pub fn matmul(lhs: Tensor<2>, rhs: Tensor<2>) -> Tensor<2> {
    Tensor::from_dispatch(Dispatch::fused_matmul(
        lhs.into_dispatch(),
        rhs.into_dispatch(),
    ))
}

/// `x · wᵀ` for a packed weight through our Flex kernel, differentiable in `x`; see
/// [`supports`].
pub fn packed_matmul(
    x: Tensor<2>,
    weight: &Arc<PackedMatrix>,
    arithmetic: PackedArithmetic,
) -> Tensor<2> {
    Tensor::from_dispatch(Dispatch::fused_packed_matmul(
        x.into_dispatch(),
        Arc::clone(weight),
        arithmetic,
    ))
}

/// `norm(x) · wᵀ` through our Flex kernel (inference only: no input may require a
/// gradient); see [`supports`] and [`crate::kernels::normed_packed_matmul`].
pub fn normed_packed_matmul(
    x: Tensor<2>,
    (gamma, beta): (Tensor<1>, Tensor<1>),
    weight: &Arc<PackedMatrix>,
    options: NormedProduct,
) -> Tensor<2> {
    Tensor::from_dispatch(Dispatch::fused_normed_packed_matmul(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        Arc::clone(weight),
        options,
    ))
}

/// `residual + x · wᵀ` through our Flex kernel (inference only: no input may require a
/// gradient); see [`supports`] and [`crate::kernels::packed_matmul_add`].
pub fn packed_matmul_add(
    x: Tensor<2>,
    residual: Tensor<2>,
    weight: &Arc<PackedMatrix>,
    arithmetic: PackedArithmetic,
) -> Tensor<2> {
    Tensor::from_dispatch(Dispatch::fused_packed_matmul_add(
        x.into_dispatch(),
        residual.into_dispatch(),
        Arc::clone(weight),
        arithmetic,
    ))
}

/// Packed causal self-attention through our Flex kernel; see [`supports`].
pub fn self_attention(qkv: Tensor<3>, n_head: usize) -> Tensor<3> {
    Tensor::from_dispatch(Dispatch::fused_self_attention(qkv.into_dispatch(), n_head))
}

/// Padded self-attention through our Flex kernel (inference only: `qkv` must not require a
/// gradient); see [`supports`].
pub fn padded_self_attention(qkv: Tensor<3>, n_head: usize, key_lens: Vec<usize>) -> Tensor<3> {
    Tensor::from_dispatch(Dispatch::fused_padded_self_attention(
        qkv.into_dispatch(),
        n_head,
        key_lens,
    ))
}

/// Decode-step rotary positions through our Flex kernel (inference only); see [`supports`].
pub fn rotate_rows(x: Tensor<4>, table: Tensor<3>, positions: Vec<usize>) -> Tensor<4> {
    Tensor::from_dispatch(Dispatch::fused_rotate_rows(
        x.into_dispatch(),
        table.into_dispatch(),
        positions,
    ))
}

/// A decode step's keys or values written into a cache buffer through our Flex kernel
/// (inference only; `new` as in [`supports`], the buffer f32 or f16).
pub fn write_slots(buffer: Tensor<4>, new: Tensor<4>, slots: Vec<usize>) -> Tensor<4> {
    Tensor::from_dispatch(Dispatch::fused_write_slots(
        buffer.into_dispatch(),
        new.into_dispatch(),
        slots,
    ))
}

/// Rotary positions on a packed projection through our Flex kernel; see [`supports`].
pub fn rotary(qkv: Tensor<3>, freqs: Tensor<3>, n_head: usize) -> Tensor<3> {
    Tensor::from_dispatch(Dispatch::fused_rotary(
        qkv.into_dispatch(),
        freqs.into_dispatch(),
        n_head,
    ))
}

/// The decode step's attention through our Flex kernel (inference only: the queries must not
/// require a gradient); see [`supports`].
pub fn decode_attention(
    q: Tensor<4>,
    keys: Tensor<4>,
    values: Tensor<4>,
    key_lens: Vec<usize>,
) -> Tensor<4> {
    Tensor::from_dispatch(Dispatch::fused_decode_attention(
        q.into_dispatch(),
        keys.into_dispatch(),
        values.into_dispatch(),
        key_lens,
    ))
}

/// GeLU through our Flex kernel; see [`supports`].
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(Dispatch::fused_gelu(x.into_dispatch()))
}

/// A gated MLP's gate through our Flex kernel, differentiable; see [`supports`].
pub fn gate<const D: usize>(h: Tensor<D>, gate: Gate) -> Tensor<D> {
    Tensor::from_dispatch(Dispatch::fused_gate(h.into_dispatch(), gate))
}

/// Causal attention through our Flex kernel; see [`supports`].
pub fn causal_attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(Dispatch::fused_causal_attention(
        q.into_dispatch(),
        k.into_dispatch(),
        v.into_dispatch(),
    ))
}

impl CpuKernels for Flex {
    fn fused_causal_attention(q: FlexTensor, k: FlexTensor, v: FlexTensor) -> FlexTensor {
        attention_forward(&q, &k, &v).out
    }

    fn fused_decode_attention(
        q: FlexTensor,
        keys: FlexTensor,
        values: FlexTensor,
        key_lens: Vec<usize>,
    ) -> FlexTensor {
        decode_attention_forward(q, keys, values, &key_lens)
    }

    fn fused_gelu(x: FlexTensor) -> FlexTensor {
        gelu_forward(&x.into_contiguous_f32())
    }

    fn fused_gate(h: FlexTensor, gate: Gate) -> FlexTensor {
        gate_forward(&h.into_contiguous_f32(), gate)
    }

    fn fused_layer_norm(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        eps: f32,
        centred: bool,
    ) -> FlexTensor {
        layer_norm_forward(&x, &gamma, &beta, eps, centred).0
    }

    fn fused_matmul(lhs: FlexTensor, rhs: FlexTensor) -> FlexTensor {
        matmul_forward(&matrix(lhs), &matrix(rhs))
    }

    fn fused_packed_matmul(
        x: FlexTensor,
        weight: Arc<PackedMatrix>,
        arithmetic: PackedArithmetic,
    ) -> FlexTensor {
        packed_matmul_forward(x, &weight, arithmetic)
    }

    fn fused_normed_packed_matmul(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        weight: Arc<PackedMatrix>,
        options: NormedProduct,
    ) -> FlexTensor {
        normed_packed_matmul_forward(x, (gamma, beta), &weight, options)
    }

    fn fused_packed_matmul_add(
        x: FlexTensor,
        residual: FlexTensor,
        weight: Arc<PackedMatrix>,
        arithmetic: PackedArithmetic,
    ) -> FlexTensor {
        packed_matmul_add_forward(x, residual, &weight, arithmetic)
    }

    fn fused_self_attention(qkv: FlexTensor, n_head: usize) -> FlexTensor {
        self_attention_forward(qkv, n_head).out
    }

    fn fused_padded_self_attention(
        qkv: FlexTensor,
        n_head: usize,
        key_lens: Vec<usize>,
    ) -> FlexTensor {
        padded_self_attention_forward(qkv, n_head, &key_lens)
    }

    fn fused_rotate_rows(x: FlexTensor, table: FlexTensor, positions: Vec<usize>) -> FlexTensor {
        rotate_rows_forward(x, &table, &positions)
    }

    fn fused_write_slots(buffer: FlexTensor, new: FlexTensor, slots: Vec<usize>) -> FlexTensor {
        write_slots_forward(buffer, new, &slots)
    }

    fn fused_rotary(qkv: FlexTensor, freqs: FlexTensor, n_head: usize) -> FlexTensor {
        Rotation::forward(qkv, freqs, n_head).0
    }
}

impl<C: CheckpointStrategy> CpuKernels for Autodiff<Flex, C> {
    fn fused_causal_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let prep = CausalAttentionBackward
            .prepare::<C>([q.node(), k.node(), v.node()])
            .compute_bound()
            .stateful();
        let saved = attention_forward(q.primitive(), k.primitive(), v.primitive());
        let out = saved.out.clone();
        record(prep, saved, out)
    }

    fn fused_decode_attention(
        q: FloatTensor<Self>,
        keys: FloatTensor<Self>,
        values: FloatTensor<Self>,
        key_lens: Vec<usize>,
    ) -> FloatTensor<Self> {
        assert!(
            !(q.is_tracked() || keys.is_tracked() || values.is_tracked()),
            "the decode attention kernel is for inference: it has no backward step"
        );
        let out = decode_attention_forward(
            q.primitive().clone(),
            keys.primitive().clone(),
            values.primitive().clone(),
            &key_lens,
        );
        FloatTensor::<Self>::new(out)
    }

    fn fused_gate(h: FloatTensor<Self>, gate: Gate) -> FloatTensor<Self> {
        let prep = GateBackward
            .prepare::<C>([h.node()])
            .compute_bound()
            .stateful();
        let input = h.primitive().clone().into_contiguous_f32();
        let y = gate_forward(&input, gate);
        record(prep, (input, gate), y)
    }

    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        // Compute bound so a checkpointing strategy keeps our state rather than re-running us.
        let prep = GeluBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let input = x.primitive().clone().into_contiguous_f32();
        let y = gelu_forward(&input);
        record(prep, input, y)
    }

    fn fused_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f32,
        centred: bool,
    ) -> FloatTensor<Self> {
        let prep = LayerNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful();
        let (y, saved) = layer_norm_forward(
            x.primitive(),
            gamma.primitive(),
            beta.primitive(),
            eps,
            centred,
        );
        record(prep, saved, y)
    }

    fn fused_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        let prep = MatmulBackward
            .prepare::<C>([lhs.node(), rhs.node()])
            .compute_bound()
            .stateful();
        let (lhs, rhs) = (
            matrix(lhs.primitive().clone()),
            matrix(rhs.primitive().clone()),
        );
        let out = matmul_forward(&lhs, &rhs);
        record(prep, [lhs, rhs], out)
    }

    fn fused_packed_matmul(
        x: FloatTensor<Self>,
        weight: Arc<PackedMatrix>,
        arithmetic: PackedArithmetic,
    ) -> FloatTensor<Self> {
        // The weight is the state: a pointer to the packed blocks, dropped when x is untracked.
        let prep = PackedMatmulBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let out = packed_matmul_forward(x.primitive().clone(), &weight, arithmetic);
        record(prep, weight, out)
    }

    fn fused_normed_packed_matmul(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        weight: Arc<PackedMatrix>,
        options: NormedProduct,
    ) -> FloatTensor<Self> {
        assert!(
            !(x.is_tracked() || gamma.is_tracked() || beta.is_tracked()),
            "the normed packed product is for inference: it has no backward step"
        );
        let norm = (gamma.into_primitive(), beta.into_primitive());
        let out = normed_packed_matmul_forward(x.into_primitive(), norm, &weight, options);
        FloatTensor::<Self>::new(out)
    }

    fn fused_packed_matmul_add(
        x: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        weight: Arc<PackedMatrix>,
        arithmetic: PackedArithmetic,
    ) -> FloatTensor<Self> {
        assert!(
            !(x.is_tracked() || residual.is_tracked()),
            "the packed product with a residual is for inference: it has no backward step"
        );
        let (x, residual) = (x.into_primitive(), residual.into_primitive());
        let out = packed_matmul_add_forward(x, residual, &weight, arithmetic);
        FloatTensor::<Self>::new(out)
    }

    fn fused_padded_self_attention(
        qkv: FloatTensor<Self>,
        n_head: usize,
        key_lens: Vec<usize>,
    ) -> FloatTensor<Self> {
        assert!(
            !qkv.is_tracked(),
            "the padded attention kernel is for inference: it has no backward step"
        );
        let out = padded_self_attention_forward(qkv.primitive().clone(), n_head, &key_lens);
        FloatTensor::<Self>::new(out)
    }

    fn fused_self_attention(qkv: FloatTensor<Self>, n_head: usize) -> FloatTensor<Self> {
        let prep = SelfAttentionBackward
            .prepare::<C>([qkv.node()])
            .compute_bound()
            .stateful();
        let saved = self_attention_forward(qkv.primitive().clone(), n_head);
        let out = saved.out.clone();
        record(prep, saved, out)
    }

    fn fused_rotate_rows(
        x: FloatTensor<Self>,
        table: FloatTensor<Self>,
        positions: Vec<usize>,
    ) -> FloatTensor<Self> {
        assert!(
            !x.is_tracked(),
            "the decode rotary kernel is for inference: it has no backward step"
        );
        let out = rotate_rows_forward(x.primitive().clone(), table.primitive(), &positions);
        FloatTensor::<Self>::new(out)
    }

    fn fused_write_slots(
        buffer: FloatTensor<Self>,
        new: FloatTensor<Self>,
        slots: Vec<usize>,
    ) -> FloatTensor<Self> {
        assert!(
            !(buffer.is_tracked() || new.is_tracked()),
            "the cache write kernel is for inference: it has no backward step"
        );
        // The buffer by value: a clone of it would be shared, and copied before the write.
        let out = write_slots_forward(buffer.into_primitive(), new.into_primitive(), &slots);
        FloatTensor::<Self>::new(out)
    }

    fn fused_rotary(
        qkv: FloatTensor<Self>,
        freqs: FloatTensor<Self>,
        n_head: usize,
    ) -> FloatTensor<Self> {
        // The table is a constant: only the projection takes part in autodiff.
        let prep = RotaryBackward
            .prepare::<C>([qkv.node()])
            .compute_bound()
            .stateful();
        let (out, rotation) =
            Rotation::forward(qkv.primitive().clone(), freqs.primitive().clone(), n_head);
        record(prep, rotation, out)
    }
}

/// Puts `output` on the autodiff graph: with `state` for its backward step when an input is
/// tracked, as a constant otherwise (the state is then dropped).
fn record<BO, S, C, const N: usize>(
    prep: OpsKind<BO, Flex, S, C, N>,
    state: S,
    output: FlexTensor,
) -> FloatTensor<Autodiff<Flex, C>>
where
    BO: Backward<Flex, N, State = S>,
    S: Clone + Send + std::fmt::Debug + 'static,
    C: CheckpointStrategy,
{
    match prep {
        OpsKind::Tracked(prep) => prep.finish(state, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    }
}

/// Hands each input that takes part in autodiff its gradient (the others' are dropped).
fn register_parent_grads<S, const N: usize>(
    ops: &Ops<S, N>,
    grads: &mut Gradients,
    values: [FlexTensor; N],
) {
    for (parent, grad) in ops.parents.iter().zip(values) {
        if let Some(parent) = parent {
            grads.register::<Flex>(parent.id, grad);
        }
    }
}

/// Contiguous `f32` storage access for Flex tensors.
trait ContiguousF32 {
    fn into_contiguous_f32(self) -> FlexTensor;
}

impl ContiguousF32 for FlexTensor {
    fn into_contiguous_f32(self) -> FlexTensor {
        assert_eq!(self.dtype(), DType::F32, "our CPU kernels take f32 tensors");
        if self.as_slice::<f32>().is_some() {
            self
        } else {
            self.to_contiguous()
        }
    }
}

/// `t` (`[rows, heads, 1, head_dim]`, f32) itself when each head's values are contiguous and
/// no stride is negative (a view of the projection), else a contiguous copy: a tensor
/// [`head_rows`] reads in place.
fn with_readable_heads(t: FlexTensor) -> FlexTensor {
    let shape = t.layout().shape();
    assert_eq!(
        shape.num_dims(),
        4,
        "rows of heads are [rows, heads, 1, head_dim]"
    );
    assert_eq!(shape[2], 1, "one position per row");
    assert_eq!(t.dtype(), DType::F32, "our CPU kernels take f32 tensors");
    readable_in_place(t)
}

/// `t` itself when its last dimension is contiguous and no stride is negative (a view our
/// kernels read through its strides: the projection's heads, the cache's prefix), else a
/// contiguous copy.
fn readable_in_place(t: FlexTensor) -> FlexTensor {
    let strides = t.layout().strides();
    let last_contiguous = strides.last().is_none_or(|&s| s == 1);
    match last_contiguous && strides.iter().all(|&s| s >= 0) {
        true => t,
        false => t.to_contiguous(),
    }
}

/// The heads of a tensor [`with_readable_heads`] returned, read in place.
fn head_rows(t: &FlexTensor) -> HeadRows<'_> {
    let strides = t.layout().strides();
    HeadRows {
        data: t.storage::<f32>(),
        offset: t.layout().start_offset(),
        row_stride: strides[0] as usize,
        head_stride: strides[1] as usize,
        heads: t.layout().shape()[1],
    }
}

fn f32_slice(tensor: &FlexTensor) -> &[f32] {
    tensor
        .as_slice::<f32>()
        .expect("a contiguous f32 tensor (made by into_contiguous_f32)")
}

/// The elements of a contiguous f32 tensor, to overwrite (its buffer is copied first if shared).
fn f32_slice_mut(tensor: &mut FlexTensor) -> &mut [f32] {
    let (start, end) = tensor
        .layout()
        .contiguous_offsets()
        .expect("a contiguous f32 tensor (made by into_contiguous_f32)");
    &mut tensor.storage_mut::<f32>()[start..end]
}

fn f32_tensor(values: Vec<f32>, shape: burn::tensor::Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}
