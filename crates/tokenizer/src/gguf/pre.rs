//! The pre-tokenizers of GGUF byte-level BPE vocabularies (`tokenizer.ggml.pre`), as llama.cpp
//! applies them: a chain of splitting stages, each cutting every piece the previous stage left
//! into smaller pieces (matches and the text between matches both become pieces).
//!
//! | `pre` | stages |
//! |---|---|
//! | `gpt-2` | GPT-2's pattern ([`Pattern::Gpt2`]) |
//! | `default` | runs of punctuation and `$+<=>^~\|`; GPT-2's pattern; runs of digits; `[0-9]{3}` |
//! | `llama-bpe` (Llama 3) | `(?i:'s\|'t\|'re\|'ve\|'m\|'ll\|'d)\|[^\r\n\p{L}\p{N}]?\p{L}+\|\p{N}{1,3}\| ?[^\s\p{L}\p{N}]+[\r\n]*\|\s*[\r\n]+\|\s+(?!\S)\|\s+` |
//! | `qwen2` | the same with `\p{N}` (one digit) for `\p{N}{1,3}` |
//! | `smollm` | every digit alone (`\p{N}`), then GPT-2's pattern |
//!
//! The Llama 3 family is a hand-written scanner (the look-ahead needs backtracking in regex
//! engines); tests check it against `fancy-regex` on multilingual text.

use unicode_general_category::{GeneralCategory, get_general_category};

use crate::pretokenize::{Class, Pattern, class};

/// A pre-tokenizer: how text is cut into the pieces BPE merges never cross.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTokenizer {
    /// GPT-2's pattern.
    Gpt2,
    /// llama.cpp's `default`: punctuation runs, GPT-2's pattern, digit runs, digit triples.
    Default,
    /// Llama 3's pattern (cl100k's): digits in groups of up to three.
    Llama3,
    /// Qwen2's pattern: Llama 3's with every digit alone.
    Qwen2,
    /// SmolLM's: every digit alone, then GPT-2's pattern.
    SmolLm,
}

/// One splitting stage.
#[derive(Debug, Clone, Copy)]
enum Stage {
    /// GPT-2's pattern (covers every character).
    Gpt2,
    /// The Llama 3 pattern with digit groups of up to this many.
    Llama3(usize),
    /// Maximal runs of characters of a kind; the text between runs is kept as pieces.
    Runs(Kind),
    /// Consecutive groups of exactly this many characters of a kind (`[0-9][0-9][0-9]`).
    Groups(Kind, usize),
}

/// Character kinds the regex-based stages match.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `\p{N}`.
    Number,
    /// `[0-9]`.
    AsciiDigit,
    /// `[\p{P}\$\+<=>\^~\|]`.
    Punctuation,
}

impl Kind {
    fn matches(self, c: char) -> bool {
        match self {
            Kind::Number => class(c) == Class::Number,
            Kind::AsciiDigit => c.is_ascii_digit(),
            Kind::Punctuation => {
                matches!(c, '$' | '+' | '<' | '=' | '>' | '^' | '~' | '|') || is_punctuation(c)
            }
        }
    }
}

/// `\p{P}`: the general categories Pc, Pd, Ps, Pe, Pi, Pf and Po.
fn is_punctuation(c: char) -> bool {
    use GeneralCategory::*;
    matches!(
        get_general_category(c),
        ConnectorPunctuation
            | DashPunctuation
            | OpenPunctuation
            | ClosePunctuation
            | InitialPunctuation
            | FinalPunctuation
            | OtherPunctuation
    )
}

impl PreTokenizer {
    fn stages(self) -> &'static [Stage] {
        match self {
            PreTokenizer::Gpt2 => &[Stage::Gpt2],
            PreTokenizer::Default => &[
                Stage::Runs(Kind::Punctuation),
                Stage::Gpt2,
                Stage::Runs(Kind::Number),
                Stage::Groups(Kind::AsciiDigit, 3),
            ],
            PreTokenizer::Llama3 => &[Stage::Llama3(3)],
            PreTokenizer::Qwen2 => &[Stage::Llama3(1)],
            PreTokenizer::SmolLm => &[Stage::Groups(Kind::Number, 1), Stage::Gpt2],
        }
    }

    /// Splits `text` into pre-tokens, calling `emit` with each (never an empty one) in order.
    pub fn split<'a>(self, text: &'a str, mut emit: impl FnMut(&'a str)) {
        let stages = self.stages();
        let mut pieces = vec![text];
        let mut next = Vec::new();
        for (i, &stage) in stages.iter().enumerate() {
            let last = i + 1 == stages.len();
            for &piece in &pieces {
                if last {
                    stage.split(piece, &mut emit);
                } else {
                    stage.split(piece, &mut |p| next.push(p));
                }
            }
            std::mem::swap(&mut pieces, &mut next);
            next.clear();
        }
    }
}

