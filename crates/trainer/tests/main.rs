//! claude-trainer's integration tests, one binary: whole training runs on the tiny config.

mod support;
mod training;
