//! `claude-rust train --mpi` under OpenMPI's `mpirun`: ranks follow a single-process run and stay
//! bit-identical (over shared memory and over TCP), disagreeing ranks are refused by name, a
//! killed, panicking or stopped rank ends the job, and SIGTERM to the launcher checkpoints every
//! rank at the same step, from which `--resume` continues exactly.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::train::{logged_losses, train, weights_at, write_config, write_config_and};

/// Far more steps than a test waits for: the run ends only when stopped.
const UNTIL_STOPPED: &str = "1000000";

/// `mpirun` as the tests run it: as root if need be, more ranks than cores, threads unbound, and
/// shared memory without cross-memory attach (containers often forbid the `ptrace` it needs).
fn mpirun() -> Command {
    let mut command = Command::new("mpirun");
    command
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
        .args(["--oversubscribe", "--bind-to", "none"]);
    command
}

/// The arguments of `ranks` processes of `claude-rust train --mpi` (one app context of mpirun),
/// each with `extra` arguments.
fn ranks(ranks: usize, config: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["-np", &ranks.to_string(), env!("CARGO_BIN_EXE_claude-rust")]
        .map(String::from)
        .to_vec();
    args.extend(["train", "--no-tui", "--mpi", "--config"].map(String::from));
    args.push(config.display().to_string());
    args.push("--out".into());
    args.push(out.display().to_string());
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

/// Runs `mpirun` with `args` and returns its output.
fn run_job(mpi_options: &[&str], args: Vec<String>) -> Output {
    mpirun()
        .args(mpi_options)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Starts `mpirun` with `args`, its stderr piped.
fn spawn_job(mpi_options: &[&str], args: Vec<String>) -> Child {
    mpirun()
        .args(mpi_options)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Panics with the job's stderr unless it succeeded.
fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Where rank `rank` of a job writing to `out` keeps its replica.
fn rank_dir(out: &Path, rank: usize) -> PathBuf {
    match rank {
        0 => out.to_path_buf(),
        r => out.join(format!("rank-{r}")),
    }
}

/// Every rank logged the same losses and holds bit-identical weights after `step`.
fn assert_ranks_identical(out: &Path, world: usize, step: usize) {
    let losses = logged_losses(out);
    for rank in 1..world {
        let dir = rank_dir(out, rank);
        assert_eq!(logged_losses(&dir), losses, "rank {rank}'s losses");
        assert!(
            weights_at(&dir, step) == weights_at(out, step),
            "rank {rank}'s weights differ from rank 0's after step {step}"
        );
    }
}

#[test]
fn ranks_follow_a_single_process_run_over_shared_memory_and_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let single = dir.path().join("single");
    train(&config, &single, &["--max-steps", "12"]);
    let expected = logged_losses(&single);
    let twelve = ["--max-steps", "12"];

    // Two ranks over shared memory; then three over TCP only (the multi-machine stand-in),
    // splitting each 4-row batch 1/1/2, the last splitting its rows again over two devices.
    let two = dir.path().join("two");
    assert_success(&run_job(&[], ranks(2, &config, &two, &twelve)));
    let three = dir.path().join("three");
    let mut args = ranks(2, &config, &three, &twelve);
    args.push(":".into());
    args.extend(ranks(
        1,
        &config,
        &three,
        &["--max-steps", "12", "--device", "cpu,cpu"],
    ));
    let tcp = ["--mca", "pml", "ob1", "--mca", "btl", "tcp,self"];
    assert_success(&run_job(&tcp, args));

    for (out, world) in [(&two, 2), (&three, 3)] {
        let losses = logged_losses(out);
        assert_eq!(losses.len(), 12);
        for (step, (one, together)) in expected.iter().zip(&losses).enumerate() {
            assert!(
                (one - together).abs() < 1e-5,
                "step {}: loss {one} in one process, {together} in {world} ranks",
                step + 1
            );
        }
        assert_ranks_identical(out, world, 12);
    }
}

#[test]
fn a_rank_with_another_config_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let out = dir.path().join("run");
    let mut args = ranks(2, &config, &out, &["--max-steps", "12"]);
    args.push(":".into());
    args.extend(ranks(1, &config, &out, &["--max-steps", "13"]));
    let output = run_job(&[], args);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Every rank reports the same first difference: rank 2's, not only rank 2 itself.
    let refusal = "rank 2 does not match rank 0: train.max_steps is 13 on rank 2, 12 on rank 0";
    assert!(stderr.matches(refusal).count() >= 1, "{stderr}");
    assert!(!out.join("checkpoints").exists(), "no rank may train");
}

/// The training lines of `out`'s `metrics.jsonl` (0 while it does not exist).
fn logged_steps(out: &Path) -> usize {
    std::fs::read_to_string(out.join("metrics.jsonl")).map_or(0, |m| m.lines().count())
}

/// Waits until rank 0 of a job writing to `out` has logged `steps` steps.
fn wait_for_steps(job: &mut Child, out: &Path, steps: usize) {
    let started = Instant::now();
    while logged_steps(out) < steps {
        assert!(
            job.try_wait().unwrap().is_none(),
            "the job ended before step {steps}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no steps were logged"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The process id of rank `rank` among the children of `mpirun` (read from the rank's
/// environment, where OpenMPI names it).
fn rank_pid(job: &Child, rank: usize) -> u32 {
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", job.id()))
        .unwrap_or_default();
    children
        .split_whitespace()
        .filter_map(|pid| pid.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|&b| b == 0)
                    .any(|var| var == format!("OMPI_COMM_WORLD_RANK={rank}").as_bytes())
            })
        })
        .unwrap_or_else(|| panic!("rank {rank} is not a child of mpirun"))
}

/// Sends `signal` to process `pid`.
fn signal(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for a job that must fail within `limit`, and returns its stderr.
fn failed_within(job: Child, limit: Duration) -> String {
    let started = Instant::now();
    let output = job.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "the job succeeded: {stderr}");
    assert!(
        started.elapsed() < limit,
        "the job took {:?} to end: {stderr}",
        started.elapsed()
    );
    stderr
}

#[test]
fn a_killed_panicking_or_stopped_rank_ends_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());

    // Killed: mpirun notices and ends the job, naming the rank.
    let out = dir.path().join("killed");
    let mut job = spawn_job(
        &[],
        ranks(2, &config, &out, &["--max-steps", UNTIL_STOPPED]),
    );
    wait_for_steps(&mut job, &out, 3);
    signal("-KILL", rank_pid(&job, 1));
    let stderr = failed_within(job, Duration::from_secs(60));
    assert!(
        stderr.contains("rank 1") && stderr.contains("signal 9"),
        "{stderr}"
    );

    // Panicking: the panic hook aborts the job at once, not at the next all-reduce's deadline.
    let out = dir.path().join("panicking");
    let mut args = ranks(1, &config, &out, &["--max-steps", UNTIL_STOPPED]);
    args.extend([":", "-np", "1", "env", "CLAUDE_RUST_PANIC_AFTER_STEP=3"].map(String::from));
    args.extend(ranks(1, &config, &out, &["--max-steps", UNTIL_STOPPED]).split_off(2));
    let job = spawn_job(&[], args);
    // Long before the all-reduce's 600 s deadline. (mpirun's own "MPI_ABORT was invoked on rank
    // 1" is not checked: OpenMPI 4.1 fails to format that message about one time in four, with
    // "ORTE_ERROR_LOG: Data unpack had inadequate space in show_help.c".)
    let stderr = failed_within(job, Duration::from_secs(60));
    assert!(
        stderr
            .lines()
            .any(|line| line.starts_with("rank 1 panicked at ")
                && line.ends_with(": panic after step 3 as asked; aborting the MPI job")),
        "{stderr}"
    );

    // Alive but silent (stopped): the others' all-reduce deadline aborts the job naming the step.
    let out = dir.path().join("stopped");
    let extra = ["--max-steps", UNTIL_STOPPED, "--mpi-timeout", "3"];
    let mut job = spawn_job(&[], ranks(2, &config, &out, &extra));
    wait_for_steps(&mut job, &out, 3);
    let stopped = rank_pid(&job, 1);
    signal("-STOP", stopped);
    let stderr = failed_within(job, Duration::from_secs(60));
    let _ = Command::new("kill")
        .args(["-KILL", &stopped.to_string()])
        .status();
    let step = logged_steps(&out) + 1;
    assert!(
        stderr.contains(&format!(
            "error: step {step}: rank 0 waited 3 s for the other ranks' gradients"
        )),
        "{stderr}"
    );
}

