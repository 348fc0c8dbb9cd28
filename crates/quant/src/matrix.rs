//! A weight matrix kept in its packed format: one row per output channel (the `[out][in]` layout
//! of GGML and PyTorch), each row a run of GGML blocks or int8 codes with a per-row scale.
//!
//! A fused projection stacks parts that were quantized separately, and a llama.cpp `*_K_M` file
//! quantizes them differently (a value projection in Q6_K beside query and key projections in
//! Q4_K), so a matrix is a stack of segments, each with its own format.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::codec;
use crate::dot::{vec_dot_f32, vec_dot_i8};
use crate::dot_q8::{self, IntegerRow, Q8_BLOCK, Q8Activations};
use crate::error::{Error, Result};
use crate::int8::Int8Matrix;
use crate::interleaved::{GROUP_ROWS, InterleavedMatrix};
use crate::types::GgmlType;

/// The storage format of a block of rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFormat {
    /// GGML blocks of this type.
    Ggml(GgmlType),
    /// Symmetric int8 codes with one f32 scale per row ([`Int8Matrix`]).
    Int8,
}

impl RowFormat {
    /// The format's name: GGML's type name (`Q4_0`, ...) or `int8`.
    pub fn name(self) -> &'static str {
        match self {
            RowFormat::Ggml(ty) => ty.name(),
            RowFormat::Int8 => "int8",
        }
    }
}

impl std::str::FromStr for RowFormat {
    type Err = Error;

    /// `int8`, or a GGML type name (any ASCII case).
    fn from_str(s: &str) -> Result<Self> {
        if s.eq_ignore_ascii_case("int8") {
            Ok(RowFormat::Int8)
        } else {
            s.parse().map(RowFormat::Ggml)
        }
    }
}

/// Rows stored in one format.
#[derive(Debug, Clone)]
enum Segment {
    /// `rows` rows of `row_bytes` bytes of GGML blocks each: owned, or shared with a
    /// memory-mapped file.
    Ggml {
        ty: GgmlType,
        rows: usize,
        row_bytes: usize,
        bytes: Bytes,
    },
    /// Int8 rows with their scales.
    Int8(Int8Matrix),
}

/// Row `r` of an int8 segment, validated once when the matrix was built rather than on every
/// call, as [`Int8Matrix::row`] does for a matrix anyone may have changed.
fn int8_row(m: &Int8Matrix, r: usize) -> (&[i8], f32) {
    (&m.data[r * m.cols..(r + 1) * m.cols], m.scales[r])
}

impl Segment {
    fn rows(&self) -> usize {
        match self {
            Segment::Ggml { rows, .. } => *rows,
            Segment::Int8(m) => m.rows,
        }
    }

    fn format(&self) -> RowFormat {
        match self {
            Segment::Ggml { ty, .. } => RowFormat::Ggml(*ty),
            Segment::Int8(_) => RowFormat::Int8,
        }
    }

    /// `row · x`, for a row of this segment.
    fn dot(&self, row: usize, x: &[f32]) -> f32 {
        match self {
            Segment::Ggml {
                ty,
                row_bytes,
                bytes,
                ..
            } => vec_dot_f32(*ty, &bytes[row * row_bytes..(row + 1) * row_bytes], x)
                .expect("row lengths are checked when the matrix is built"),
            Segment::Int8(m) => {
                let (codes, scale) = int8_row(m, row);
                vec_dot_i8(codes, scale, x).expect("row lengths are checked")
            }
        }
    }

