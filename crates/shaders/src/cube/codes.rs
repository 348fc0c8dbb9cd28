//! The codes inside our GPU layout's 32-bit words ([`crate::layout`]), shared by the packed
//! kernels: GGML's Q4 nibbles and Q8 signed bytes.

use burn_cubecl::cubecl::{self, prelude::*};

/// Nibble `nibble` of a Q4 word (the low half of byte `b` is nibble `2b`, weight `4w + b` of
/// the block for word `w`; its high half is nibble `2b + 1`, weight `16 + 4w + b`): a code in
/// 0..16.
#[cube]
pub(crate) fn q4_code(word: i32, #[comptime] nibble: usize) -> i32 {
    let shift = (4 * nibble) as i32;
    (word >> shift) & 15
}

/// Byte `byte` of a Q8 word, sign-extended: moved to the top, then arithmetically back.
#[cube]
pub(crate) fn q8_code(word: i32, #[comptime] byte: usize) -> i32 {
    let up = (24 - 8 * byte) as i32;
    (word << up) >> 24
}
