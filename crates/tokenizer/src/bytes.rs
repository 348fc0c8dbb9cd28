//! GPT-2's reversible byte-to-character mapping.
//!
//! Vocabulary files store tokens as strings, but a byte-level token can be any byte sequence. GPT-2
//! maps each byte to a printable Unicode character: the 188 printable Latin-1 bytes (`!`..`~`,
//! `¡`..`¬`, `®`..`ÿ`) map to themselves and the other 68 bytes to U+0100 onwards, in byte order.
//! So a space is `Ġ` (U+0120) and a newline `Ċ` (U+010A). The order of [`byte_order`] is also the
//! order in which GPT-2 (and our trainer) numbers the 256 base tokens.

use std::sync::OnceLock;

/// The 256 bytes in GPT-2's base-token order: printable bytes first, then the rest.
pub fn byte_order() -> &'static [u8; 256] {
    static ORDER: OnceLock<[u8; 256]> = OnceLock::new();
    ORDER.get_or_init(|| {
        let mut order = [0u8; 256];
        let mut n = 0;
        for b in 0..=255u8 {
            if is_printable(b) {
                order[n] = b;
                n += 1;
            }
        }
        for b in 0..=255u8 {
            if !is_printable(b) {
                order[n] = b;
                n += 1;
            }
        }
        order
    })
}

fn is_printable(b: u8) -> bool {
    matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

fn byte_to_char_table() -> &'static [char; 256] {
    static TABLE: OnceLock<[char; 256]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = ['\0'; 256];
        let mut next_unprintable = 256u32;
        for b in 0..=255u8 {
            table[b as usize] = if is_printable(b) {
                char::from(b)
            } else {
                let c = char::from_u32(next_unprintable).expect("U+0100..U+0143 are chars");
                next_unprintable += 1;
                c
            };
        }
        table
    })
}

/// The printable character standing for `b`.
pub fn byte_to_char(b: u8) -> char {
    byte_to_char_table()[b as usize]
}

/// The byte a mapped character stands for, or `None` if `c` is not one of the 256.
pub fn char_to_byte(c: char) -> Option<u8> {
    static TABLE: OnceLock<[Option<u8>; 324]> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = [None; 324];
        for b in 0..=255u8 {
            table[byte_to_char(b) as usize] = Some(b);
        }
        table
    });
    table.get(c as usize).copied().flatten()
}

/// Encodes raw token bytes in the printable form used by `vocab.json` and `merges.txt`.
pub fn encode_token(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| byte_to_char(b)).collect()
}

/// Decodes the printable form back to raw bytes; `None` if a character is not a mapped byte.
pub fn decode_token(text: &str) -> Option<Vec<u8>> {
    text.chars().map(char_to_byte).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_characters_from_gpt2() {
        // Values from GPT-2's encoder.json: space is "Ġ", newline "Ċ", tab "ĉ", byte 0 "Ā".
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(byte_to_char(b'\t'), 'ĉ');
        assert_eq!(byte_to_char(0), 'Ā');
        assert_eq!(byte_to_char(b'a'), 'a');
        assert_eq!(byte_to_char(0xAD), 'Ń');
    }

    #[test]
    fn mapping_is_a_bijection() {
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(b)), Some(b));
        }
        assert_eq!(char_to_byte('Ō'), None);
        let order = byte_order();
        let mut seen = [false; 256];
        for &b in order {
            seen[b as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(order[0], b'!');
        assert_eq!(order[255], 0xAD);
    }
}
