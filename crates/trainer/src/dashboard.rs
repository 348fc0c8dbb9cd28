//! The live dashboard: burn-train's terminal UI (ratatui), fed from our loop. It plots loss, val
//! loss, learning rate and tokens/s; pressing `q` stops the run after a final checkpoint.

use std::sync::Arc;

use burn::train::Interrupter;
use burn::train::logger::TrainingProgressLogger;
use burn::train::metric::{
    MetricAttributes, MetricDefinition, MetricEntry, MetricId, NumericAttributes, NumericEntry,
    SerializedEntry,
};
use burn::train::renderer::tui::TuiMetricsRendererWrapper;
use burn::train::renderer::{MetricState, MetricsRenderer, MetricsRendererTraining};

use crate::metrics::{Reporter, StepMetrics};

/// One plotted metric.
struct Series {
    id: MetricId,
    unit: Option<&'static str>,
}

/// Drives burn-train's TUI renderer.
pub struct DashboardReporter {
    renderer: TuiMetricsRendererWrapper,
    interrupter: Interrupter,
    loss: Series,
    lr: Series,
    speed: Series,
    started: bool,
}

impl DashboardReporter {
    /// Takes over the terminal.
    pub fn new() -> Self {
        let interrupter = Interrupter::new();
        let mut renderer = TuiMetricsRendererWrapper::new(interrupter.clone(), None);
        let mut series = |name: &str, unit: Option<&'static str>, higher_is_better: bool| {
            let id = MetricId::new(Arc::new(name.to_string()));
            renderer.register_metric(MetricDefinition {
                metric_id: id.clone(),
                name: Arc::new(name.to_string()),
                description: None,
                attributes: MetricAttributes::Numeric(NumericAttributes {
                    unit: unit.map(str::to_string),
                    higher_is_better,
                }),
            });
            Series { id, unit }
        };
        let loss = series("Loss", None, false);
        let lr = series("Learning Rate", None, false);
        let speed = series("Tokens per second", Some("tok/s"), true);
        DashboardReporter {
            renderer,
            interrupter,
            loss,
            lr,
            speed,
            started: false,
        }
    }

    fn state(series: &Series, value: f64) -> MetricState {
        let unit = series.unit.map(|u| format!(" {u}")).unwrap_or_default();
        let formatted = format!("{value:.4}{unit}");
        MetricState::Numeric(
            MetricEntry::new(
                series.id.clone(),
                SerializedEntry::new(formatted, value.to_string()),
            ),
            Some(NumericEntry::Value(value)),
        )
    }
}

impl Default for DashboardReporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for DashboardReporter {
    fn step(&mut self, m: &StepMetrics, max_steps: usize) {
        if !self.started {
            self.renderer
                .start(1, 0, Some(max_steps), Some("claude-rust"));
            self.renderer.start_split("train", max_steps);
            self.started = true;
        }
        self.renderer.update_train(Self::state(&self.loss, m.loss));
        self.renderer.update_train(Self::state(&self.lr, m.lr));
        self.renderer
            .update_train(Self::state(&self.speed, m.tokens_per_sec));
        if let Some(val) = m.val_loss {
            self.renderer.update_valid(Self::state(&self.loss, val));
        }
        self.renderer.update_split(m.step);
    }

    fn note(&mut self, message: &str) {
        self.renderer.log_event_training(message.to_string());
    }

    fn should_stop(&self) -> bool {
        self.interrupter.should_stop()
    }
}
