//! Our own kernels, each behind one backend-agnostic function that picks the fastest
//! implementation for the tensors' device and falls back to burn's ops elsewhere.
//!
//! | function | Flex (CPU, `f32`) | other backends |
//! |---|---|---|
//! | [`causal_self_attention`] | packed projection in, merged heads out, RoPE fused ([`packed_attention`](self::packed_attention), [`rotary`](self::rotary)) | split heads, burn's RoPE and `attention` op, merge |
//! | [`padded_self_attention`] | packed projection in, merged heads out, each row's first keys only, inference ([`packed_attention`](self::packed_attention)) | split heads, burn's `attention` op with a padding mask, merge |
//! | [`causal_attention`] | fused forward + own backward ([`causal_attention`](self::causal_attention)) | burn's `attention` op with `is_causal` |
//! | [`decode_attention`] | the cache (f32 or f16) read in place, grouped heads together ([`decode_attention`](self::decode_attention)) | burn's `attention` op with a mask (our flash kernel on GPUs) |
//! | [`dropout`] | the mask drawn in parallel, a generator per chunk ([`dropout`](self::dropout)) | burn's `Dropout` |
//! | [`gelu`] | one vectorised loop each way ([`gelu`](self::gelu)) | burn's `gelu` |
//! | [`layer_norm`], [`rms_norm`] | one pass over the rows each way ([`layer_norm`](self::layer_norm)) | burn's `layer_norm` op; RMSNorm in burn's ops |
//! | [`matmul`] | gemm on strided views, its output written once ([`gemm`](self::gemm)) | burn's `matmul` |
//! | [`packed_matmul`] | dot products on the packed rows, or gemm on decoded tiles, + own backward for the activations ([`packed_matmul`](self::packed_matmul)) | the same, the activations visiting the host (no gradient) |
//! | `flex::adamw_step` (used by the trainer's optimizer) | one in-place pass per parameter ([`adamw`](self::adamw)) | burn's `AdamW` |

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::nn::{Dropout, RotaryEncoding};
use burn::prelude::*;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Distribution, FloatDType, IndexingUpdateOp};
use gated::Gate;

pub mod adamw;
pub mod causal_attention;
pub mod decode_attention;
pub mod device_weights;
pub mod dropout;
pub mod flex;
pub mod gated;
pub mod gelu;
pub mod gemm;
pub mod head_rows;
pub mod lanes;
pub mod layer_norm;
pub mod packed_attention;
pub mod packed_matmul;
pub mod rotary;
mod simd;
mod written_once;

/// `x · wᵀ` for a weight kept packed (GGML blocks or int8, one row per output feature), never
/// decoded as a whole (see [`packed_matmul`](self::packed_matmul)). The result has `x`'s device
/// and float type. On a GPU our kernel reads the weight's device copy ([`device_weights`], f32
/// activations); a weight without a GPU layout, and every weight on the CPU, is multiplied by
/// the CPU kernel (on a GPU the activations then visit the host).
///
/// Gradients: the weight is a constant (QLoRA's frozen base). On Flex (`f32`, with or without
/// autodiff) the product is our extension op ([`flex::packed_matmul`]), whose backward step gives
/// `x` the gradient `dy · w`, decoding the weight a tile of rows at a time
/// ([`packed_matmul::packed_matmul_transposed_f32`]). On other backends (wgpu, CUDA, or a float
/// type other than `f32`) the product is a constant for autodiff (the GPU kernel is inference
/// only, the host path builds a new tensor): no gradient reaches `x` there, so adapters placed
/// before a packed projection train only on Flex.
///
/// # Shapes
/// - x: `[n, w.cols()]` -> `[n, w.rows()]`
pub fn packed_matmul(
    x: Tensor<2>,
    w: &Arc<claude_quant::PackedMatrix>,
    arithmetic: packed_matmul::PackedArithmetic,
) -> Tensor<2> {
    let device = x.device();
    if claude_shaders::runs_kernels(&device)
        && let Some(weight) = device_weights::device_weight(w, &device)
    {
        return claude_shaders::packed_matmul(x, &weight);
    }
    if flex::supports(&x) {
        return flex::packed_matmul(x, w, arithmetic);
    }
    let [n, _] = x.dims();
    let dtype = x.dtype();
    let values = x
        .try_into_vec_as::<f32>()
        .expect("float activations convert to f32");
    let out = packed_matmul::packed_matmul_f32(&values, n, w, arithmetic);
    Tensor::from_data(TensorData::new(out, [n, w.rows()]), (&device, dtype))
}

