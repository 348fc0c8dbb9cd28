//! GGUF files (llama.cpp's format): [`read`] maps llama.cpp's architectures (see [`arch`]) onto [`Gpt`](crate::Gpt), [`write`] writes ours as the one of them its config
//! computes, and [`arch`] holds what both share.

pub(crate) mod arch;
mod read;
#[cfg(test)]
mod round_trip;
mod write;

pub(super) use read::{load, open};
pub(super) use write::save;