    /// The row in a format an integer kernel takes, if there is one.
    fn integer_row(&self, row: usize) -> Option<IntegerRow<'_>> {
        match self {
            Segment::Ggml {
                ty,
                row_bytes,
                bytes,
                ..
            } => IntegerRow::ggml(*ty, &bytes[row * row_bytes..(row + 1) * row_bytes]),
            Segment::Int8(m) if m.cols.is_multiple_of(Q8_BLOCK) => {
                let (codes, scale) = int8_row(m, row);
                Some(IntegerRow::Int8(codes, scale))
            }
            Segment::Int8(_) => None,
        }
    }

    /// The values of rows `rows` of this segment, row-major into `out`.
    fn dequantize(&self, rows: Range<usize>, cols: usize, out: &mut [f32]) {
        match self {
            Segment::Ggml {
                ty,
                row_bytes,
                bytes,
                ..
            } => codec::dequantize(
                *ty,
                &bytes[rows.start * row_bytes..rows.end * row_bytes],
                out,
            )
            .expect("row lengths are checked when the matrix is built"),
            Segment::Int8(m) => {
                for (r, out) in rows.zip(out.chunks_exact_mut(cols)) {
                    let (codes, scale) = int8_row(m, r);
                    for (o, &q) in out.iter_mut().zip(codes) {
                        *o = f32::from(q) * scale;
                    }
                }
            }
        }
    }
}

/// A `rows x cols` weight matrix in packed formats; row `r` is output channel `r`.
#[derive(Debug, Clone)]
pub struct PackedMatrix {
    rows: usize,
    cols: usize,
    segments: Vec<Segment>,
    /// The rows repacked in groups for decoding, made on first use and shared by clones.
    repacked: Arc<OnceLock<InterleavedMatrix>>,
}

/// One segment's rows as stored: their format, count and bytes (for writing a matrix out).
#[derive(Debug, Clone, Copy)]
pub struct SegmentView<'a> {
    /// The format.
    pub format: RowFormat,
    /// Number of rows.
    pub rows: usize,
    /// GGML blocks, or int8 codes as bytes (two's complement), row-major.
    pub bytes: &'a [u8],
    /// One scale per row for int8; empty for GGML blocks (their scales are inside the blocks).
    pub scales: &'a [f32],
}

impl PackedMatrix {
    /// `rows` rows of `cols` values as GGML blocks of type `ty`, row after row: owned bytes (a
    /// `Vec<u8>`) or [`Bytes`] shared with a memory-mapped file, used in place.
    ///
    /// # Errors
    /// [`Error::RowLength`] when `cols` is not a multiple of the block size;
    /// [`Error::BufferLength`] when `bytes` is not `rows` rows long.
    pub fn ggml(ty: GgmlType, rows: usize, cols: usize, bytes: impl Into<Bytes>) -> Result<Self> {
        let bytes = bytes.into();
        let row_bytes = ty.bytes_for(cols)?;
        let expected = rows.checked_mul(row_bytes).ok_or(Error::BufferLength {
            what: "packed matrix (bytes)",
            expected: usize::MAX,
            got: bytes.len(),
        })?;
        if bytes.len() != expected {
            return Err(Error::BufferLength {
                what: "packed matrix (bytes)",
                expected,
                got: bytes.len(),
            });
        }
        Ok(PackedMatrix {
            rows,
            cols,
            segments: vec![Segment::Ggml {
                ty,
                rows,
                row_bytes,
                bytes,
            }],
            repacked: Arc::default(),
        })
    }

    /// An int8 matrix with per-row scales.
    ///
    /// # Errors
    /// [`Error::Shape`] when its codes or scales do not fit its shape.
    pub fn int8(matrix: Int8Matrix) -> Result<Self> {
        matrix.validate()?;
        Ok(PackedMatrix {
            rows: matrix.rows,
            cols: matrix.cols,
            segments: vec![Segment::Int8(matrix)],
            repacked: Arc::default(),
        })
    }

    /// Quantizes the row-major `rows x cols` matrix `w` to `format`.
    ///
    /// # Errors
    /// As [`PackedMatrix::ggml`] and [`crate::quantize`] (a k-quant cannot be encoded).
    pub fn quantize(format: RowFormat, rows: usize, cols: usize, w: &[f32]) -> Result<Self> {
        match format {
            RowFormat::Int8 => Self::int8(Int8Matrix::quantize(rows, cols, w)?),
            RowFormat::Ggml(ty) => {
                ty.bytes_for(cols)?;
                Self::ggml(ty, rows, cols, codec::quantize_to_vec(ty, w)?)
            }
        }
    }

