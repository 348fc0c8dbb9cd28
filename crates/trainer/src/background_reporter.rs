//! A reporter on a thread of its own, so that a console that stops reading never stalls training.
//!
//! Printing blocks once the terminal or pipe behind standard output is full. That happens when
//! `mpirun` stops a job: its kill sequence (SIGCONT, a wait, SIGTERM, a wait, SIGKILL) sleeps
//! without draining its ranks' output, and the pseudo-terminal it gives them holds about 20 KB.
//! A rank that printed then sat in `write` past the SIGTERM, never saw the stop request, and was
//! killed without its stop checkpoint. A paused terminal (Ctrl-S) or an unread pipe does the same.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::Duration;

use crate::metrics::{Reporter, StepMetrics};

/// Reports that may wait for the thread; newer ones are dropped while it is this far behind.
const QUEUE_LENGTH: usize = 256;

/// How long dropping the reporter waits for the queued reports to be shown.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// One call to pass on.
enum Report {
    Step(StepMetrics, usize),
    Note(String),
}

/// Shows reports on a thread of its own: training only queues them and never waits for the
/// console. While the console is not reading, reports beyond a queue of 256 are dropped (every
/// step is still in `metrics.jsonl`), and the next one shown says how many were. Dropping it
/// waits up to 2 s for the queue to be shown.
pub struct BackgroundReporter {
    queue: Option<SyncSender<Report>>,
    stop_requested: Arc<AtomicBool>,
    finished: Receiver<()>,
    dropped: usize,
}

impl BackgroundReporter {
    /// Starts the thread, which makes its reporter with `make` (so the reporter itself need not
    /// be `Send`: the dashboard's terminal is made where it is drawn).
    pub fn spawn<F>(make: F) -> Self
    where
        F: FnOnce() -> Box<dyn Reporter> + Send + 'static,
    {
        let (queue, reports) = mpsc::sync_channel(QUEUE_LENGTH);
        let (done, finished) = mpsc::channel();
        let stop_requested = Arc::new(AtomicBool::new(false));
        let stop = stop_requested.clone();
        std::thread::Builder::new()
            .name("reporter".into())
            .spawn(move || {
                let mut reporter = make();
                for report in reports {
                    match report {
                        Report::Step(metrics, max_steps) => reporter.step(&metrics, max_steps),
                        Report::Note(message) => reporter.note(&message),
                    }
                    if reporter.should_stop() {
                        stop.store(true, Ordering::SeqCst);
                    }
                }
                // Dropped here, before saying so: the dashboard restores the terminal.
                drop(reporter);
                let _ = done.send(());
            })
            .expect("the reporter thread starts");
        BackgroundReporter {
            queue: Some(queue),
            stop_requested,
            finished,
            dropped: 0,
        }
    }

    /// Queues `report`, or counts it dropped when the queue is full.
    fn send(&mut self, report: Report) {
        let Some(queue) = &self.queue else { return };
        if self.dropped > 0 {
            let message = format!(
                "({} progress reports not shown: the console was not reading)",
                self.dropped
            );
            if queue.try_send(Report::Note(message)).is_err() {
                self.dropped += 1;
                return;
            }
            self.dropped = 0;
        }
        if let Err(TrySendError::Full(_)) = queue.try_send(report) {
            self.dropped += 1;
        }
    }
}

impl Reporter for BackgroundReporter {
    fn step(&mut self, metrics: &StepMetrics, max_steps: usize) {
        self.send(Report::Step(metrics.clone(), max_steps));
    }

    fn note(&mut self, message: &str) {
        self.send(Report::Note(message.to_string()));
    }

    fn should_stop(&self) -> bool {
        self.stop_requested.load(Ordering::SeqCst)
    }
}

impl Drop for BackgroundReporter {
    fn drop(&mut self) {
        // Closing the queue ends the thread's loop once it has shown what is queued.
        self.queue = None;
        let _ = self.finished.recv_timeout(FLUSH_WAIT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    /// Records what it is given, after counting the call in `entered` and waiting for `gate` to
    /// open.
    struct Recorder {
        gate: Arc<Mutex<()>>,
        entered: Arc<AtomicUsize>,
        seen: Arc<Mutex<Vec<String>>>,
    }

    impl Reporter for Recorder {
        fn step(&mut self, metrics: &StepMetrics, _: usize) {
            self.entered.fetch_add(1, Ordering::SeqCst);
            let _open = self.gate.lock().unwrap();
            self.seen
                .lock()
                .unwrap()
                .push(format!("step {}", metrics.step));
        }
        fn note(&mut self, message: &str) {
            let _open = self.gate.lock().unwrap();
            self.seen.lock().unwrap().push(message.to_string());
        }
        fn should_stop(&self) -> bool {
            self.seen.lock().unwrap().iter().any(|m| m == "stop")
        }
    }

    fn metrics(step: usize) -> StepMetrics {
        StepMetrics {
            step,
            loss: 1.0,
            lr: 1e-3,
            grad_norm: 1.0,
            tokens_per_sec: 1.0,
            elapsed_s: 0.0,
            val_loss: None,
            val_perplexity: None,
            val_loss_full: None,
        }
    }

    #[test]
    fn a_stalled_console_drops_reports_without_stalling_the_caller_then_says_how_many() {
        let gate = Arc::new(Mutex::new(()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stalled = gate.lock().unwrap();
        let entered = Arc::new(AtomicUsize::new(0));
        let recorder = Recorder {
            gate: gate.clone(),
            entered: entered.clone(),
            seen: seen.clone(),
        };
        let mut reporter = BackgroundReporter::spawn(move || Box::new(recorder));
        // The thread takes the first report and waits at the gate (however late it starts);
        // then the queue fills behind it.
        let steps = QUEUE_LENGTH + 100;
        reporter.step(&metrics(1), steps);
        while entered.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        for step in 2..=steps {
            reporter.step(&metrics(step), steps);
        }
        let dropped = reporter.dropped;
        assert_eq!(dropped, steps - 1 - QUEUE_LENGTH);
        drop(stalled);
        let started = std::time::Instant::now();
        while seen.lock().unwrap().len() < steps - dropped {
            assert!(started.elapsed() < Duration::from_secs(10), "never shown");
            std::thread::sleep(Duration::from_millis(1));
        }
        reporter.note("stop");
        drop(reporter);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), steps - dropped + 2);
        assert_eq!(seen[0], "step 1");
        assert_eq!(
            seen[seen.len() - 2],
            format!("({dropped} progress reports not shown: the console was not reading)")
        );
        assert_eq!(seen.last().unwrap(), "stop");
    }

    #[test]
    fn the_inner_reporters_stop_request_reaches_the_caller() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorder = Recorder {
            gate: Arc::new(Mutex::new(())),
            entered: Arc::default(),
            seen: seen.clone(),
        };
        let mut reporter = BackgroundReporter::spawn(move || Box::new(recorder));
        reporter.note("hello");
        reporter.note("stop");
        let started = std::time::Instant::now();
        while !reporter.should_stop() {
            assert!(started.elapsed() < Duration::from_secs(10), "never stopped");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(*seen.lock().unwrap(), ["hello", "stop"]);
    }
}