/// A norm over the last dimension: LayerNorm (`centred`) or RMSNorm, with its parameters.
#[derive(Debug, Clone)]
pub struct Normalization {
    /// Scale, `[features]`.
    pub gamma: Tensor<1>,
    /// Shift, `[features]` (LayerNorm only; none is zero).
    pub beta: Option<Tensor<1>>,
    /// Added under the square root.
    pub eps: f64,
    /// LayerNorm (the mean taken off) or RMSNorm.
    pub centred: bool,
}

impl Normalization {
    /// Normalises the last dimension of `x` ([`layer_norm`] or [`rms_norm`]).
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let gamma = self.gamma.clone();
        match self.centred {
            true => layer_norm(x, gamma, self.beta.clone(), self.eps),
            false => rms_norm(x, gamma, self.eps),
        }
    }
}

/// `norm(x) · wᵀ`: the same values as [`Normalization::forward`] and [`packed_matmul`] one
/// after the other. On the CPU outside autodiff it is one kernel, the rows normalised as they
/// are quantized, a row per task (a block's norm before each branch, which had been an
/// operation of its own and a pass of one thread over the rows while the others waited).
///
/// # Shapes
/// - x: `[n, w.cols()]` -> `[n, w.rows()]`
pub fn normed_packed_matmul(
    x: Tensor<2>,
    norm: &Normalization,
    w: &Arc<claude_quant::PackedMatrix>,
    arithmetic: packed_matmul::PackedArithmetic,
) -> Tensor<2> {
    if runs_fused(&x) && flex::supports(&norm.gamma) {
        let options = packed_matmul::NormedProduct {
            arithmetic,
            eps: norm.eps as f32,
            centred: norm.centred,
        };
        let gamma = norm.gamma.clone();
        let beta = (norm.beta.clone()).unwrap_or_else(|| gamma.zeros_like());
        return flex::normed_packed_matmul(x, (gamma, beta), w, options);
    }
    packed_matmul(norm.forward(x), w, arithmetic)
}

/// `residual + x · wᵀ`: the same values as [`packed_matmul`] and the addition one after the
/// other. On the CPU outside autodiff it is one kernel, the residual added as the sums are
/// stored (a block's residual join after each branch).
///
/// # Shapes
/// - x: `[n, w.cols()]`, residual: `[n, w.rows()]` -> `[n, w.rows()]`
pub fn packed_matmul_add(
    x: Tensor<2>,
    residual: Tensor<2>,
    w: &Arc<claude_quant::PackedMatrix>,
    arithmetic: packed_matmul::PackedArithmetic,
) -> Tensor<2> {
    if runs_fused(&x) && flex::supports(&residual) {
        return flex::packed_matmul_add(x, residual, w, arithmetic);
    }
    residual + packed_matmul(x, w, arithmetic)
}

/// Whether a fused packed product takes `x`: f32 on the Flex device, outside autodiff (the
/// fused kernels have no backward step).
fn runs_fused(x: &Tensor<2>) -> bool {
    flex::supports(x) && !x.is_autodiff()
}

/// Whether our fused attention kernel takes these queries: a GPU device with our kernels on, a
/// head width they are compiled for, and no gradient to record (the kernel is inference only).
/// An unsupported head width keeps burn's attention and says so once.
fn fused_attention_takes(q: &Tensor<4>) -> bool {
    let head_dim = q.dims()[3];
    if !claude_shaders::runs_kernels(&q.device()) || q.is_require_grad() {
        return false;
    }
    let supported = claude_shaders::ATTENTION_HEAD_DIMS.contains(&head_dim);
    // The width last noted: a model asks for one width every layer and token, so the note (a
    // formatted message under a lock) is written only when the width changes.
    static NOTED_WIDTH: AtomicUsize = AtomicUsize::new(0);
    if !supported && NOTED_WIDTH.swap(head_dim, Ordering::Relaxed) != head_dim {
        claude_shaders::note_once(format!(
            "heads of width {head_dim} run burn's attention: the fused kernel is built for {:?}",
            claude_shaders::ATTENTION_HEAD_DIMS
        ));
    }
    supported
}

