//! Low-precision training. Its own test binary: a device's float type is set once per process,
//! before any tensor exists, so it cannot share a process with f32 tests.

use claude_trainer::config::Precision;
use claude_trainer::metrics::{Reporter, StepMetrics};
use claude_trainer::{RunOptions, TrainConfig, train};

struct Quiet;

impl Reporter for Quiet {
    fn step(&mut self, _: &StepMetrics, _: usize) {}
    fn note(&mut self, _: &str) {}
}

#[test]
fn bf16_training_gives_finite_losses() {
    let corpus = claude_tokenizer::shared_data_dir().join("text/tinyshakespeare.txt");
    let mut config = TrainConfig::parse(&format!(
        "[data]\ntext = \"{}\"\n[model]\ncontext_length = 16\nn_layer = 1\nn_head = 2\nd_model = 16\n\
         [schedule]\nlr = 1e-3\n[train]\nmax_steps = 4\nbatch_size = 4\neval_interval = 4\neval_iters = 2\n",
        corpus.display()
    ))
    .unwrap();
    config.train.precision = Precision::Bf16True;
    let out = tempfile::tempdir().unwrap();
    let options = RunOptions {
        out_dir: out.path().to_path_buf(),
        device: "cpu".into(),
        resume: false,
        max_steps: None,
        distributed: None,
    };
    let summary = train(config, &options, &mut Quiet).unwrap();
    let val = summary.val_loss.unwrap();
    assert!(val.is_finite() && val > 0.0, "{val}");
}
