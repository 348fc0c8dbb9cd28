//! Our CPU kernels as a burn backend extension of the Flex backend, with their own backward pass
//! on burn's autodiff (burn would otherwise record attention as a dozen decomposed ops, each
//! keeping a `[batch, heads, seq, seq]` tensor for the backward pass, and GeLU as five).

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, DispatchDevice, backend_extension};
use burn::prelude::*;
use burn::tensor::{DType, TensorData};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};

use super::causal_attention::{self, AttentionShape};
use super::gelu::{self};
use super::gemm::{self, Mat, Threads};
use super::layer_norm::{self};
use super::packed_attention::{self, PackedShape};
use super::rotary::{self, Direction};

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

    /// The exact (erf) GeLU, elementwise.
    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// LayerNorm over the last dimension, `gamma` and `beta` `[features]`.
    fn fused_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f32,
    ) -> FloatTensor<Self>;

    /// The matrix product of `[m, k]` and `[k, n]` matrices (strided views are read in place).
    fn fused_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Causal self-attention with `n_head` heads from the packed projection
    /// `[batch, seq, 3·width]`, giving `[batch, seq, width]` with the heads merged.
    fn fused_self_attention(qkv: FloatTensor<Self>, n_head: usize) -> FloatTensor<Self>;

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

/// LayerNorm through our Flex kernel; see [`supports`].
pub fn layer_norm<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    eps: f32,
) -> Tensor<D> {
    Tensor::from_dispatch(Dispatch::fused_layer_norm(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        eps,
    ))
}

/// The matrix product through our Flex kernel; see [`supports`].
pub fn matmul(lhs: Tensor<2>, rhs: Tensor<2>) -> Tensor<2> {
    Tensor::from_dispatch(Dispatch::fused_matmul(
        lhs.into_dispatch(),
        rhs.into_dispatch(),
    ))
}

/// Packed causal self-attention through our Flex kernel; see [`supports`].
pub fn self_attention(qkv: Tensor<3>, n_head: usize) -> Tensor<3> {
    Tensor::from_dispatch(Dispatch::fused_self_attention(qkv.into_dispatch(), n_head))
}

/// Rotary positions on a packed projection through our Flex kernel; see [`supports`].
pub fn rotary(qkv: Tensor<3>, freqs: Tensor<3>, n_head: usize) -> Tensor<3> {
    Tensor::from_dispatch(Dispatch::fused_rotary(
        qkv.into_dispatch(),
        freqs.into_dispatch(),
        n_head,
    ))
}

/// GeLU through our Flex kernel; see [`supports`].
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(Dispatch::fused_gelu(x.into_dispatch()))
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

    fn fused_gelu(x: FlexTensor) -> FlexTensor {
        gelu_forward(&x.into_contiguous_f32())
    }

    fn fused_layer_norm(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        eps: f32,
    ) -> FlexTensor {
        layer_norm_forward(&x, &gamma, &beta, eps).0
    }

    fn fused_matmul(lhs: FlexTensor, rhs: FlexTensor) -> FlexTensor {
        matmul_forward(&matrix(lhs), &matrix(rhs))
    }

    fn fused_self_attention(qkv: FlexTensor, n_head: usize) -> FlexTensor {
        self_attention_forward(qkv, n_head).out
    }

    fn fused_rotary(qkv: FlexTensor, freqs: FlexTensor, n_head: usize) -> FlexTensor {
        let qkv = qkv.into_contiguous_f32();
        let rotation = Rotation::new(&qkv, freqs, n_head);
        rotation.apply(&qkv, Direction::Forward)
    }
}

/// The forward pass's output and what its backward pass needs.
#[derive(Debug, Clone)]
struct AttentionSaved {
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    out: FlexTensor,
    lse: Vec<f32>,
}

/// The backward step of [`CpuKernels::fused_causal_attention`] on autodiff.
#[derive(Debug)]
struct CausalAttentionBackward;

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
    ) -> FloatTensor<Self> {
        let prep = LayerNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful();
        let (y, saved) =
            layer_norm_forward(x.primitive(), gamma.primitive(), beta.primitive(), eps);
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

    fn fused_self_attention(qkv: FloatTensor<Self>, n_head: usize) -> FloatTensor<Self> {
        let prep = SelfAttentionBackward
            .prepare::<C>([qkv.node()])
            .compute_bound()
            .stateful();
        let saved = self_attention_forward(qkv.primitive().clone(), n_head);
        let out = saved.out.clone();
        record(prep, saved, out)
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
        let qkv = qkv.primitive().clone().into_contiguous_f32();
        let rotation = Rotation::new(&qkv, freqs.primitive().clone(), n_head);
        let out = rotation.apply(&qkv, Direction::Forward);
        record(prep, rotation, out)
    }
}