/// One new query per row against that row's cached keys and values (f32, or f16 from an f16
/// cache): row `r` sees its first `key_lens[r]` positions (i32; `mask` says the same for
/// burn's attention: `true` where a key is hidden). Grouped-query heads read their key/value
/// head without copies.
///
/// # Shapes
/// - q: `[rows, n_head, 1, head_dim]`, keys and values: `[rows, n_kv_head, key_len, head_dim]`,
///   key_lens: `[rows]`, mask: `[rows, n_kv_head, group, key_len]` -> `[rows, n_head, 1, head_dim]`
pub fn decode_attention(
    q: Tensor<4>,
    keys: Tensor<4>,
    values: Tensor<4>,
    key_lens: Tensor<1, Int>,
    mask: Tensor<4, Bool>,
) -> Tensor<4> {
    let [rows, n_head, _, head_dim] = q.dims();
    if flex::supports(&q) && !q.is_require_grad() {
        let lens = key_lens
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .expect("integer lengths");
        let lens = lens.into_iter().map(|len| len.max(0) as usize).collect();
        return flex::decode_attention(q, keys, values, lens);
    }
    // Only the Flex kernel reads an f16 cache in place; the others take f32.
    let (keys, values) = match keys.dtype() == q.dtype() {
        true => (keys, values),
        false => (keys.cast(FloatDType::F32), values.cast(FloatDType::F32)),
    };
    if fused_attention_takes(&q) {
        return claude_shaders::flash_attention(q, keys, values, key_lens);
    }
    // A group's query heads read the same cached keys: as `group` queries of one head they
    // attend without copying the cache (with one query per head, the grouping is a reshape).
    let n_kv_head = keys.dims()[1];
    let group = n_head / n_kv_head;
    let q = q.reshape([rows, n_kv_head, group, head_dim]);
    let y = attention(
        q,
        keys,
        values,
        Some(mask),
        None,
        AttentionModuleOptions::default(),
    );
    y.reshape([rows, n_head, 1, head_dim])
}

/// Causal multi-head self-attention from the packed query/key/value projection (GPT-2's
/// `c_attn` output), with rotary positions `start..` on queries and keys when `rope` is given.
///
/// # Shapes
/// - qkv: `[batch, seq, 3·width]` -> `[batch, seq, width]` (heads merged)
pub fn causal_self_attention(
    qkv: Tensor<3>,
    n_head: usize,
    rope: Option<(&RotaryEncoding, usize)>,
) -> Tensor<3> {
    if flex::supports(&qkv) {
        let seq = qkv.dims()[1];
        let qkv = match rope {
            Some((rope, start)) => {
                let freqs = rope.freq_complex.clone().narrow(0, start, seq);
                flex::rotary(qkv, freqs, n_head)
            }
            None => qkv,
        };
        return flex::self_attention(qkv, n_head);
    }
    let (q, k, v) = split_heads(qkv, n_head, n_head, rope);
    merge_heads(causal_attention(q, k, v))
}