/// The newest checkpoint step in `<out>/checkpoints`.
fn latest_checkpoint_step(out: &Path) -> usize {
    std::fs::read_dir(out.join("checkpoints"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("step-")?.parse().ok())
        .max()
        .unwrap()
}

#[test]
fn sigterm_to_mpirun_checkpoints_every_rank_and_resume_continues_exactly() {
    let dir = tempfile::tempdir().unwrap();
    // A progress line every step: while it stops the job, `mpirun` reads none of it, and its
    // console fills within a few hundred steps. Rank 0 must still reach its stop checkpoint.
    let config = write_config_and(dir.path(), |c| c.train.log_interval = 1);
    let out = dir.path().join("stopped");
    // OpenMPI 4 sends SIGTERM to the ranks after this many seconds and kills them as many
    // seconds later: the ranks' grace period to checkpoint.
    let grace = ["--mca", "odls_base_sigkill_timeout", "5"];
    let mut job = spawn_job(
        &grace,
        ranks(2, &config, &out, &["--max-steps", UNTIL_STOPPED]),
    );
    wait_for_steps(&mut job, &out, 3);
    signal("-TERM", job.id());
    let output = job.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The stop checkpoint is at the last step each rank trained, the same on every rank (a
    // rank held back or killed before it would have only the periodic one before).
    let stopped = logged_steps(&out);
    for rank in 0..2 {
        let dir = rank_dir(&out, rank);
        assert_eq!(
            (logged_steps(&dir), latest_checkpoint_step(&dir)),
            (stopped, stopped),
            "rank {rank}'s last step and newest checkpoint: {stderr}"
        );
    }
    assert!(stopped < 1_000_000, "the job was not stopped: {stderr}");
    assert_ranks_identical(&out, 2, stopped);

    let end = (stopped + 4).to_string();
    assert_success(&run_job(
        &[],
        ranks(2, &config, &out, &["--max-steps", &end, "--resume"]),
    ));
    let whole = dir.path().join("whole");
    assert_success(&run_job(
        &[],
        ranks(2, &config, &whole, &["--max-steps", &end]),
    ));
    assert_eq!(logged_losses(&out), logged_losses(&whole));
    assert!(weights_at(&out, stopped + 4) == weights_at(&whole, stopped + 4));
    assert_ranks_identical(&out, 2, stopped + 4);
}

#[test]
fn finetune_ranks_follow_a_single_process_run() {
    use crate::finetune::{config, facts, finetune_args};

    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), |config| {
        config.method = claude_finetune::Method::Qlora;
        // Each rank draws the dropout masks of its own rows from the same seed (as each rank of
        // PyTorch's DistributedDataParallel draws its own), not the masks one process draws
        // for the whole batch: only without dropout can the ranks follow its losses exactly.
        config.lora.as_mut().expect("LoRA settings").dropout = 0.0;
        config.train.max_steps = 2;
        config.train.batch_size = 2;
        config.train.eval_interval = 2;
        config.train.checkpoint_interval = 2;
    });
    let args = |out: &Path| finetune_args(&facts().join("train.jsonl"), &config, out, &[]);
    let single = dir.path().join("single");
    let output = Command::new(env!("CARGO_BIN_EXE_claude-rust"))
        .args(args(&single))
        .output()
        .unwrap();
    assert_success(&output);
    let two = dir.path().join("two");
    let mut job = ["-np", "2", env!("CARGO_BIN_EXE_claude-rust")]
        .map(String::from)
        .to_vec();
    job.extend(args(&two));
    job.push("--mpi".into());
    assert_success(&run_job(&[], job));
    let (expected, losses) = (logged_losses(&single), logged_losses(&two));
    assert_eq!(losses.len(), 2);
    for (one, together) in expected.iter().zip(&losses) {
        assert!(
            (one - together).abs() < 1e-4,
            "loss {one} in one process, {together} in 2 ranks"
        );
    }
    let adapter = |out: &Path| {
        std::fs::read(out.join("checkpoints/step-00000002/adapter/adapter_model.safetensors"))
            .unwrap()
    };
    assert!(
        adapter(&two) == adapter(&rank_dir(&two, 1)),
        "the ranks' adapters differ"
    );
}
