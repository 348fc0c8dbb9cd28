//! [`ShaderOps`]: our GPU kernels as a burn backend extension. The model calls one operation;
//! `CubeBackend` (wgpu, CUDA) runs our CubeCL kernels ([`crate::cube`]), Flex runs the portable
//! computation ([`crate::portable`], also the tests' reference), Fusion defers them in its
//! stream, and Autodiff passes them through as constants (inference only).

use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Backend, backend_extension};

/// Operations with our own GPU kernels.
#[backend_extension(
    Cube: cfg(feature = "cube"),
    Fusion: cfg(feature = "cube"),
    Flex,
    Autodiff
)]
pub trait ShaderOps: Backend {
    /// `x · Wᵀ` for `x` `[n, cols]` and `W` in our GPU layout ([`crate::GpuPacked`]): `words`
    /// (i32, `rows * cols / 32 * (4 or 8)`), `scales` `[rows, cols / 32]`, `offsets` the same
    /// shape for Q4 (`q4`) and `[1, 1]` for Q8. Output `[n, rows]`.
    #[fusion(dtype = x, shape = {
        let mut shape = x.clone();
        shape[1] = scales[0];
        shape
    })]
    fn packed_matmul(
        x: FloatTensor<Self>,
        words: IntTensor<Self>,
        scales: FloatTensor<Self>,
        offsets: FloatTensor<Self>,
        q4: bool,
    ) -> FloatTensor<Self>;

    /// Causal attention, bottom-right aligned, scale `1/√head_dim`: `q` `[batch, heads, tq,
    /// head_dim]`, `k` and `v` `[batch, kv_heads, tk, head_dim]` (`heads` a multiple of
    /// `kv_heads`), `key_lens` (i32 `[batch]`: each row's valid keys, at least `tq`, at most
    /// `tk`). Output shaped as `q`.
    #[fusion(dtype = q, shape = q)]
    fn flash_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        key_lens: IntTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// Inference only: the outputs are constants on the autodiff graph.
impl<B, C> ShaderOps for burn::backend::Autodiff<B, C>
where
    B: ShaderOps,
    C: burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy,
{
    fn packed_matmul(
        x: FloatTensor<Self>,
        words: IntTensor<Self>,
        scales: FloatTensor<Self>,
        offsets: FloatTensor<Self>,
        q4: bool,
    ) -> FloatTensor<Self> {
        use burn::backend::AutodiffBackend;
        Self::from_inner(B::packed_matmul(
            Self::inner(x),
            words,
            Self::inner(scales),
            Self::inner(offsets),
            q4,
        ))
    }

    fn flash_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        key_lens: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        use burn::backend::AutodiffBackend;
        Self::from_inner(B::flash_attention(
            Self::inner(q),
            Self::inner(k),
            Self::inner(v),
            key_lens,
        ))
    }
}
