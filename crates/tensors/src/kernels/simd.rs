//! Which vector instructions the CPU runs, for kernels compiled twice: for the baseline target
//! (SSE2 on x86-64) and, in a `#[target_feature(enable = "avx2,fma")]` copy of the same loop,
//! for CPUs with AVX2 and FMA, picked at run time.

/// Whether this CPU has AVX2 and FMA (detected once by the standard library, then cached).
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Whether this CPU converts f16 to f32 eight at a time (F16C, which comes with AVX).
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_f16c() -> bool {
    std::arch::is_x86_feature_detected!("avx") && std::arch::is_x86_feature_detected!("f16c")
}
