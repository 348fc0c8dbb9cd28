//! GGUF files (llama.cpp's format): [`read`] maps the `llama`, `gpt2` and `starcoder2`
//! architectures onto [`Gpt`](crate::Gpt), [`write`] writes ours as the one of them its config
//! computes, and [`arch`] holds what both share.

mod arch;
mod read;
mod write;

pub(super) use read::{load, open};
pub(super) use write::save;
