//! Python-string filters as jinja2 has them where minijinja's differ: `indent`, which keeps a
//! trailing newline (jinja2 appends one before `str.splitlines`, so `'{\n' | indent(4)` is
//! `'{\n'`, where minijinja drops it).

use minijinja::Error;
use minijinja::value::{Kwargs, Value};

/// `text | indent(width=4, first=False, blank=False)`: every line after the first (the first
/// too with `first`) indented by `width` spaces (or by `width` itself where it is a string),
/// blank lines only with `blank`; as jinja2's `do_indent` computes it.
pub fn indent(
    text: &str,
    width: Option<Value>,
    first: Option<bool>,
    blank: Option<bool>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let width = match kwargs.get::<Option<Value>>("width")?.or(width) {
        None => " ".repeat(4),
        Some(width) => match width.as_str() {
            Some(text) => text.to_string(),
            None => " ".repeat(usize::try_from(width)?),
        },
    };
    let first = kwargs
        .get::<Option<bool>>("first")?
        .or(first)
        .unwrap_or(false);
    let blank = kwargs
        .get::<Option<bool>>("blank")?
        .or(blank)
        .unwrap_or(false);
    kwargs.assert_all_used()?;
    let text = format!("{text}\n");
    let lines = splitlines(&text);
    let mut out = String::new();
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        // The first line only under `first` (blank or not), the others unless blank.
        let indented = if index == 0 {
            first
        } else {
            blank || !line.is_empty()
        };
        if indented {
            out.push_str(&width);
        }
        out.push_str(line);
    }
    Ok(out)
}

/// Python's `str.splitlines()`: the lines of `text` without their ends (`\n`, `\r`, `\r\n`,
/// `\v`, `\f`, `\x1c`-`\x1e`, `\x85`, `\u2028`, `\u2029`), no empty last line for a final end.
fn splitlines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        let is_end = matches!(
            c,
            '\n' | '\r' | '\u{0b}' | '\u{0c}' | '\u{1c}'
                ..='\u{1e}' | '\u{85}' | '\u{2028}' | '\u{2029}'
        );
        if !is_end {
            continue;
        }
        lines.push(&text[start..index]);
        let mut end = index + c.len_utf8();
        if c == '\r' && chars.peek().is_some_and(|(_, next)| *next == '\n') {
            chars.next();
            end += 1;
        }
        start = end;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indent_with(text: &str, width: usize, first: bool, blank: bool) -> String {
        let kwargs = Kwargs::from_iter(std::iter::empty::<(&str, Value)>());
        indent(
            text,
            Some(Value::from(width)),
            Some(first),
            Some(blank),
            kwargs,
        )
        .unwrap()
    }

    #[test]
    fn indents_as_jinja2_does() {
        // Values from Python: jinja2.filters.do_indent.
        assert_eq!(indent_with("{\n", 4, true, false), "    {\n");
        assert_eq!(indent_with("a\nb\n\nc", 2, false, false), "a\n  b\n\n  c");
        assert_eq!(indent_with("a\nb\n\nc", 2, false, true), "a\n  b\n  \n  c");
        assert_eq!(indent_with("", 2, true, false), "  ");
        assert_eq!(indent_with("a\r\nb", 1, false, false), "a\n b");
        assert_eq!(indent_with("\nx", 2, true, false), "  \n  x");
    }

    #[test]
    fn splits_lines_as_python_does() {
        assert_eq!(
            splitlines("a\nb\r\nc\rd\u{2028}e\n"),
            ["a", "b", "c", "d", "e"]
        );
        assert_eq!(splitlines("\n\n"), ["", ""]);
        assert!(splitlines("").is_empty());
    }
}