/// The packed self-attention forward pass's output and what its backward pass needs.
#[derive(Debug, Clone)]
struct SelfAttentionSaved {
    shape: PackedShape,
    qkv: FlexTensor,
    out: FlexTensor,
    lse: Vec<f32>,
}

/// Runs the packed self-attention forward kernel.
fn self_attention_forward(qkv: FlexTensor, n_head: usize) -> SelfAttentionSaved {
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

/// The backward step of [`CpuKernels::fused_self_attention`] on autodiff.
#[derive(Debug)]
struct SelfAttentionBackward;

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

/// A rotary table and the packed shape it rotates.
#[derive(Debug, Clone)]
struct Rotation {
    shape: PackedShape,
    freqs: FlexTensor,
}

impl Rotation {
    fn new(qkv: &FlexTensor, freqs: FlexTensor, n_head: usize) -> Self {
        let shape = packed_shape(qkv, n_head);
        let freqs = freqs.into_contiguous_f32();
        assert_eq!(
            freqs.layout().shape().to_vec(),
            [shape.seq, shape.head_dim, 2],
            "rotary table is [seq, head_dim, 2]"
        );
        Rotation { shape, freqs }
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

/// The backward step of [`CpuKernels::fused_rotary`] on autodiff: the transposed rotation.
#[derive(Debug)]
struct RotaryBackward;

impl Backward<Flex, 1> for RotaryBackward {
    type State = Rotation;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad_out = grads.consume::<Flex>(&ops.node).into_contiguous_f32();
        let grad_qkv = ops.state.apply(&grad_out, Direction::Transpose);
        register_parent_grads(&ops, grads, [grad_qkv]);
    }
}

/// The packed shape of a contiguous `[batch, seq, 3·width]` projection with `n_head` heads.
fn packed_shape(qkv: &FlexTensor, n_head: usize) -> PackedShape {
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

/// The backward step of [`CpuKernels::fused_matmul`]; its state is the two factors.
#[derive(Debug)]
struct MatmulBackward;

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
fn matmul_forward(lhs: &FlexTensor, rhs: &FlexTensor) -> FlexTensor {
    let (a, b) = (mat(lhs), mat(rhs));
    let dims = [a.num_rows(), b.num_cols()];
    f32_tensor(gemm::product(a, b, Threads::All), dims.into())
}

/// `tensor` as an `f32` matrix that [`mat`] can view in place: kept as it is when its strides
/// are non-negative (row-major, transposed or a slice), copied to row-major otherwise.
fn matrix(tensor: FlexTensor) -> FlexTensor {
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

/// The backward step of [`CpuKernels::fused_gelu`] on autodiff; its state is the input.
#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad_y = grads.consume::<Flex>(&ops.node).into_contiguous_f32();
        let x = &ops.state;
        let mut grad_x = vec![0.0f32; x.layout().num_elements()];
        gelu::backward(f32_slice(x), f32_slice(&grad_y), &mut grad_x);
        register_parent_grads(
            &ops,
            grads,
            [f32_tensor(grad_x, x.layout().shape().clone())],
        );
    }
}

/// What the LayerNorm backward pass needs.
#[derive(Debug, Clone)]
struct LayerNormSaved {
    x: FlexTensor,
    gamma: FlexTensor,
    stats: layer_norm::RowStats,
}

/// The backward step of [`CpuKernels::fused_layer_norm`] on autodiff.
#[derive(Debug)]
struct LayerNormBackward;

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

/// Runs the LayerNorm forward kernel; returns the output and what the backward pass needs.
fn layer_norm_forward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    eps: f32,
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
        &mut y,
    );
    let y = f32_tensor(y, x.layout().shape().clone());
    (y, LayerNormSaved { x, gamma, stats })
}

fn gelu_forward(x: &FlexTensor) -> FlexTensor {
    let mut y = vec![0.0f32; x.layout().num_elements()];
    gelu::forward(f32_slice(x), &mut y);
    f32_tensor(y, x.layout().shape().clone())
}

/// Runs the forward kernel, keeping contiguous copies of the inputs for the backward pass.
fn attention_forward(q: &FlexTensor, k: &FlexTensor, v: &FlexTensor) -> AttentionSaved {
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

fn f32_slice(tensor: &FlexTensor) -> &[f32] {
    tensor
        .as_slice::<f32>()
        .expect("a contiguous f32 tensor (made by into_contiguous_f32)")
}

fn f32_tensor(values: Vec<f32>, shape: burn::tensor::Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}
