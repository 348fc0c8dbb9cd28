//! Our kernels against the portable computation (Flex) on random inputs of awkward shapes: on
//! the wgpu device (lavapipe in CI) when the build has it, and the portable path against an
//! independent f32 computation with burn's own ops.

mod attention;
mod packed_matmul;
