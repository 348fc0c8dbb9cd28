//! Our own kernels, each behind one backend-agnostic function that picks the fastest
//! implementation for the tensors' device and falls back to burn's ops elsewhere.
//!
//! | function | Flex (CPU, `f32`) | other backends |
//! |---|---|---|
//! | [`causal_attention`] | fused forward + own backward ([`causal_attention`](self::causal_attention)) | burn's `attention` op with `is_causal` |
//! | [`gelu`] | one vectorised loop each way ([`gelu`](self::gelu)) | burn's `gelu` |
//! | [`layer_norm`] | one pass over the rows each way ([`layer_norm`](self::layer_norm)) | burn's `layer_norm` op |
//! | [`matmul`] | gemm on strided views, its output written once ([`gemm`](self::gemm)) | burn's `matmul` |

use burn::prelude::*;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

#[cfg(feature = "flex")]
pub mod causal_attention;
#[cfg(feature = "flex")]
pub mod flex;
#[cfg(feature = "flex")]
pub mod gelu;
#[cfg(feature = "flex")]
pub mod gemm;
#[cfg(feature = "flex")]
pub mod layer_norm;

/// Scaled dot-product attention where each query sees only itself and earlier keys.
///
/// # Shapes
/// - q, k, v: `[batch, heads, seq, head_dim]` -> `[batch, heads, seq, head_dim]`
pub fn causal_attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if flex::supports(&q) {
        return flex::causal_attention(q, k, v);
    }
    let options = AttentionModuleOptions {
        is_causal: true,
        ..Default::default()
    };
    attention(q, k, v, None, None, options)
}

/// The exact (erf) GeLU, elementwise.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
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
    #[cfg(feature = "flex")]
    if flex::supports(&x) && flex::supports(&gamma) {
        let beta = beta.unwrap_or_else(|| Tensor::zeros(gamma.dims(), &gamma.device()));
        return flex::layer_norm(x, gamma, beta, eps as f32);
    }
    burn::tensor::module::layer_norm(x, gamma, beta, eps)
}

/// The matrix product of `[m, k]` and `[k, n]` matrices.
///
/// burn's CPU backend zeroes each product's buffer and then copies it into an aligned one before
/// gemm writes it; ours is written once, and its backward pass reads the transposes in place.
pub fn matmul(lhs: Tensor<2>, rhs: Tensor<2>) -> Tensor<2> {
    #[cfg(feature = "flex")]
    if flex::supports(&lhs) && flex::supports(&rhs) {
        return flex::matmul(lhs, rhs);
    }
    lhs.matmul(rhs)
}
