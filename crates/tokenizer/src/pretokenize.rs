//! Pre-tokenization: splitting text into the pieces BPE merges never cross.
//!
//! [`Pattern::Gpt2`] is GPT-2's regular expression
//! `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, implemented
//! here as a hand-written scanner (the look-ahead needs backtracking, which makes regex engines
//! slow); a test checks it against `fancy-regex` on real multilingual text. [`Pattern::Gpt4`] is
//! the cl100k pattern, run through `fancy-regex`.

use std::sync::OnceLock;

use unicode_general_category::{GeneralCategory, get_general_category};

/// GPT-2's split pattern, as a regular expression (the reference for [`Pattern::Gpt2`]).
pub const GPT2_REGEX: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// GPT-4's (cl100k) split pattern.
pub const GPT4_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Which pre-tokenization rule a BPE tokenizer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    /// GPT-2's pattern (the default, and what GPT-2's own files use).
    #[default]
    Gpt2,
    /// GPT-4's cl100k pattern: case-insensitive contractions, digits in groups of up to three.
    Gpt4,
}

impl std::str::FromStr for Pattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "gpt2" => Ok(Pattern::Gpt2),
            "gpt4" => Ok(Pattern::Gpt4),
            other => Err(format!("unknown pattern {other:?} (expected gpt2 or gpt4)")),
        }
    }
}

impl Pattern {
    /// Splits `text` into pre-tokens, calling `emit` with each in order.
    pub fn split<'a>(self, text: &'a str, mut emit: impl FnMut(&'a str)) {
        match self {
            Pattern::Gpt2 => {
                let mut start = 0;
                while start < text.len() {
                    let end = gpt2_token_end(text, start);
                    emit(&text[start..end]);
                    start = end;
                }
            }
            Pattern::Gpt4 => {
                for m in gpt4_regex().find_iter(text) {
                    // The pattern always matches (its last branch is `\s+` and every other char
                    // is covered), and fancy-regex only fails on backtrack limits, which this
                    // pattern's single look-ahead cannot reach.
                    let m = m.expect("cl100k pattern cannot exceed the backtrack limit");
                    emit(m.as_str());
                }
            }
        }
    }

    /// Whether the text may be cut between `before` and a following `'\n'` without changing
    /// how either side splits: the cut is then a boundary of every pre-token in both patterns.
    pub fn is_safe_cut_before_newline(self, before: char) -> bool {
        match self {
            // A non-space followed by a space always ends a GPT-2 pre-token.
            Pattern::Gpt2 => !before.is_whitespace(),
            // GPT-4 lets punctuation swallow the newlines that follow it; letters and digits not.
            Pattern::Gpt4 => matches!(class(before), Class::Letter | Class::Number),
        }
    }
}

fn gpt4_regex() -> &'static fancy_regex::Regex {
    static RE: OnceLock<fancy_regex::Regex> = OnceLock::new();
    RE.get_or_init(|| fancy_regex::Regex::new(GPT4_REGEX).expect("the cl100k pattern is valid"))
}

/// Character classes of the GPT-2 pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// `\p{L}`
    Letter,
    /// `\p{N}`
    Number,
    /// `\s` (Unicode White_Space)
    Space,
    /// Everything else.
    Other,
}

pub(crate) fn class(c: char) -> Class {
    if c.is_ascii() {
        return match c {
            'a'..='z' | 'A'..='Z' => Class::Letter,
            '0'..='9' => Class::Number,
            ' ' | '\t' | '\n' | '\x0B' | '\x0C' | '\r' => Class::Space,
            _ => Class::Other,
        };
    }
    if c.is_whitespace() {
        return Class::Space;
    }
    // `char::is_numeric` is exactly the general categories Nd, Nl and No (`\p{N}`).
    if c.is_numeric() {
        return Class::Number;
    }
    use GeneralCategory::*;
    match get_general_category(c) {
        UppercaseLetter | LowercaseLetter | TitlecaseLetter | ModifierLetter | OtherLetter => {
            Class::Letter
        }
        _ => Class::Other,
    }
}

