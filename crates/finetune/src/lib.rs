//! claude-finetune: adapting a pretrained model to a user's data.
//!
//! Chat data (JSON lines of OpenAI-style `messages`, or plain `text` lines) is rendered with the
//! model's own chat template into token rows whose loss counts only the assistant's tokens
//! ([`data`]); the trainer's loop then trains the whole model, or LoRA adapters on a float or a
//! packed (QLoRA) base.

pub mod data;
