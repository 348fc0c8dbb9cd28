//! claude-finetune's integration tests, one binary: fine-tuning data on a real model's chat
//! template and tokenizer.

mod data;
mod support;