impl Stage {
    fn split<'a>(self, text: &'a str, emit: &mut dyn FnMut(&'a str)) {
        match self {
            Stage::Gpt2 => Pattern::Gpt2.split(text, emit),
            Stage::Llama3(digits) => {
                let mut start = 0;
                while start < text.len() {
                    let end = llama3_token_end(text, start, digits);
                    emit(&text[start..end]);
                    start = end;
                }
            }
            Stage::Runs(kind) => split_runs(text, kind, usize::MAX, emit),
            Stage::Groups(kind, n) => split_runs(text, kind, n, emit),
        }
    }
}

/// Cuts out matches of `kind+` (`group == usize::MAX`) or `kind{group}` (exactly `group`
/// characters, leftmost first), keeping the text between matches as pieces.
fn split_runs<'a>(text: &'a str, kind: Kind, group: usize, emit: &mut dyn FnMut(&'a str)) {
    let mut gap_start = 0;
    let mut run_start = None;
    let mut run_len = 0;
    for (i, c) in text.char_indices() {
        if kind.matches(c) {
            let start = *run_start.get_or_insert(i);
            run_len += 1;
            if run_len == group {
                emit_match(text, &mut gap_start, start, i + c.len_utf8(), emit);
                run_start = None;
                run_len = 0;
            }
        } else {
            if let Some(start) = run_start.take()
                && group == usize::MAX
            {
                emit_match(text, &mut gap_start, start, i, emit);
            }
            run_len = 0;
        }
    }
    if let Some(start) = run_start
        && group == usize::MAX
    {
        emit_match(text, &mut gap_start, start, text.len(), emit);
    }
    if gap_start < text.len() {
        emit(&text[gap_start..]);
    }
}

/// Emits the gap before a match (if any) and the match `start..end`.
fn emit_match<'a>(
    text: &'a str,
    gap_start: &mut usize,
    start: usize,
    end: usize,
    emit: &mut dyn FnMut(&'a str),
) {
    if start > *gap_start {
        emit(&text[*gap_start..start]);
    }
    emit(&text[start..end]);
    *gap_start = end;
}

/// The character at byte `at` of `text`, if any.
fn char_at(text: &str, at: usize) -> Option<char> {
    text.get(at..).and_then(|rest| rest.chars().next())
}

/// The end of the run of `wanted`-class characters from byte `from`, at most `max` of them.
fn class_run_end(text: &str, from: usize, wanted: Class, max: usize) -> usize {
    let mut end = from;
    for (n, c) in text[from..].chars().enumerate() {
        if n == max || class(c) != wanted {
            break;
        }
        end += c.len_utf8();
    }
    end
}