/// Multi-head self-attention without the causal mask over padded sequences (BERT's encoder) from
/// the packed query/key/value projection: every query of batch row `b` sees that row's first
/// `key_lens[b]` keys, the rest being padding. Our kernel on Flex when `qkv` needs no gradient
/// (it has no backward step), burn's `attention` op with a padding mask otherwise.
///
/// # Shapes
/// - qkv: `[batch, seq, 3·width]`, key_lens: `[batch]` -> `[batch, seq, width]` (heads merged)
pub fn padded_self_attention(qkv: Tensor<3>, n_head: usize, key_lens: &[usize]) -> Tensor<3> {
    if flex::supports(&qkv) && !qkv.is_require_grad() {
        return flex::padded_self_attention(qkv, n_head, key_lens.to_vec());
    }
    let [batch, seq, _] = qkv.dims();
    let device = qkv.device();
    let (q, k, v) = split_heads(qkv, n_head, n_head, None);
    let padding: Vec<bool> = key_lens
        .iter()
        .flat_map(|&len| (0..seq).map(move |j| j >= len))
        .collect();
    let padding = Tensor::<2, Bool>::from_data(TensorData::new(padding, [batch, seq]), &device)
        .reshape([batch, 1, 1, seq])
        .expand([batch, n_head, seq, seq]);
    let options = AttentionModuleOptions::default();
    merge_heads(attention(q, k, v, Some(padding), None, options))
}

/// Each row of `x` rotated by its own position with burn's `RotaryEncoding` (the decode step's
/// queries or keys, one new token per sequence): our kernel on Flex when `x` needs no gradient,
/// burn's ops otherwise.
///
/// # Shapes
/// - x: `[rows, heads, 1, head_dim]`, positions: `[rows]` -> `[rows, heads, 1, head_dim]`
pub fn rotate_rows_at(rope: &RotaryEncoding, x: Tensor<4>, positions: &[usize]) -> Tensor<4> {
    if flex::supports(&x) && !x.is_require_grad() {
        return flex::rotate_rows(x, rope.freq_complex.clone(), positions.to_vec());
    }
    let [rows, heads, one, head_dim] = x.dims();
    let device = x.device();
    let ids: Vec<i32> = positions.iter().map(|&p| p as i32).collect();
    let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [rows]), &device);
    // Each pair (a, b) becomes (a, b, -b, a): the terms multiplied by (cos, sin) below.
    let sign = Tensor::<2>::from_floats([[1.0, 0.0, 0.0, 1.0], [0.0, -1.0, 1.0, 0.0]], &device);
    let freqs = rope
        .freq_complex
        .clone()
        .select(0, ids)
        .reshape([rows, 1, head_dim, 2]);
    let rotated = x
        .reshape([rows, heads, head_dim / 2, 2])
        .matmul(sign.unsqueeze())
        .reshape([rows, heads, head_dim, 2])
        * freqs;
    rotated.sum_dim(3).reshape([rows, heads, one, head_dim])
}

/// A decode step's new keys or values (`new`, `[rows, heads, 1, head_dim]`) written into a
/// key/value cache buffer (`[rows, heads, allocated, head_dim]`, its own element type) at slot
/// `slots[r]` of each row `r`: our kernel on Flex (in place, rounding to the buffer's type as
/// it goes) when `new` needs no gradient, one indexed assignment of burn's otherwise.
///
/// # Panics
/// If the shapes do not match or a slot is past the buffer.
pub fn write_cache_slots(buffer: Tensor<4>, new: Tensor<4>, slots: &[usize]) -> Tensor<4> {
    if flex::supports(&new) && !new.is_require_grad() {
        return flex::write_slots(buffer, new, slots.to_vec());
    }
    let [rows, heads, allocated, head_dim] = buffer.dims();
    assert_eq!(slots.len(), rows, "one slot per row");
    assert!(
        slots.iter().all(|&slot| slot < allocated),
        "slots within the buffer's {allocated} positions"
    );
    // The buffer seen as `[rows * heads * allocated, head_dim]`: each row's heads at its slot.
    let lines: Vec<i64> = slots
        .iter()
        .enumerate()
        .flat_map(|(row, &slot)| {
            (0..heads).map(move |head| ((row * heads + head) * allocated + slot) as i64)
        })
        .collect();
    let device = buffer.device();
    let lines = Tensor::<1, Int>::from_data(TensorData::new(lines, [rows * heads]), &device);
    let new = new
        .cast(FloatDType::from(buffer.dtype()))
        .reshape([rows * heads, head_dim]);
    buffer
        .reshape([rows * heads * allocated, head_dim])
        .select_assign(0, lines, new, IndexingUpdateOp::Assign)
        .reshape([rows, heads, allocated, head_dim])
}