/// The end (byte index) of the GPT-2 pre-token that starts at `start`.
fn gpt2_token_end(text: &str, start: usize) -> usize {
    let rest = &text[start..];
    let bytes = rest.as_bytes();
    if bytes[0] == b'\''
        && let Some(len) = contraction_len(&bytes[1..])
    {
        return start + 1 + len;
    }
    let mut chars = rest.char_indices();
    let (_, first) = chars.next().expect("start is inside the text");
    let first_class = class(first);
    if first == ' '
        && let Some((offset, second)) = chars.clone().next()
    {
        let second_class = class(second);
        if second_class != Class::Space {
            // ` ?\p{L}+`, ` ?\p{N}+` or ` ?[^\s\p{L}\p{N}]+`.
            return start + run_end(rest, offset, second_class);
        }
    }
    if first_class != Class::Space {
        return start + run_end(rest, 0, first_class);
    }
    // A run of white space: `\s+(?!\S)` keeps the last space for the next token when the run is
    // followed by a non-space; a lone space before a non-space is taken by `\s+`.
    let mut last_space_start = 0;
    for (offset, c) in rest.char_indices() {
        if class(c) != Class::Space {
            return start
                + if last_space_start == 0 {
                    offset
                } else {
                    last_space_start
                };
        }
        last_space_start = offset;
    }
    text.len()
}

/// Length of a GPT-2 contraction (`s t m d re ve ll`) at the start of `after_quote`.
fn contraction_len(after_quote: &[u8]) -> Option<usize> {
    match after_quote {
        [b's' | b't' | b'm' | b'd', ..] => Some(1),
        [b'r', b'e', ..] | [b'v', b'e', ..] | [b'l', b'l', ..] => Some(2),
        _ => None,
    }
}

/// The end of the run of `wanted`-class characters starting at byte `from` of `text`.
fn run_end(text: &str, from: usize, wanted: Class) -> usize {
    text[from..]
        .char_indices()
        .find(|&(_, c)| class(c) != wanted)
        .map_or(text.len(), |(offset, _)| from + offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(pattern: Pattern, text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        pattern.split(text, |piece| out.push(piece));
        out
    }

    fn regex_split<'a>(re: &fancy_regex::Regex, text: &'a str) -> Vec<&'a str> {
        re.find_iter(text).map(|m| m.unwrap().as_str()).collect()
    }

    #[test]
    fn gpt2_known_splits() {
        assert_eq!(
            split(Pattern::Gpt2, "Hello, y'all! How's it"),
            ["Hello", ",", " y", "'", "all", "!", " How", "'s", " it"]
        );
        assert_eq!(
            split(Pattern::Gpt2, "a  b\n\n\nc "),
            ["a", " ", " b", "\n\n", "\n", "c", " "]
        );
        assert_eq!(
            split(Pattern::Gpt2, " 's 123abc"),
            [" '", "s", " 123", "abc"]
        );
        assert_eq!(split(Pattern::Gpt2, ""), Vec::<&str>::new());
    }

    #[test]
    fn gpt2_scanner_matches_the_regex_on_tricky_text() {
        let re = fancy_regex::Regex::new(GPT2_REGEX).unwrap();
        for text in [
            "  Hello\t\tworld\n \n  x",
            "'s're've'm'll'd 'S 'x",
            "日本語のテキスト 123 ١٢٣ Ⅻ ½",
            "emoji 🚀 (normal) 😶‍🌫️ ✅ \u{a0}nbsp\u{3000}ideo",
            "a\r\n\r\nb   \t",
            "ab's!!'s ...'ll",
        ] {
            assert_eq!(
                split(Pattern::Gpt2, text),
                regex_split(&re, text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn gpt4_splits_digits_in_threes() {
        assert_eq!(
            split(Pattern::Gpt4, "12345 HOW'S"),
            ["123", "45", " HOW", "'S"]
        );
    }

    #[test]
    fn safe_cuts_do_not_change_the_split() {
        let text = "one.\ntwo three\n\n  four4\nfive!\n\nsix";
        for pattern in [Pattern::Gpt2, Pattern::Gpt4] {
            let whole = split(pattern, text);
            for (i, c) in text.char_indices().skip(1) {
                let before = text[..i].chars().next_back().unwrap();
                if c == '\n' && pattern.is_safe_cut_before_newline(before) {
                    let mut parts = split(pattern, &text[..i]);
                    parts.extend(split(pattern, &text[i..]));
                    assert_eq!(parts, whole, "{pattern:?} cut at {i}");
                }
            }
        }
    }
}
