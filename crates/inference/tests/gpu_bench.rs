//! `benches/gpu.sh --smoke`'s part that runs here: the `bench_gpu` example at reduced sizes on
//! wgpu (lavapipe in CI), which must run every measurement and print each figure.

use std::process::Command;

#[test]
fn the_gpu_benchmark_runs_at_reduced_size() {
    // Cargo builds the package's examples beside the test binaries: target/<profile>/examples.
    let exe = std::env::current_exe().unwrap();
    let bench = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/bench_gpu");
    let output = Command::new(&bench)
        .args(["--smoke", "--device", "wgpu"])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", bench.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("our kernels run there: true"), "{stdout}");
    for figure in [
        "matvec q4_0",
        "matvec q4_1",
        "matvec q8_0",
        "matvec int8",
        "attention prefill T=256",
        "attention decode T=256",
        "with our kernels",
        "kernels off",
    ] {
        assert!(stdout.contains(figure), "no {figure:?} in:\n{stdout}");
    }
}
