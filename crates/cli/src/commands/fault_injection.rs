//! Fault injection for the MPI tests, in test (debug-assertion) builds only: with
//! `CLAUDE_RUST_PANIC_AFTER_STEP=N`, a training process panics once step N is reported, to show
//! that a panicking rank takes its whole job down. A release binary ignores the variable.

use claude_trainer::Reporter;
#[cfg(debug_assertions)]
use claude_trainer::StepMetrics;

/// The environment variable that asks for the panic.
#[cfg(debug_assertions)]
const VAR: &str = "CLAUDE_RUST_PANIC_AFTER_STEP";

/// `reporter`, made to panic after the step that `CLAUDE_RUST_PANIC_AFTER_STEP` names.
#[cfg(debug_assertions)]
pub fn panic_after_step(reporter: Box<dyn Reporter>) -> anyhow::Result<Box<dyn Reporter>> {
    let Ok(value) = std::env::var(VAR) else {
        return Ok(reporter);
    };
    let step = value
        .parse()
        .map_err(|_| anyhow::anyhow!("{VAR}={value:?} is not a step number"))?;
    Ok(Box::new(PanicAfter {
        step,
        inner: reporter,
    }))
}

/// `reporter` as it is: release builds carry no fault injection.
#[cfg(not(debug_assertions))]
pub fn panic_after_step(reporter: Box<dyn Reporter>) -> anyhow::Result<Box<dyn Reporter>> {
    Ok(reporter)
}

/// Passes reports on to `inner` and panics after step `step`.
#[cfg(debug_assertions)]
struct PanicAfter {
    step: usize,
    inner: Box<dyn Reporter>,
}

#[cfg(debug_assertions)]
impl Reporter for PanicAfter {
    fn step(&mut self, metrics: &StepMetrics, max_steps: usize) {
        self.inner.step(metrics, max_steps);
        assert!(
            metrics.step < self.step,
            "panic after step {} as asked",
            self.step
        );
    }

    fn note(&mut self, message: &str) {
        self.inner.note(message);
    }

    fn should_stop(&self) -> bool {
        self.inner.should_stop()
    }
}