/// The packed projection's queries, keys and values, each split into heads, with queries and keys
/// rotated for positions `start..` when `rope` is given (burn's `RotaryEncoding`). The projection
/// holds `n_head` query heads, then `n_kv_head` key heads and as many value heads (grouped-query
/// attention when `n_kv_head < n_head`).
///
/// # Shapes
/// - qkv: `[batch, seq, (n_head + 2·n_kv_head)·head_dim]` ->
///   `[batch, n_head, seq, head_dim]`, 2 x `[batch, n_kv_head, seq, head_dim]`
pub fn split_heads(
    qkv: Tensor<3>,
    n_head: usize,
    n_kv_head: usize,
    rope: Option<(&RotaryEncoding, usize)>,
) -> (Tensor<4>, Tensor<4>, Tensor<4>) {
    let [batch, seq, packed] = qkv.dims();
    let all_heads = n_head + 2 * n_kv_head;
    // Views, not copies: split into heads first (a reshape of the whole projection), then take
    // each part's heads (reshaping a narrowed projection had copied it, three times a layer).
    let qkv = qkv.reshape([batch, seq, all_heads, packed / all_heads]);
    let heads = |start: usize, count: usize| qkv.clone().narrow(2, start, count).swap_dims(1, 2);
    let (mut q, mut k, v) = (
        heads(0, n_head),
        heads(n_head, n_kv_head),
        heads(n_head + n_kv_head, n_kv_head),
    );
    if let Some((rope, start)) = rope {
        q = rope.apply(q, start);
        k = rope.apply(k, start);
    }
    (q, k, v)
}

/// Heads merged back side by side.
///
/// # Shapes
/// - y: `[batch, heads, seq, head_dim]` -> `[batch, seq, heads · head_dim]`
pub fn merge_heads(y: Tensor<4>) -> Tensor<3> {
    let [batch, heads, seq, head_dim] = y.dims();
    y.swap_dims(1, 2).reshape([batch, seq, heads * head_dim])
}

/// Scaled dot-product attention where each query sees only itself and earlier keys.
///
/// # Shapes
/// - q, k, v: `[batch, heads, seq, head_dim]` -> `[batch, heads, seq, head_dim]`
pub fn causal_attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) -> Tensor<4> {
    if flex::supports(&q) {
        return flex::causal_attention(q, k, v);
    }
    if fused_attention_takes(&q) {
        let [batch, _, seq, _] = q.dims();
        let lengths = Tensor::<1, Int>::from_data(
            TensorData::new(vec![seq as i32; batch], [batch]),
            (&q.device(), burn::tensor::DType::I32),
        );
        return claude_shaders::flash_attention(q, k, v, lengths);
    }
    let options = AttentionModuleOptions {
        is_causal: true,
        ..Default::default()
    };
    attention(q, k, v, None, None, options)
}

/// Scaled dot-product attention where each query sees itself and the `window - 1` keys before
/// it (sliding-window attention, as Gemma's and Mistral's local layers).
///
/// # Shapes
/// - q, k, v: `[batch, heads, seq, head_dim]` -> `[batch, heads, seq, head_dim]`
pub fn windowed_causal_attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    window: usize,
) -> Tensor<4> {
    let [batch, heads, seq, _] = q.dims();
    if seq <= window {
        return causal_attention(q, k, v);
    }
    let hidden: Vec<bool> = (0..seq)
        .flat_map(|query| (0..seq).map(move |key| key > query || query - key >= window))
        .collect();
    let mask = Tensor::<2, Bool>::from_data(TensorData::new(hidden, [seq, seq]), &q.device())
        .reshape([1, 1, seq, seq])
        .expand([batch, heads, seq, seq]);
    attention(q, k, v, Some(mask), None, AttentionModuleOptions::default())
}

