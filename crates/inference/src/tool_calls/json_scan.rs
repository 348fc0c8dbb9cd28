//! Incremental JSON value boundary scanning: where a JSON value that arrives in pieces ends.
//!
//! The scanner does not validate the value (the parser checks the finished text with
//! `serde_json`); it only tracks strings, escapes and bracket depth so that a value's end is
//! found as soon as its last character arrives.

/// What kind of JSON value is being scanned, known from its first character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `{...}` or `[...]`: ends when the depth returns to zero.
    Container,
    /// `"..."`: ends at the closing quote.
    String,
    /// A number, `true`, `false` or `null`: ends before the first delimiter.
    Scalar,
}

/// How far a chunk of text took a [`ValueScanner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Bytes of the chunk that belong to the value.
    pub consumed: usize,
    /// Whether the value ended within those bytes.
    pub done: bool,
}

/// Finds the end of one JSON value fed in chunks; the first chunk starts at the value's first
/// character (no leading whitespace).
#[derive(Debug, Clone, Default)]
pub(crate) struct ValueScanner {
    kind: Option<Kind>,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl ValueScanner {
    /// Feeds the next chunk and says how much of it is the value's and whether it ended.
    pub fn feed(&mut self, text: &str) -> Scan {
        for (at, c) in text.char_indices() {
            let kind = match self.kind {
                Some(kind) => kind,
                None => {
                    let kind = match c {
                        '{' | '[' => Kind::Container,
                        '"' => Kind::String,
                        _ => Kind::Scalar,
                    };
                    self.kind = Some(kind);
                    match kind {
                        Kind::Container => self.depth = 1,
                        Kind::String => self.in_string = true,
                        Kind::Scalar => {}
                    }
                    if kind != Kind::Scalar {
                        continue;
                    }
                    kind
                }
            };
            let end = at + c.len_utf8();
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if c == '\\' {
                    self.escaped = true;
                } else if c == '"' {
                    self.in_string = false;
                    if kind == Kind::String {
                        return Scan {
                            consumed: end,
                            done: true,
                        };
                    }
                }
                continue;
            }
            match kind {
                Kind::Scalar => {
                    if matches!(c, ',' | '}' | ']' | ';') || c.is_whitespace() {
                        return Scan {
                            consumed: at,
                            done: true,
                        };
                    }
                }
                Kind::Container => match c {
                    '"' => self.in_string = true,
                    '{' | '[' => self.depth += 1,
                    '}' | ']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            return Scan {
                                consumed: end,
                                done: true,
                            };
                        }
                    }
                    _ => {}
                },
                Kind::String => {}
            }
        }
        Scan {
            consumed: text.len(),
            done: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(text: &str) -> Scan {
        ValueScanner::default().feed(text)
    }

    #[test]
    fn objects_end_at_their_matching_brace() {
        let text = r#"{"a": {"b": "}\"{"}, "c": [1, {"d": 2}]} tail"#;
        let scan = whole(text);
        assert!(scan.done);
        assert_eq!(
            &text[..scan.consumed],
            r#"{"a": {"b": "}\"{"}, "c": [1, {"d": 2}]}"#
        );
    }

    #[test]
    fn strings_and_scalars_end_where_they_should() {
        assert_eq!(
            whole(r#""a\"b", 1"#),
            Scan {
                consumed: 6,
                done: true
            }
        );
        assert_eq!(
            whole("12.5}"),
            Scan {
                consumed: 4,
                done: true
            }
        );
        assert_eq!(
            whole("true"),
            Scan {
                consumed: 4,
                done: false
            }
        );
    }

    #[test]
    fn a_value_split_anywhere_ends_at_the_same_character() {
        let text = r#"{"k": "é\\", "l": [true]}"#;
        for split in 1..text.len() {
            if !text.is_char_boundary(split) {
                continue;
            }
            let mut scanner = ValueScanner::default();
            let first = scanner.feed(&text[..split]);
            assert!(!first.done, "split {split}");
            let second = scanner.feed(&text[split..]);
            assert_eq!(
                second,
                Scan {
                    consumed: text.len() - split,
                    done: true
                }
            );
        }
    }
}
