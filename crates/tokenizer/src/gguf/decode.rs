//! Ids back to text, as llama.cpp's detokenizer does it: each token's piece (control tokens only
//! on request), the leading space of a SentencePiece text removed, and for some byte-level
//! vocabularies the spaces before punctuation and contractions cleaned up.

/// How ids become text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Drop a leading BOS and a trailing EOS where the tokenizer adds them.
    pub remove_special: bool,
    /// Render control and unknown tokens as their text (otherwise they render as nothing).
    pub unparse_special: bool,
}

/// The byte a byte-fallback token `<0xXX>` stands for.
pub(crate) fn byte_of(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    (hex.len() == 2)
        .then(|| u8::from_str_radix(hex, 16).ok())
        .flatten()
}

/// `clean_up_tokenization_spaces`, in llama.cpp's three passes over the bytes: no space before
/// `? ! . ,`; `" ' "` becomes `'`; no space before `'s`, `'m`, `'re` and `'ve`.
pub(crate) fn clean_spaces(text: &mut Vec<u8>) {
    if text.is_empty() {
        return;
    }
    // Each pass reads `text[i]` ahead of where it writes, as in place.
    let mut total = 1;
    for i in 1..text.len() {
        let x = text[i];
        if text[i - 1] == b' ' && matches!(x, b'?' | b'!' | b'.' | b',') {
            total -= 1;
        }
        text[total] = x;
        total += 1;
    }
    text.truncate(total);

    let n = text.len();
    let mut total = 1;
    let mut i = 1;
    while i < n {
        let x = text[i];
        if x == b'\'' && i + 1 < n && text[i - 1] == b' ' && text[i + 1] == b' ' {
            // Drop the space before and the space after.
            total -= 1;
            i += 1;
            text[i] = 0;
        }
        text[total] = x;
        total += 1;
        i += 1;
    }
    text.truncate(total);

    let n = text.len();
    let mut total = 1;
    for i in 1..n {
        let x = text[i];
        if text[i - 1] == b' ' && x == b'\'' && i + 1 < n {
            let x1 = text[i + 1];
            let x2 = text.get(i + 2).copied();
            if matches!(x1, b's' | b'm')
                || matches!((x1, x2), (b'r', Some(b'e')) | (b'v', Some(b'e')))
            {
                total -= 1;
            }
        }
        text[total] = x;
        total += 1;
    }
    text.truncate(total);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cleaned(s: &str) -> String {
        let mut bytes = s.as_bytes().to_vec();
        clean_spaces(&mut bytes);
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn clean_up_spaces() {
        assert_eq!(cleaned("Hello , world ! Yes ?"), "Hello, world! Yes?");
        assert_eq!(cleaned("it ' s"), "it's");
        assert_eq!(
            cleaned("we 're they 've he 's I 'm"),
            "we're they've he's I'm"
        );
        // Like llama.cpp (and unlike Hugging Face), " 't" " 'd" and " 'll" keep their space.
        assert_eq!(cleaned("don 't I 'd we 'll"), "don 't I 'd we 'll");
        assert_eq!(cleaned(" ."), ".");
        assert_eq!(cleaned(""), "");
    }

    #[test]
    fn byte_tokens() {
        assert_eq!(byte_of("<0x0A>"), Some(10));
        assert_eq!(byte_of("<0xff>"), Some(255));
        assert_eq!(byte_of("<0x1>"), None);
        assert_eq!(byte_of("a"), None);
    }
}
