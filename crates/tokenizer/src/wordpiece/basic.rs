//! BERT's basic tokenization: normalizing text ([`BertNormalizer`]) and splitting it into words
//! on whitespace and punctuation ([`split_words`]), as Hugging Face's `BertNormalizer` and
//! `BertPreTokenizer` do.

use unicode_normalization::char::{canonical_combining_class, decompose_canonical};

use super::chars::{
    decomposes, is_cjk_ideograph, is_nonspacing_mark, is_punctuation, is_removed_by_cleanup,
    is_whitespace,
};

/// How text is normalized before it is split into words. The steps run in this order, each on
/// the whole output of the one before: clean-up, spaces around CJK ideographs, NFD + accent
/// stripping, lower-casing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BertNormalizer {
    /// Remove NUL, U+FFFD and control/format/private-use characters; turn every whitespace
    /// character into a space.
    pub clean_text: bool,
    /// Put a space on each side of every CJK ideograph, making it a word of its own.
    pub handle_chinese_chars: bool,
    /// Decompose (NFD) and drop the non-spacing marks (Mn): `é` becomes `e`.
    pub strip_accents: bool,
    /// Lower-case every character (Unicode's full mapping).
    pub lowercase: bool,
}

impl Default for BertNormalizer {
    /// Uncased BERT (and all-MiniLM-L6-v2): every step on.
    fn default() -> Self {
        BertNormalizer {
            clean_text: true,
            handle_chinese_chars: true,
            strip_accents: true,
            lowercase: true,
        }
    }
}

impl BertNormalizer {
    /// Normalizes `text` into `out` (which is cleared first; its allocation is reused).
    pub fn normalize_into(&self, text: &str, out: &mut String) {
        out.clear();
        out.reserve(text.len());
        if text.is_ascii() {
            self.normalize_ascii(text.as_bytes(), out);
            return;
        }
        let mut sink = Sink {
            out,
            marks: Vec::new(),
            strip_accents: self.strip_accents,
            lowercase: self.lowercase,
        };
        for c in text.chars() {
            let c = match c {
                _ if !self.clean_text => c,
                _ if is_removed_by_cleanup(c) => continue,
                _ if is_whitespace(c) => ' ',
                _ => c,
            };
            if self.handle_chinese_chars && is_cjk_ideograph(c) {
                sink.push(' ');
                sink.push(c);
                sink.push(' ');
            } else {
                sink.push(c);
            }
        }
        sink.flush();
    }

    /// The whole pipeline for ASCII text, where NFD, accents and CJK do not arise.
    fn normalize_ascii(&self, text: &[u8], out: &mut String) {
        for &b in text {
            let b = match b {
                b'\t' | b'\n' | b'\r' if self.clean_text => b' ',
                0..=0x1f | 0x7f if self.clean_text => continue,
                b'A'..=b'Z' if self.lowercase => b.to_ascii_lowercase(),
                _ => b,
            };
            out.push(char::from(b));
        }
    }
}

/// The last steps of normalization, fed one character at a time: NFD (canonical decomposition,
/// then each run of combining marks in canonical order), dropping non-spacing marks, and
/// lower-casing, each when asked for.
struct Sink<'a> {
    out: &'a mut String,
    /// The combining marks (canonical combining class, mark) since the last starter.
    marks: Vec<(u8, char)>,
    strip_accents: bool,
    lowercase: bool,
}

impl Sink<'_> {
    /// Takes the next character.
    fn push(&mut self, c: char) {
        if !self.strip_accents {
            self.emit(c);
        } else if c.is_ascii() || !decomposes(c) {
            self.starter(c);
        } else {
            decompose_canonical(c, |d| match canonical_combining_class(d) {
                0 => self.starter(d),
                class => self.marks.push((class, d)),
            });
        }
    }

    /// A character of combining class 0: it ends the run of marks before it.
    fn starter(&mut self, c: char) {
        self.flush();
        self.emit(c);
    }

    /// Writes out the pending marks in canonical order (a stable sort by combining class).
    fn flush(&mut self) {
        if self.marks.is_empty() {
            return;
        }
        let mut marks = std::mem::take(&mut self.marks);
        marks.sort_by_key(|&(class, _)| class);
        for &(_, mark) in &marks {
            self.emit(mark);
        }
        marks.clear();
        self.marks = marks;
    }

    /// Writes one character of NFD output, unless it is an accent to strip.
    fn emit(&mut self, c: char) {
        if self.strip_accents && is_nonspacing_mark(c) {
            return;
        }
        if !self.lowercase {
            self.out.push(c);
        } else if c.is_ascii() {
            self.out.push(c.to_ascii_lowercase());
        } else {
            self.out.extend(c.to_lowercase());
        }
    }
}

/// Splits normalized text into words, calling `emit` with each in order: whitespace separates
/// words and is dropped; every punctuation character is a word of its own.
pub fn split_words<'a>(text: &'a str, mut emit: impl FnMut(&'a str)) {
    let mut word_start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        let whitespace = is_whitespace(c);
        if whitespace || is_punctuation(c) {
            if let Some(start) = word_start.take() {
                emit(&text[start..i]);
            }
            if !whitespace {
                emit(&text[i..i + c.len_utf8()]);
            }
        } else if word_start.is_none() {
            word_start = Some(i);
        }
    }
    if let Some(start) = word_start {
        emit(&text[start..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(text: &str) -> String {
        let mut out = String::new();
        BertNormalizer::default().normalize_into(text, &mut out);
        out
    }

    fn words(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        split_words(&normalized(text), |w| out.push(w.to_string()));
        out
    }

    #[test]
    fn normalizes_like_bert() {
        assert_eq!(normalized("Café NAÏVE"), "cafe naive");
        assert_eq!(normalized("a\t\tb\u{a0}c\n"), "a  b c ");
        assert_eq!(normalized("x\u{0}y\u{fffd}z\u{200b}"), "xyz");
        assert_eq!(normalized("我爱"), " 我  爱 ");
        assert_eq!(normalized("Ｈ"), "ｈ"); // NFD is not NFKD: full-width stays
    }

    #[test]
    fn steps_can_be_turned_off() {
        let off = BertNormalizer {
            clean_text: false,
            handle_chinese_chars: false,
            strip_accents: false,
            lowercase: false,
        };
        let mut out = String::new();
        off.normalize_into("Café\t我\u{0}", &mut out);
        assert_eq!(out, "Café\t我\u{0}");
        off.normalize_into("AB\t\u{1}", &mut out);
        assert_eq!(out, "AB\t\u{1}");
    }

    #[test]
    fn splits_on_whitespace_and_punctuation() {
        assert_eq!(words("Hello, world!!"), ["hello", ",", "world", "!", "!"]);
        assert_eq!(words("  "), Vec::<String>::new());
        assert_eq!(words("don't 3.14"), ["don", "'", "t", "3", ".", "14"]);
        assert_eq!(words("北京abc"), ["北", "京", "abc"]);
    }
}
