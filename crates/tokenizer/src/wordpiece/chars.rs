//! The character classes BERT's basic tokenization is defined by, each with an ASCII fast path,
//! as Hugging Face's `tokenizers` has them (its older Unicode tables: see [`legacy`]).

use unicode_general_category::{GeneralCategory, get_general_category};

use super::legacy;

/// Whether text clean-up removes `c`: NUL, U+FFFD, and every control (Cc), format (Cf),
/// private-use (Co) or surrogate (Cs) character except tab, newline and carriage return (those
/// are whitespace). Unassigned code points (Cn) are kept, and so are the format characters
/// Hugging Face's tables do not know.
pub(crate) fn is_removed_by_cleanup(c: char) -> bool {
    match c {
        '\t' | '\n' | '\r' => false,
        _ if c.is_ascii() => c.is_ascii_control(),
        '\u{FFFD}' => true,
        _ => match get_general_category(c) {
            GeneralCategory::Control | GeneralCategory::PrivateUse | GeneralCategory::Surrogate => {
                true
            }
            GeneralCategory::Format => !legacy::contains(legacy::KEPT_FORMAT, c),
            _ => false,
        },
    }
}

/// Whether `c` separates words: Unicode's `White_Space` property (which includes tab, newline
/// and carriage return).
pub(crate) fn is_whitespace(c: char) -> bool {
    c.is_whitespace()
}

/// BERT's punctuation: ASCII 33-47, 58-64, 91-96 and 123-126 (so `$`, `+`, `^`, `` ` ``, `|`
/// and `~` count, though Unicode calls them symbols), and every character of a Unicode
/// punctuation category (Pc, Pd, Ps, Pe, Pi, Pf, Po) in Hugging Face's tables.
pub(crate) fn is_punctuation(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation();
    }
    match get_general_category(c) {
        GeneralCategory::ConnectorPunctuation
        | GeneralCategory::DashPunctuation
        | GeneralCategory::OpenPunctuation
        | GeneralCategory::ClosePunctuation
        | GeneralCategory::InitialPunctuation
        | GeneralCategory::FinalPunctuation
        | GeneralCategory::OtherPunctuation => !legacy::contains(legacy::NOT_PUNCTUATION, c),
        _ => legacy::EXTRA_PUNCTUATION.contains(&c),
    }
}

/// Whether `c` is a non-spacing mark (Mn) in Hugging Face's tables, what stripping accents
/// removes after NFD.
pub(crate) fn is_nonspacing_mark(c: char) -> bool {
    if c.is_ascii() {
        return false;
    }
    match get_general_category(c) {
        GeneralCategory::NonspacingMark => !legacy::contains(legacy::NOT_NONSPACING, c),
        GeneralCategory::SpacingMark => legacy::EXTRA_NONSPACING.contains(&c),
        _ => false,
    }
}

/// Whether NFD applies `c`'s canonical decomposition (if it has one): not for the characters
/// whose decomposition Hugging Face's NFD does not know.
pub(crate) fn decomposes(c: char) -> bool {
    c.is_ascii() || !legacy::contains(legacy::NO_DECOMPOSITION, c)
}

/// The CJK ideograph blocks BERT puts spaces around, as Hugging Face's `tokenizers` has them:
/// CJK Unified Ideographs and Extension A, Extensions B, C and D, U+2B920..=U+2CEAF (Extension
/// E, which starts at U+2B820 in Unicode, is covered from U+2B920 on), and the two
/// compatibility-ideograph blocks. Hangul, kana and later extensions are not included.
pub(crate) fn is_cjk_ideograph(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_classes() {
        let punct: String = (33u8..=126)
            .map(char::from)
            .filter(|&c| is_punctuation(c))
            .collect();
        assert_eq!(punct, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");
        assert!(is_removed_by_cleanup('\0'));
        assert!(is_removed_by_cleanup('\u{7f}'));
        assert!(is_removed_by_cleanup('\u{b}'));
        assert!(!is_removed_by_cleanup('\t'));
        assert!(is_whitespace('\n') && is_whitespace('\u{a0}') && is_whitespace('\u{3000}'));
    }

    #[test]
    fn unicode_classes() {
        assert!(is_removed_by_cleanup('\u{FFFD}'));
        assert!(is_removed_by_cleanup('\u{200B}')); // zero-width space, Cf
        assert!(is_removed_by_cleanup('\u{AD}')); // soft hyphen, Cf
        assert!(is_removed_by_cleanup('\u{E000}')); // private use
        assert!(is_removed_by_cleanup('\u{85}')); // NEL: Cc before it is whitespace
        assert!(!is_removed_by_cleanup('\u{378}')); // unassigned
        assert!(is_punctuation('。') && is_punctuation('«') && is_punctuation('\u{2014}'));
        assert!(!is_punctuation('€') && !is_punctuation('a'));
        assert!(is_nonspacing_mark('\u{301}') && !is_nonspacing_mark('e'));
        assert!(is_cjk_ideograph('北') && is_cjk_ideograph('\u{2B920}'));
        assert!(!is_cjk_ideograph('\u{2B820}') && !is_cjk_ideograph('あ'));
    }
}
