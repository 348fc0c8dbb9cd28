//! Our kernels against the portable computation (Flex) on random inputs of awkward shapes: on
//! the wgpu device (lavapipe in CI) when the build has it, and the portable path against an
//! independent f32 computation with burn's own ops.

mod attention;
mod packed_matmul;

use std::sync::Mutex;

use burn::prelude::*;

/// Runs `check` on the wgpu device twice: with the shared-memory reductions, then with the plane
/// (subgroup) ones. lavapipe has subgroups but cubecl does not report them for a CPU-type
/// adapter, so the plane paths are forced on; on a GPU that has them they run either way. The
/// override is process-wide, so the GPU tests take turns.
fn on_wgpu_with_both_reductions(check: fn(&Device)) {
    static TURN: Mutex<()> = Mutex::new(());
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let device = claude_tensors::parse_device("wgpu").expect("the tests build with wgpu");
    assert!(
        claude_shaders::runs_kernels(&device),
        "our kernels run on wgpu"
    );
    for plane in [false, true] {
        claude_shaders::set_plane_ops(Some(plane));
        let outcome = std::panic::catch_unwind(|| check(&device));
        claude_shaders::set_plane_ops(None);
        if let Err(panic) = outcome {
            eprintln!("with plane ops {plane}:");
            std::panic::resume_unwind(panic);
        }
    }
}
