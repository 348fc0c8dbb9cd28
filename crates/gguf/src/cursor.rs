//! A bounds-checked little-endian cursor over the bytes of a file: every read that would run
//! past the end becomes [`Error::Truncated`] naming what was being read.

use std::path::Path;

use crate::error::{Error, Result};

/// Reads little-endian fields from `bytes`, starting at offset 0.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `bytes`, which came from the file `path`.
    pub(crate) fn new(bytes: &'a [u8], path: &'a Path) -> Self {
        Cursor {
            bytes,
            pos: 0,
            path,
        }
    }

    /// The current offset.
    pub(crate) fn pos(&self) -> u64 {
        self.pos as u64
    }

    /// Bytes left after the current offset.
    pub(crate) fn remaining(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }

    /// The file's size.
    pub(crate) fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The file the bytes came from.
    pub(crate) fn path(&self) -> &'a Path {
        self.path
    }

    /// A truncation error for `needed` bytes of `what` at the current offset.
    pub(crate) fn truncated(&self, what: &str, needed: u64) -> Error {
        Error::Truncated {
            path: self.path.to_path_buf(),
            what: what.to_owned(),
            offset: self.pos(),
            needed,
            available: self.remaining(),
            file_size: self.len(),
        }
    }

    /// A malformed-field error for the field `what` that started at `offset`.
    pub(crate) fn malformed(&self, what: &str, offset: u64, message: impl Into<String>) -> Error {
        Error::Malformed {
            path: self.path.to_path_buf(),
            what: what.to_owned(),
            offset,
            message: message.into(),
        }
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.truncated(what, n));
        }
        let start = self.pos;
        // `n <= remaining`, so it fits in usize.
        self.pos += n as usize;
        Ok(&self.bytes[start..self.pos])
    }

    /// The next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let bytes = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// A `u8`.
    pub(crate) fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    /// A little-endian `u32`.
    pub(crate) fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// A little-endian `u64`.
    pub(crate) fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A GGUF string: `u64` length, then that many bytes of UTF-8. Errors name the field
    /// `string`; callers add which string it was with [`Error::in_context`].
    pub(crate) fn string(&mut self) -> Result<String> {
        let what = "string";
        let start = self.pos();
        let len = self.u64("string length")?;
        if len > self.remaining() {
            return Err(self.malformed(
                what,
                start,
                format!(
                    "string length {len} runs past the end of the file ({} bytes remain)",
                    self.remaining()
                ),
            ));
        }
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|e| {
            self.malformed(
                what,
                start,
                format!(
                    "string is not valid UTF-8 (invalid byte at index {} of {len})",
                    e.utf8_error().valid_up_to()
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_refuses_to_overrun() {
        let bytes = [1u8, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, b'h', b'i'];
        let path = Path::new("x.gguf");
        let mut c = Cursor::new(&bytes, path);
        assert_eq!(c.u32("a").unwrap(), 1);
        assert_eq!(c.string().unwrap(), "hi");
        let err = c.u8("b").unwrap_err().to_string();
        assert!(err.contains("x.gguf") && err.contains("truncated"), "{err}");
    }

    #[test]
    fn absurd_string_length_is_an_error_not_an_allocation() {
        let mut bytes = u64::MAX.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"abc");
        let path = Path::new("y.gguf");
        let err = Cursor::new(&bytes, path).string().unwrap_err().to_string();
        assert!(err.contains("runs past the end"), "{err}");
    }
}
