//! claude-finetune's integration tests, one binary: fine-tuning data on a real model's chat
//! template and tokenizer, and the fine-tuning configs.

mod configs;
mod data;
mod support;