/// The end (byte index) of the Llama 3 pre-token that starts at `start`.
fn llama3_token_end(text: &str, start: usize, digits: usize) -> usize {
    let bytes = text.as_bytes();
    let c = char_at(text, start).expect("start is inside the text");
    let c_len = c.len_utf8();
    let c_class = class(c);
    // (?i:'s|'t|'re|'ve|'m|'ll|'d)
    if c == '\'' {
        let lower = |at: usize| bytes.get(at).map(u8::to_ascii_lowercase);
        match (lower(start + 1), lower(start + 2)) {
            (Some(b's' | b't' | b'm' | b'd'), _) => return start + 2,
            (Some(b'r'), Some(b'e')) | (Some(b'v'), Some(b'e')) | (Some(b'l'), Some(b'l')) => {
                return start + 3;
            }
            _ => {}
        }
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if c_class == Class::Letter {
        return class_run_end(text, start, Class::Letter, usize::MAX);
    }
    let next = char_at(text, start + c_len);
    if c != '\r'
        && c != '\n'
        && c_class != Class::Number
        && next.is_some_and(|n| class(n) == Class::Letter)
    {
        return class_run_end(text, start + c_len, Class::Letter, usize::MAX);
    }
    // \p{N}{1,digits}
    if c_class == Class::Number {
        return class_run_end(text, start, Class::Number, digits);
    }
    //  ?[^\s\p{L}\p{N}]+[\r\n]*
    let other_from = if c == ' ' && next.is_some_and(|n| class(n) == Class::Other) {
        Some(start + 1)
    } else if c_class == Class::Other {
        Some(start)
    } else {
        None
    };
    if let Some(from) = other_from {
        let mut end = class_run_end(text, from, Class::Other, usize::MAX);
        while matches!(bytes.get(end), Some(b'\r' | b'\n')) {
            end += 1;
        }
        return end;
    }
    // White space: \s*[\r\n]+ | \s+(?!\S) | \s+
    let mut last_newline_end = None;
    let mut last_space_start = start;
    let mut count = 0;
    let mut run_end = text.len();
    for (offset, ch) in text[start..].char_indices() {
        if class(ch) != Class::Space {
            run_end = start + offset;
            break;
        }
        if ch == '\r' || ch == '\n' {
            last_newline_end = Some(start + offset + 1);
        }
        last_space_start = start + offset;
        count += 1;
    }
    if let Some(end) = last_newline_end {
        return end;
    }
    if count > 1 && run_end < text.len() {
        return last_space_start;
    }
    run_end
}

#[cfg(test)]
mod tests {
    use super::*;

    /// llama.cpp's Llama 3 pattern and Qwen2's, as regular expressions.
    const LLAMA3_REGEX: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    const QWEN2_REGEX: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    fn split(pre: PreTokenizer, text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        pre.split(text, |p| out.push(p));
        out
    }

    fn regex_split<'a>(regex: &str, text: &'a str) -> Vec<&'a str> {
        let re = fancy_regex::Regex::new(regex).unwrap();
        re.find_iter(text).map(|m| m.unwrap().as_str()).collect()
    }

    const TRICKY: &[&str] = &[
        "Hello, y'all! How's it GOING'S 'LL 'Re?",
        "  Hello\t\tworld\n \n  x\r\n\r\n  y \n",
        "12345 1234567 ١٢٣٤ ½½½ x2y33z444",
        "日本語のテキスト 123 ١٢٣ Ⅻ ½ — «quote» (paren)...\n\n",
        "emoji 🚀 (normal) 😶‍🌫️ ✅ \u{a0}nbsp\u{3000}ideo \u{85}nel",
        "a\r\n\r\nb   \t",
        "ab's!!'s ...'ll\n\n\n  !!\n  ",
        "   Hello\n    Hello\n =",
        "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～",
        "",
        " ",
        "\n",
        "'",
        "x'",
    ];

    #[test]
    fn llama3_scanner_matches_the_regex() {
        for text in TRICKY {
            assert_eq!(
                split(PreTokenizer::Llama3, text),
                regex_split(LLAMA3_REGEX, text),
                "{text:?}"
            );
            assert_eq!(
                split(PreTokenizer::Qwen2, text),
                regex_split(QWEN2_REGEX, text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn llama3_scanner_matches_the_regex_on_every_language() {
        let path = claude_files::shared_data_dir().join("text/udhr-multilingual.txt");
        let Ok(text) = std::fs::read_to_string(&path) else {
            panic!("{} is missing", path.display());
        };
        // Every line is a piece of its own in both: a prefix of each document keeps the test fast.
        let sample: String = text
            .split("=== ")
            .map(|doc| &doc[..doc.floor_char_boundary(600)])
            .collect();
        assert_eq!(
            split(PreTokenizer::Llama3, &sample),
            regex_split(LLAMA3_REGEX, &sample)
        );
        assert_eq!(
            split(PreTokenizer::Qwen2, &sample),
            regex_split(QWEN2_REGEX, &sample)
        );
    }

    #[test]
    fn smollm_splits_every_digit() {
        assert_eq!(
            split(PreTokenizer::SmolLm, "abc 12345 x٣4"),
            ["abc", " ", "1", "2", "3", "4", "5", " x", "٣", "4"]
        );
    }

    #[test]
    fn default_cuts_punctuation_digits_and_triples() {
        // Stage 1 cuts "$+...", stage 2 (GPT-2) the words, stage 3 digit runs, stage 4 triples.
        assert_eq!(
            split(PreTokenizer::Default, "Hi, a+b=12345!! x`y"),
            [
                "Hi", ",", " a", "+", "b", "=", "123", "45", "!!", " x", "`", "y"
            ]
        );
        assert_eq!(split(PreTokenizer::Default, "1234567"), ["123", "456", "7"]);
    }

    #[test]
    fn runs_and_groups_keep_the_gaps() {
        let mut out = Vec::new();
        split_runs("ab12c3456", Kind::AsciiDigit, 3, &mut |p| out.push(p));
        assert_eq!(out, ["ab12c", "345", "6"]);
        out.clear();
        split_runs("ab12c3456", Kind::Number, usize::MAX, &mut |p| out.push(p));
        assert_eq!(out, ["ab", "12", "c", "3456"]);
    }
}
