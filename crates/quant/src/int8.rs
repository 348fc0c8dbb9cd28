//! Symmetric int8 with one f32 scale per output channel (row).
//!
//! Row `r` of a weight matrix `w` is stored as `scale[r] = max_j |w[r][j]| / 127` and
//! `q[r][j] = round(w[r][j] / scale[r])` with halves rounded away from zero, so codes lie in
//! `-127..=127` (never -128) and `|w - q * scale| <= scale / 2` up to f32 rounding. An all-zero row
//! has scale 0 and codes 0.

use crate::dot::vec_dot_i8;
use crate::error::{Error, Result};

/// A row-major matrix of int8 codes with one scale per row; value `(r, c)` is
/// `data[r * cols + c] * scales[r]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Matrix {
    /// Number of rows (output channels).
    pub rows: usize,
    /// Number of columns (input features).
    pub cols: usize,
    /// The codes, row-major: `rows * cols` of them.
    pub data: Vec<i8>,
    /// One scale per row: `rows` of them.
    pub scales: Vec<f32>,
}

impl Int8Matrix {
    /// Quantizes the row-major `rows x cols` matrix `w`, one scale per row.
    ///
    /// Non-finite weights give unspecified (but non-panicking) codes and scales for their row.
    ///
    /// # Errors
    /// [`Error::Shape`] when `w.len()` is not `rows * cols`.
    pub fn quantize(rows: usize, cols: usize, w: &[f32]) -> Result<Self> {
        let n = checked_len(rows, cols)?;
        if w.len() != n {
            return Err(Error::Shape {
                rows,
                cols,
                what: format!("{} weights given, {n} needed", w.len()),
            });
        }
        let mut data = vec![0i8; n];
        let mut scales = vec![0.0f32; rows];
        if cols > 0 {
            for ((row, q), scale) in w
                .chunks_exact(cols)
                .zip(data.chunks_exact_mut(cols))
                .zip(&mut scales)
            {
                *scale = quantize_row(row, q);
            }
        }
        Ok(Int8Matrix {
            rows,
            cols,
            data,
            scales,
        })
    }

    /// Checks that `data` and `scales` have the lengths `rows` and `cols` call for (the fields
    /// are public, so a matrix built by hand may not).
    ///
    /// # Errors
    /// [`Error::Shape`] naming the field at fault.
    pub fn validate(&self) -> Result<()> {
        let (rows, cols) = (self.rows, self.cols);
        let n = checked_len(rows, cols)?;
        if self.data.len() != n {
            return Err(Error::Shape {
                rows,
                cols,
                what: format!("data holds {} codes, {n} needed", self.data.len()),
            });
        }
        if self.scales.len() != rows {
            return Err(Error::Shape {
                rows,
                cols,
                what: format!("scales holds {} values, {rows} needed", self.scales.len()),
            });
        }
        Ok(())
    }

    /// The codes and the scale of row `r`.
    ///
    /// # Errors
    /// [`Error::Shape`] when `r` is out of range or the matrix fails [`Int8Matrix::validate`].
    pub fn row(&self, r: usize) -> Result<(&[i8], f32)> {
        self.validate()?;
        if r >= self.rows {
            return Err(Error::Shape {
                rows: self.rows,
                cols: self.cols,
                what: format!("no row {r}"),
            });
        }
        Ok((
            &self.data[r * self.cols..(r + 1) * self.cols],
            self.scales[r],
        ))
    }

    /// Decodes the matrix into `out` (row-major, `rows * cols` values).
    ///
    /// # Errors
    /// [`Error::Shape`] when the matrix fails [`Int8Matrix::validate`], [`Error::BufferLength`]
    /// when `out` does not hold `rows * cols` values.
    pub fn dequantize_into(&self, out: &mut [f32]) -> Result<()> {
        self.validate()?;
        if out.len() != self.data.len() {
            return Err(Error::BufferLength {
                what: "int8 dequantize output (f32 values)",
                expected: self.data.len(),
                got: out.len(),
            });
        }
        if self.cols > 0 {
            for ((q, o), &scale) in self
                .data
                .chunks_exact(self.cols)
                .zip(out.chunks_exact_mut(self.cols))
                .zip(&self.scales)
            {
                for (o, &q) in o.iter_mut().zip(q) {
                    *o = f32::from(q) * scale;
                }
            }
        }
        Ok(())
    }

    /// Decodes the matrix into a new row-major vector.
    ///
    /// # Errors
    /// [`Error::Shape`] when the matrix fails [`Int8Matrix::validate`].
    pub fn dequantize(&self) -> Result<Vec<f32>> {
        let mut out = vec![0.0; self.data.len()];
        self.dequantize_into(&mut out)?;
        Ok(out)
    }

    /// `sum_c value(r, c) * x[c]`: row `r` dotted with `x`.
    ///
    /// # Errors
    /// [`Error::Shape`] for a bad row or matrix, [`Error::BufferLength`] when `x.len() != cols`.
    pub fn row_dot(&self, r: usize, x: &[f32]) -> Result<f32> {
        let (q, scale) = self.row(r)?;
        vec_dot_i8(q, scale, x)
    }

    /// The matrix-vector product `out = W x` (`x`: `cols` values, `out`: `rows` values).
    ///
    /// # Errors
    /// [`Error::Shape`] when the matrix fails [`Int8Matrix::validate`], [`Error::BufferLength`]
    /// when `x` or `out` has the wrong length.
    pub fn matvec(&self, x: &[f32], out: &mut [f32]) -> Result<()> {
        self.validate()?;
        if out.len() != self.rows {
            return Err(Error::BufferLength {
                what: "int8 matvec output (f32 values)",
                expected: self.rows,
                got: out.len(),
            });
        }
        if x.len() != self.cols {
            return Err(Error::BufferLength {
                what: "int8 matvec vector (f32 values)",
                expected: self.cols,
                got: x.len(),
            });
        }
        if self.cols == 0 {
            out.fill(0.0);
            return Ok(());
        }
        for ((q, &scale), o) in self.data.chunks_exact(self.cols).zip(&self.scales).zip(out) {
            *o = vec_dot_i8(q, scale, x)?;
        }
        Ok(())
    }
}

/// Quantizes one row into `q` and returns its scale.
fn quantize_row(w: &[f32], q: &mut [i8]) -> f32 {
    let amax = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let scale = amax / 127.0;
    if scale == 0.0 {
        q.fill(0);
        return 0.0;
    }
    for (q, &v) in q.iter_mut().zip(w) {
        // f32::round rounds halves away from zero; `as` saturates, the clamp keeps -128 out.
        *q = (v / scale).round().clamp(-127.0, 127.0) as i8;
    }
    scale
}

fn checked_len(rows: usize, cols: usize) -> Result<usize> {
    rows.checked_mul(cols).ok_or_else(|| Error::Shape {
        rows,
        cols,
        what: "rows * cols overflows usize".to_string(),
    })
}