/// A gated MLP's gate: `h` `[..., 2 * width]` (the gate half, then the up half) to
/// `act(gate) * up`, `[..., width]`, with `act` SiLU or GeLU's tanh approximation (see
/// [`gated`]): our one-pass kernel (and its backward step) on Flex, burn's ops elsewhere.
pub fn gate<const D: usize>(h: Tensor<D>, gate: Gate) -> Tensor<D> {
    if flex::supports(&h) {
        return flex::gate(h, gate);
    }
    let mut halves = h.chunk(2, D - 1);
    let up = halves.pop().expect("two halves");
    let g = halves.pop().expect("two halves");
    let activated = match gate {
        Gate::Silu => burn::tensor::activation::silu(g),
        Gate::GeluTanh => gelu_tanh(g),
    };
    activated * up
}

/// GeLU in its tanh approximation, `x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`, as ggml and
/// Gemma compute it, in burn's ops.
fn gelu_tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
    let inner = (x.clone() + x.clone().powi_scalar(3) * 0.044715) * SQRT_2_OVER_PI;
    x.clone() * 0.5 * (inner.tanh() + 1.0)
}

/// `layer`'s dropout on `x`, as [`Dropout::forward`] applies it (only while the layer trains,
/// on an autodiff device, with a probability above 0), with the mask drawn in parallel on
/// Flex ([`dropout`](self::dropout)); burn's layer elsewhere.
///
/// The mask's seed comes from the device's generator, so seeding the device (as the trainer
/// does at every step) makes the masks repeat exactly.
pub fn dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    if !layer.training.is_enabled() || !device.is_autodiff() || layer.prob == 0.0 {
        return x;
    }
    if !flex::supports(&x) {
        return layer.forward(x);
    }
    // Four 16-bit integers, each exact in an f32, make the 64-bit seed.
    let draws = Tensor::<1>::random([4], Distribution::Uniform(0.0, 65536.0), &device);
    let seed = (draws.into_data().iter::<f32>())
        .fold(0u64, |seed, draw| (seed << 16) | (draw as u64 & 0xFFFF));
    let mask = dropout::scaled_keep_mask(x.shape().num_elements(), layer.prob, seed);
    let mask = Tensor::from_data(TensorData::new(mask, x.shape()), (&device, x.dtype()));
    x * mask
}

/// The exact (erf) GeLU, elementwise.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if flex::supports(&x) {
        return flex::gelu(x);
    }
    burn::tensor::activation::gelu(x)
}

/// LayerNorm over the last dimension: `(x - mean) / √(var + eps) · gamma + beta` (no `beta`: 0).
///
/// # Shapes
/// - x: `[..., features]`, gamma and beta: `[features]` -> `[..., features]`
pub fn layer_norm<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Option<Tensor<1>>,
    eps: f64,
) -> Tensor<D> {
    if flex::supports(&x) && flex::supports(&gamma) {
        let beta = beta.unwrap_or_else(|| Tensor::zeros(gamma.dims(), &gamma.device()));
        return flex::layer_norm(x, gamma, beta, eps as f32, true);
    }
    burn::tensor::module::layer_norm(x, gamma, beta, eps)
}

/// RMSNorm over the last dimension: `x / √(mean(x²) + eps) · gamma`.
///
/// # Shapes
/// - x: `[..., features]`, gamma: `[features]` -> `[..., features]`
pub fn rms_norm<const D: usize>(x: Tensor<D>, gamma: Tensor<1>, eps: f64) -> Tensor<D> {
    if flex::supports(&x) && flex::supports(&gamma) {
        let beta = Tensor::zeros(gamma.dims(), &gamma.device());
        return flex::layer_norm(x, gamma, beta, eps as f32, false);
    }
    let rms = (x.clone().square().mean_dim(D - 1) + eps).sqrt();
    x / rms * gamma.unsqueeze()
}

/// The matrix product of `[m, k]` and `[k, n]` matrices.
///
/// burn's CPU backend zeroes each product's buffer and then copies it into an aligned one before
/// gemm writes it; ours is written once, and its backward pass reads the transposes in place.
pub fn matmul(lhs: Tensor<2>, rhs: Tensor<2>) -> Tensor<2> {
    if flex::supports(&lhs) && flex::supports(&rhs) {
        return flex::matmul(lhs, rhs);
    }
    lhs.matmul(rhs)
}