    /// The matrices `parts` one below the other (a fused projection's parts along its outputs).
    ///
    /// # Errors
    /// [`Error::Shape`] when the parts differ in width or there are none.
    pub fn stack(parts: impl IntoIterator<Item = PackedMatrix>) -> Result<Self> {
        let mut parts = parts.into_iter();
        let mut stacked = parts.next().ok_or_else(|| Error::Shape {
            rows: 0,
            cols: 0,
            what: "no matrices to stack".into(),
        })?;
        for part in parts {
            if part.cols != stacked.cols {
                return Err(Error::Shape {
                    rows: part.rows,
                    cols: part.cols,
                    what: format!("stacked below a matrix of {} columns", stacked.cols),
                });
            }
            stacked.rows += part.rows;
            stacked.segments.extend(part.segments);
        }
        // A repacked copy of the first part alone does not cover the stack.
        stacked.repacked = Arc::default();
        Ok(stacked)
    }

    /// Number of rows (output channels).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (input features).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The formats of the segments, top to bottom.
    pub fn formats(&self) -> Vec<RowFormat> {
        self.segments.iter().map(Segment::format).collect()
    }

    /// The segments as stored, top to bottom.
    pub fn segments(&self) -> impl Iterator<Item = SegmentView<'_>> {
        self.segments.iter().map(|segment| match segment {
            Segment::Ggml {
                ty, rows, bytes, ..
            } => SegmentView {
                format: RowFormat::Ggml(*ty),
                rows: *rows,
                bytes,
                scales: &[],
            },
            Segment::Int8(m) => SegmentView {
                format: RowFormat::Int8,
                rows: m.rows,
                bytes: bytemuck::cast_slice(&m.data),
                scales: &m.scales,
            },
        })
    }

    /// The segment holding row `row`, and the row's index inside it.
    fn locate(&self, mut row: usize) -> (&Segment, usize) {
        for segment in &self.segments {
            if row < segment.rows() {
                return (segment, row);
            }
            row -= segment.rows();
        }
        panic!("row {row} past the end of a {}-row matrix", self.rows)
    }

    /// `sum_j w[row][j] * x[j]`, reading the packed row directly.
    ///
    /// # Panics
    /// If `row` is out of range or `x` is not `cols` long.
    pub fn dot_row(&self, row: usize, x: &[f32]) -> f32 {
        assert_eq!(x.len(), self.cols, "vector length");
        let (segment, row) = self.locate(row);
        segment.dot(row, x)
    }

    /// `sum_j w[row][j] * x[j]` with the activations rounded to 8 bits (`xq`, quantized from
    /// `x`): an integer kernel for int8 rows and every GGML block format, the exact
    /// [`dot_row`](Self::dot_row) for the float formats and int8 rows whose length is not a
    /// multiple of 32 (see [`crate::dot_q8`]).
    ///
    /// # Panics
    /// If `row` is out of range or `x` and `xq` are not `cols` long.
    pub fn dot_row_quantized(&self, row: usize, x: &[f32], xq: &Q8Activations) -> f32 {
        assert_eq!(x.len(), self.cols, "vector length");
        assert_eq!(xq.len(), self.cols, "quantized vector length");
        let (segment, row) = self.locate(row);
        match segment.integer_row(row) {
            Some(integer) => dot_q8::dot(integer, xq),
            None => segment.dot(row, x),
        }
    }

    /// For each group `g` of `groups` (rows `16 g ..`, [`GROUP_ROWS`] to a group; the last may be
    /// shorter), the group's rows times each of the `n = xq.len()` activation rows `x`
    /// (row-major, quantized as `xq`), handed to `each(g, sums)` with `sums[r][k]` for
    /// activation row `r` and group row `k` (what follows a short group's rows is unspecified):
    /// what [`dot_row_quantized`](Self::dot_row_quantized) gives for each pair, up to the order
    /// of the f32 additions, but sixteen rows per pass over the activations where the rows'
    /// format has a repacked layout ([`InterleavedMatrix`]), and in batched decoding several
    /// activation rows per weight load. The repacked copy is made on first use (about as many
    /// bytes as those rows take here) and shared by clones of this matrix;
    /// [`repack`](Self::repack) makes it ahead of time.
    ///
    /// # Panics
    /// As [`InterleavedMatrix::dot_groups_rows`].
    pub fn dot_groups_quantized_rows(
        &self,
        groups: Range<usize>,
        x: &[f32],
        xq: &[Q8Activations],
        each: impl FnMut(usize, &[[f32; GROUP_ROWS]]),
    ) {
        self.repack().dot_groups_rows(self, groups, x, xq, each);
    }

    /// Number of row groups of [`dot_groups_quantized_rows`](Self::dot_groups_quantized_rows).
    pub fn groups(&self) -> usize {
        self.rows.div_ceil(GROUP_ROWS)
    }

    /// The rows repacked for [`dot_groups_quantized_rows`](Self::dot_groups_quantized_rows), made
    /// now if they were not yet.
    pub fn repack(&self) -> &InterleavedMatrix {
        self.repacked.get_or_init(|| InterleavedMatrix::new(self))
    }

    /// Asks the OS to take back the memory of the rows as stored when a repacked copy
    /// ([`repack`](Self::repack), made now if it was not yet) serves their products: mapped from a
    /// file, they are read from it again if ever needed (see `page_out.rs`; nothing changes
    /// elsewhere than on Linux, or for a matrix without repacked groups).
    pub fn page_out_rows(&self) {
        if !self.repack().any_repacked() {
            return;
        }
        for segment in &self.segments {
            if let Segment::Ggml { bytes, .. } = segment {
                crate::page_out::page_out(bytes);
            }
        }
    }

    /// Row `row` in a format an integer kernel takes, if it has one.
    pub(crate) fn integer_row(&self, row: usize) -> Option<IntegerRow<'_>> {
        let (segment, row) = self.locate(row);
        segment.integer_row(row)
    }

    /// The values of rows `rows`, row-major into `out` (`rows.len() * cols` values).
    ///
    /// # Panics
    /// If the rows are out of range or `out` has another length.
    pub fn dequantize_rows(&self, rows: Range<usize>, out: &mut [f32]) {
        assert!(rows.end <= self.rows, "rows out of range");
        assert_eq!(out.len(), rows.len() * self.cols, "output length");
        let mut out = out;
        for (segment, local) in self.segments_in(rows) {
            let (chunk, rest) = out.split_at_mut(local.len() * self.cols);
            segment.dequantize(local, self.cols, chunk);
            out = rest;
        }
    }

    /// The segments holding rows `rows`, each with the range of its own rows inside them.
    fn segments_in(&self, rows: Range<usize>) -> impl Iterator<Item = (&Segment, Range<usize>)> {
        let mut start = 0;
        self.segments.iter().filter_map(move |segment| {
            let here = start..start + segment.rows();
            start = here.end;
            let (lo, hi) = (rows.start.max(here.start), rows.end.min(here.end));
            (lo < hi).then(|| (segment, lo - here.start..hi - here.start))
        })
    }

    /// Rows `rows` as GGML blocks of one type, as a GGUF tensor stores them: `None` when they
    /// hold int8 codes or more than one type.
    ///
    /// # Panics
    /// If the rows are out of range.
    pub fn ggml_rows(&self, rows: Range<usize>) -> Option<(GgmlType, Vec<u8>)> {
        assert!(rows.end <= self.rows, "rows out of range");
        let mut found: Option<(GgmlType, Vec<u8>)> = None;
        for (segment, local) in self.segments_in(rows) {
            let Segment::Ggml {
                ty,
                row_bytes,
                bytes,
                ..
            } = segment
            else {
                return None;
            };
            let part = &bytes[local.start * row_bytes..local.end * row_bytes];
            match &mut found {
                None => found = Some((*ty, part.to_vec())),
                Some((first, out)) if first == ty => out.extend_from_slice(part),
                Some(_) => return None,
            }
        }
        found
    }

    /// Every value, row-major (`rows * cols`): for tests and conversions, not for inference.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.rows * self.cols];
        self.dequantize_rows(0..self.rows, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(rows: usize, cols: usize, seed: u32) -> Vec<f32> {
        (0..rows * cols)
            .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    #[test]
    fn a_stack_of_formats_dots_and_decodes_like_its_parts() {
        let cols = 64;
        let formats = [
            RowFormat::Ggml(GgmlType::Q4_0),
            RowFormat::Int8,
            RowFormat::Ggml(GgmlType::Q8_0),
            RowFormat::Ggml(GgmlType::Q4_1),
        ];
        let parts: Vec<PackedMatrix> = formats
            .iter()
            .enumerate()
            .map(|(i, &f)| PackedMatrix::quantize(f, 3 + i, cols, &weights(3 + i, cols, i as u32)))
            .collect::<Result<_>>()
            .unwrap();
        let decoded: Vec<f32> = parts.iter().flat_map(PackedMatrix::dequantize).collect();
        let stacked = PackedMatrix::stack(parts).unwrap();
        assert_eq!((stacked.rows(), stacked.cols()), (18, cols));
        assert_eq!(stacked.formats(), formats);
        assert_eq!(stacked.dequantize(), decoded);
        let mut middle = vec![0.0; 7 * cols];
        stacked.dequantize_rows(2..9, &mut middle);
        assert_eq!(middle, decoded[2 * cols..9 * cols]);
        let x = weights(1, cols, 99);
        for r in 0..stacked.rows() {
            let row = &decoded[r * cols..(r + 1) * cols];
            let exact: f64 = row
                .iter()
                .zip(&x)
                .map(|(&w, &x)| f64::from(w) * f64::from(x))
                .sum();
            let dot = stacked.dot_row(r, &x);
            assert!(
                (f64::from(dot) - exact).abs() < 1e-5,
                "row {r}: {dot} vs {exact}"
            );
        }
    }

    #[test]
    fn ggml_rows_are_the_stored_blocks_of_one_type() {
        let cols = 32;
        let q4 = PackedMatrix::quantize(
            RowFormat::Ggml(GgmlType::Q4_0),
            2,
            cols,
            &weights(2, cols, 1),
        )
        .unwrap();
        let q4_again = PackedMatrix::quantize(
            RowFormat::Ggml(GgmlType::Q4_0),
            3,
            cols,
            &weights(3, cols, 2),
        )
        .unwrap();
        let q8 = PackedMatrix::quantize(
            RowFormat::Ggml(GgmlType::Q8_0),
            1,
            cols,
            &weights(1, cols, 3),
        )
        .unwrap();
        let int8 = PackedMatrix::quantize(RowFormat::Int8, 1, cols, &weights(1, cols, 4)).unwrap();
        let stacked = PackedMatrix::stack([q4, q4_again, q8, int8]).unwrap();
        let (ty, bytes) = stacked.ggml_rows(1..4).unwrap();
        assert_eq!((ty, bytes.len()), (GgmlType::Q4_0, 3 * 18));
        let mut decoded = vec![0.0; 3 * cols];
        codec::dequantize(ty, &bytes, &mut decoded).unwrap();
        assert_eq!(decoded, stacked.dequantize()[cols..4 * cols]);
        assert_eq!(stacked.ggml_rows(5..6).unwrap().0, GgmlType::Q8_0);
        assert!(stacked.ggml_rows(4..6).is_none(), "two types");
        assert!(stacked.ggml_rows(6..7).is_none(), "int8");
    }

    #[test]
    fn shapes_that_do_not_fit_are_errors() {
        let err = PackedMatrix::ggml(GgmlType::Q4_0, 2, 48, vec![0; 36]).unwrap_err();
        assert!(matches!(err, Error::RowLength { len: 48, .. }), "{err}");
        let err = PackedMatrix::ggml(GgmlType::Q4_0, 2, 32, vec![0; 35]).unwrap_err();
        assert!(err.to_string().contains("expected 36, got 35"), "{err}");
        let a = PackedMatrix::ggml(GgmlType::Q4_0, 1, 32, vec![0; 18]).unwrap();
        let b = PackedMatrix::ggml(GgmlType::Q4_0, 1, 64, vec![0; 36]).unwrap();
        assert!(PackedMatrix::stack([a, b]).is_err());
    }
}
