//! `benches/gpu.sh --smoke`'s part that runs here: the `bench_gpu` example at reduced sizes on
//! wgpu (lavapipe in CI), which must run every measurement, print each figure, and find every
//! kernel's result equal to burn's (the differences it prints).

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
        "prompt matmul q4_0",
        "prompt matmul q8_0",
        "attention decode T=256",
        "Q4_1, our kernels",
        "Q4_1, kernels off",
        "f32 (decoded), our kernels",
        "f32 (decoded), kernels off: burn's own path",
    ] {
        assert!(stdout.contains(figure), "no {figure:?} in:\n{stdout}");
    }
    let diffs: Vec<f32> = stdout
        .lines()
        .filter_map(|line| line.rsplit_once("max diff").map(|(_, d)| d))
        .map(|d| {
            let number = d.trim_start_matches(" to burn").trim();
            number.parse().unwrap_or_else(|_| panic!("{number:?}"))
        })
        .collect();
    assert_eq!(diffs.len(), 10, "a difference per kernel figure:\n{stdout}");
    assert!(diffs.iter().all(|&d| d < 1e-2), "{stdout}");
}
