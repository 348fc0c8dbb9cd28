//! A decode step's new heads (one position per row) read in place from the projection they
//! were cut from, by the kernels that rotate them and store them in the cache.

/// A decode step's heads wherever they lie in a buffer (a view of the packed projection): head
/// `h` of row `r` is the `head_dim` values from `offset + r * row_stride + h * head_stride`.
#[derive(Debug, Clone, Copy)]
pub struct HeadRows<'a> {
    /// The buffer.
    pub data: &'a [f32],
    /// Where row 0's head 0 starts.
    pub offset: usize,
    /// From one row's first head to the next row's.
    pub row_stride: usize,
    /// From one head to the next in a row.
    pub head_stride: usize,
    /// Heads per row.
    pub heads: usize,
}

impl HeadRows<'_> {
    /// Head `h` of row `r`.
    ///
    /// # Panics
    /// If it lies outside the buffer.
    #[inline]
    pub fn head(&self, r: usize, h: usize, head_dim: usize) -> &[f32] {
        let at = self.offset + r * self.row_stride + h * self.head_stride;
        &self.data[at..at + head_dim]
    }
}
