//! Strided matrix views over `f32` slices and their products through `gemm` (the crate burn's
//! CPU backend multiplies with), shared by our kernels.

/// A borrowed `[rows, cols]` matrix: element `(i, j)` is `data[i * row_stride + j * col_stride]`.
#[derive(Debug, Clone, Copy)]
pub struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Mat<'a> {
    /// `data` as a row-major `[rows, cols]` matrix.
    ///
    /// # Panics
    /// If `data` is shorter than `rows * cols`.
    pub fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, [rows, cols], [cols, 1])
    }

    /// `data` as a `[rows, cols]` matrix with the given `[row, column]` strides.
    ///
    /// # Panics
    /// If an element the strides reach lies outside `data`.
    pub fn strided(data: &'a [f32], [rows, cols]: [usize; 2], strides: [usize; 2]) -> Self {
        let [row_stride, col_stride] = strides;
        if rows > 0 && cols > 0 {
            let last = (rows - 1) * row_stride + (cols - 1) * col_stride;
            assert!(last < data.len(), "matrix view out of bounds");
        }
        Mat {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }

    /// The first `rows` rows (no copy).
    ///
    /// # Panics
    /// If the matrix has fewer rows.
    pub fn first_rows(self, rows: usize) -> Self {
        assert!(rows <= self.rows, "{rows} of {} rows", self.rows);
        Mat { rows, ..self }
    }

    /// The transpose (no copy).
    pub fn t(self) -> Self {
        Mat {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// The elements of row `i`.
    pub fn row(&self, i: usize) -> impl Iterator<Item = f32> + '_ {
        let start = i * self.row_stride;
        (0..self.cols).map(move |j| self.data[start + j * self.col_stride])
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn num_cols(&self) -> usize {
        self.cols
    }
}

/// Whether a product may split its work over rayon's threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// On the calling thread (the caller already runs products in parallel).
    One,
    /// Over rayon's pool, when the product is large enough to gain from it.
    All,
}

/// Multiply-adds below which a product stays on one thread (as burn's CPU backend decides).
const PARALLEL_FROM: usize = 192 * 192 * 192;

/// `dst = scale · a · b`, with `dst` row-major `[a.rows, b.cols]`.
///
/// # Panics
/// If the inner dimensions differ or `dst` is too short.
pub fn gemm_into(dst: &mut [f32], a: Mat, b: Mat, scale: f32, threads: Threads) {
    assert!(dst.len() >= a.rows * b.cols, "product out of bounds");
    // SAFETY: `dst` holds the `a.rows * b.cols` elements written.
    unsafe { gemm_raw(dst.as_mut_ptr(), a, b, scale, threads) }
}

/// `a · b` as a new row-major `[a.rows, b.cols]` buffer, written once (never zeroed first).
///
/// # Panics
/// If the inner dimensions differ.
pub fn product(a: Mat, b: Mat, threads: Threads) -> Vec<f32> {
    let len = a.rows * b.cols;
    let mut dst = Vec::with_capacity(len);
    // SAFETY: the buffer has room for `len` elements; gemm writes every one of them without
    // reading any (no accumulation into `dst`, see `gemm_raw`), so they are initialised before
    // `set_len`. With no rows or columns there is nothing to write and `len` is 0; with an empty
    // inner dimension gemm still writes the zero product.
    unsafe {
        gemm_raw(dst.as_mut_ptr(), a, b, 1.0, threads);
        dst.set_len(len);
    }
    dst
}

/// `dst = scale · a · b` through gemm, overwriting `dst` (row-major, `a.rows * b.cols` elements)
/// without reading it.
///
/// # Safety
/// `dst` must be valid for writing `a.rows * b.cols` elements.
unsafe fn gemm_raw(dst: *mut f32, a: Mat, b: Mat, scale: f32, threads: Threads) {
    assert_eq!(a.cols, b.rows, "inner dimensions");
    let (m, n, k) = (a.rows, b.cols, a.cols);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // SAFETY: the caller gives room for `m * n` elements.
        unsafe { std::ptr::write_bytes(dst, 0, m * n) };
        return;
    }
    let parallelism = match threads {
        Threads::All if m * n * k >= PARALLEL_FROM => gemm::Parallelism::Rayon(0),
        _ => gemm::Parallelism::None,
    };
    // SAFETY: `Mat::strided` checked that every element the strides reach lies inside its slice
    // (a transpose reaches the same elements); the caller gives room for `m * n` elements of
    // `dst`, written with row stride `n` and column stride 1. `read_dst = false` makes gemm
    // overwrite `dst` (alpha is ignored).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            false,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            0.0,
            scale,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The product by its definition, in f64.
    fn reference(a: Mat, b: Mat) -> Vec<f64> {
        let at = |m: &Mat, i: usize, j: usize| m.data[i * m.row_stride + j * m.col_stride] as f64;
        let mut out = Vec::new();
        for i in 0..a.rows {
            for j in 0..b.cols {
                out.push((0..a.cols).map(|p| at(&a, i, p) * at(&b, p, j)).sum());
            }
        }
        out
    }

    fn values(len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect()
    }

    #[test]
    fn products_of_strided_and_transposed_views_match_the_definition() {
        let data = values(600);
        // A [7, 5] block inside a [.., 12] row-major buffer, and a transposed [9, 5] view.
        let a = Mat::strided(&data[3..], [7, 5], [12, 1]);
        let b = Mat::rows(&data[100..], 9, 5).t();
        for threads in [Threads::One, Threads::All] {
            let got = product(a, b, threads);
            assert_eq!(got.len(), 7 * 9);
            for (got, want) in got.iter().zip(reference(a, b)) {
                assert!((*got as f64 - want).abs() < 1e-4, "{got} vs {want}");
            }
        }
    }

    #[test]
    fn a_large_product_split_over_threads_matches_the_definition() {
        let data = values(300 * 200);
        let (a, b) = (Mat::rows(&data, 300, 200), Mat::rows(&data, 200, 300));
        let got = product(a, b, Threads::All);
        for (got, want) in got.iter().zip(reference(a, b)) {
            assert!((*got as f64 - want).abs() < 1e-3 * (1.0 + want.abs()));
        }
    }

    #[test]
    fn an_empty_inner_dimension_gives_zeros() {
        let data = values(4);
        let got = product(Mat::rows(&data, 2, 0), Mat::rows(&data, 0, 2), Threads::One);
        assert_eq!(got, vec![0.0; 4]);
    }

    #[test]
    #[should_panic(expected = "matrix view out of bounds")]
    fn a_view_past_its_slice_is_refused() {
        let data = values(10);
        Mat::strided(&data, [3, 4], [4, 1]);
    }
}
