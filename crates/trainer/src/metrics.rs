//! Training metrics: one JSON object per step in `<out>/metrics.jsonl`, and the lines or the
//! dashboard a person watches.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// What one optimizer step measured.
#[derive(Debug, Clone, Serialize)]
pub struct StepMetrics {
    /// Steps completed (1-based).
    pub step: usize,
    /// Mean training loss over the step's micro-batches.
    pub loss: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Training tokens per second over this step.
    pub tokens_per_sec: f64,
    /// Seconds since the run (or the resumed run) started, plus earlier time when resumed.
    pub elapsed_s: f64,
    /// Validation loss, on evaluation steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    /// Validation perplexity, `exp(val_loss)`, on evaluation steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_perplexity: Option<f64>,
    /// Validation loss over the first `train.final_eval_tokens` of `val.bin` read in order, on
    /// the last step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_loss_full: Option<f64>,
}

/// Appends one JSON line per step to `metrics.jsonl`.
pub struct MetricsLog {
    path: PathBuf,
    file: File,
}

impl MetricsLog {
    /// Opens (appending) `<out>/metrics.jsonl`, first dropping the lines of steps after
    /// `resumed_step` (steps a killed run logged past its last checkpoint, which will run again).
    pub fn open(out_dir: &Path, resumed_step: usize) -> Result<Self> {
        let path = out_dir.join("metrics.jsonl");
        if let Ok(text) = std::fs::read_to_string(&path) {
            let kept: String = text
                .lines()
                .filter(|line| {
                    serde_json::from_str::<serde_json::Value>(line)
                        .ok()
                        .and_then(|v| v["step"].as_u64())
                        .is_some_and(|step| step as usize <= resumed_step)
                })
                .map(|line| format!("{line}\n"))
                .collect();
            claude_files::write_atomic(&path, kept.as_bytes()).map_err(|e| Error::io(&path, e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        Ok(MetricsLog { path, file })
    }

    /// Writes one step's line.
    pub fn write(&mut self, metrics: &StepMetrics) -> Result<()> {
        let mut line = serde_json::to_string(metrics).expect("metrics serialize");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// Shows progress to a person: text lines or the dashboard.
pub trait Reporter {
    /// Called once per step.
    fn step(&mut self, metrics: &StepMetrics, max_steps: usize);
    /// A message outside the per-step stream (checkpoints, evaluation summaries).
    fn note(&mut self, message: &str);
    /// Whether the person asked to stop (the dashboard's `q`).
    fn should_stop(&self) -> bool {
        false
    }
}

/// Reports nothing (for tests and programs that read `metrics.jsonl` or the [`RunSummary`]
/// instead).
///
/// [`RunSummary`]: crate::RunSummary
pub struct SilentReporter;

impl Reporter for SilentReporter {
    fn step(&mut self, _: &StepMetrics, _: usize) {}
    fn note(&mut self, _: &str) {}
}

/// Prints a line every `every` steps and on every evaluation.
pub struct TextReporter {
    /// Print every this many steps.
    pub every: usize,
}

impl Reporter for TextReporter {
    fn step(&mut self, m: &StepMetrics, max_steps: usize) {
        let eval = m.val_loss.is_some();
        if eval || m.step.is_multiple_of(self.every) || m.step == max_steps || m.step == 1 {
            let mut val = m
                .val_loss
                .map(|v| format!(" | val loss {v:.4} (ppl {:.2})", v.exp()))
                .unwrap_or_default();
            if let Some(full) = m.val_loss_full {
                val.push_str(&format!(
                    " | full val loss {full:.4} (ppl {:.2})",
                    full.exp()
                ));
            }
            print_line(&format!(
                "step {:>6}/{max_steps} | loss {:.4} | lr {:.2e} | grad norm {:.3} | {:.0} tok/s | {:.1} s{val}",
                m.step, m.loss, m.lr, m.grad_norm, m.tokens_per_sec, m.elapsed_s
            ));
        }
    }

    fn note(&mut self, message: &str) {
        print_line(message);
    }
}

/// Prints `line` to standard output; a closed console (the launcher gone) is no reason to stop
/// training, so a failed write is ignored where `println!` would panic.
fn print_line(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Peak resident memory of this process in bytes (Linux `VmHWM`), if known.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
