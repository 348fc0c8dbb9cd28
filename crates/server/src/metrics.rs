//! `GET /metrics` in Prometheus' text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use claude_inference::engine::EngineStats;

/// Counters the HTTP layer keeps (the engine keeps its own in [`EngineStats`]).
#[derive(Debug, Default)]
pub struct HttpMetrics {
    /// Requests answered, by route and status.
    requests: Mutex<BTreeMap<(String, u16), u64>>,
}

impl HttpMetrics {
    /// Counts one answered request.
    pub fn record(&self, route: &str, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests.entry((route.to_string(), status)).or_default() += 1;
    }

    /// The exposition text of these counters and the engine's.
    pub fn render(&self, engine: &EngineStats) -> String {
        let mut out = String::new();
        out.push_str("# HELP claude_requests_total HTTP requests answered, by route and status.\n");
        out.push_str("# TYPE claude_requests_total counter\n");
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        for ((route, status), count) in requests.iter() {
            let _ = writeln!(
                out,
                "claude_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        drop(requests);
        let first_tokens = engine.first_tokens.load(Ordering::Relaxed);
        let ttft_seconds = engine.time_to_first_token_us.load(Ordering::Relaxed) as f64 / 1e6;
        let tokens_per_sec =
            engine.recent_tokens_per_sec_milli.load(Ordering::Relaxed) as f64 / 1000.0;
        let rows: [(&str, &str, &str, String); 9] = [
            (
                "claude_tokens_generated_total",
                "counter",
                "Tokens generated.",
                engine.tokens_generated.load(Ordering::Relaxed).to_string(),
            ),
            (
                "claude_time_to_first_token_seconds_sum",
                "counter",
                "Total time from request to first token.",
                ttft_seconds.to_string(),
            ),
            (
                "claude_time_to_first_token_seconds_count",
                "counter",
                "Requests that received a first token.",
                first_tokens.to_string(),
            ),
            (
                "claude_tokens_per_second",
                "gauge",
                "Tokens per second of the latest decode step, all sequences together.",
                tokens_per_sec.to_string(),
            ),
            (
                "claude_queue_depth",
                "gauge",
                "Requests waiting for a batch slot.",
                engine.queued.load(Ordering::SeqCst).to_string(),
            ),
            (
                "claude_active_sequences",
                "gauge",
                "Sequences being decoded.",
                engine.active.load(Ordering::SeqCst).to_string(),
            ),
            (
                "claude_decode_steps_total",
                "counter",
                "Batched decode steps run.",
                engine.steps.load(Ordering::Relaxed).to_string(),
            ),
            (
                "claude_panics_total",
                "counter",
                "Panics caught while serving.",
                engine.panics.load(Ordering::Relaxed).to_string(),
            ),
            (
                "claude_prompt_tokens_reused_total",
                "counter",
                "Prompt tokens not fed again: a cached prompt shared them.",
                engine
                    .prompt_tokens_reused
                    .load(Ordering::Relaxed)
                    .to_string(),
            ),
        ];
        for (name, kind, help, value) in rows {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out
    }
}
