//! Our GPU layout of packed weights, converted from GGML's blocks (and our int8 rows) once at
//! load: WGSL has no 8-bit or 16-bit types, so the codes go into 32-bit words and the f16 block
//! scales into f32 arrays beside them.
//!
//! - [`GpuFormat::Q4`]: per block of 32 weights, 4 words of nibbles in GGML's order (element `j`
//!   in the low nibble of byte `j`, element `j + 16` in its high nibble; byte `b` of a word is
//!   bits `8b..8b+8`), a scale `d` and an offset `m`: weight `q * d + m`. Q4_1 is this as stored;
//!   Q4_0 (`(q - 8) * d`) has `m = -8 d`.
//! - [`GpuFormat::Q8`]: per block, 8 words of signed bytes (element `4w + b` in byte `b` of word
//!   `w`) and a scale: weight `c * d`. Q8_0 as stored; an int8 row has its row scale in every
//!   block.
//!
//! Other formats (the k-quants, float rows) and widths that are not a multiple of 32 have no GPU
//! layout: [`GpuPacked::from_packed`] says why, and the caller keeps the portable path.

use claude_quant::q4::{Q4_0_BLOCK_BYTES, Q4_1_BLOCK_BYTES};
use claude_quant::q8_0::BLOCK_BYTES as Q8_0_BLOCK_BYTES;
use claude_quant::{GgmlType, PackedMatrix, RowFormat};

/// Weights per block.
pub const BLOCK: usize = 32;

/// Which kernel reads a [`GpuPacked`] matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GpuFormat {
    /// 4-bit codes with a scale and an offset per block (Q4_0, Q4_1).
    Q4,
    /// 8-bit codes with a scale per block (Q8_0, int8).
    Q8,
}

impl GpuFormat {
    /// 32-bit words per block.
    pub fn words_per_block(self) -> usize {
        match self {
            GpuFormat::Q4 => 4,
            GpuFormat::Q8 => 8,
        }
    }
}

/// A `rows x cols` matrix in our GPU layout, on the host (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct GpuPacked {
    /// The kernel that reads it.
    pub format: GpuFormat,
    /// Output rows.
    pub rows: usize,
    /// Input columns (a multiple of [`BLOCK`]).
    pub cols: usize,
    /// Codes: `rows * cols / 32 * words_per_block` words, row after row, block after block
    /// (`i32` holding the bits, which is the integer type every GPU backend has).
    pub words: Vec<i32>,
    /// One scale per block, `[rows][cols / 32]`.
    pub scales: Vec<f32>,
    /// One offset per block for [`GpuFormat::Q4`], `[rows][cols / 32]`; empty for Q8.
    pub offsets: Vec<f32>,
}

impl GpuPacked {
    /// The GPU layout of `matrix`, or why it has none.
    pub fn from_packed(matrix: &PackedMatrix) -> Result<Self, String> {
        let (rows, cols) = (matrix.rows(), matrix.cols());
        if !cols.is_multiple_of(BLOCK) {
            return Err(format!("{cols} columns are not a multiple of {BLOCK}"));
        }
        let formats = matrix.formats();
        let format = if formats
            .iter()
            .all(|f| matches!(f, RowFormat::Ggml(GgmlType::Q4_0 | GgmlType::Q4_1)))
        {
            GpuFormat::Q4
        } else if formats
            .iter()
            .all(|f| matches!(f, RowFormat::Ggml(GgmlType::Q8_0) | RowFormat::Int8))
        {
            GpuFormat::Q8
        } else {
            return Err(format!(
                "no GPU kernel reads {:?} (Q4_0, Q4_1, Q8_0 and int8 have one)",
                formats.iter().map(|f| f.name()).collect::<Vec<_>>()
            ));
        };
        let blocks = rows * cols / BLOCK;
        let mut packed = GpuPacked {
            format,
            rows,
            cols,
            words: Vec::with_capacity(blocks * format.words_per_block()),
            scales: Vec::with_capacity(blocks),
            offsets: Vec::with_capacity(if format == GpuFormat::Q4 { blocks } else { 0 }),
        };
        for segment in matrix.segments() {
            match segment.format {
                RowFormat::Ggml(GgmlType::Q4_0) => {
                    for block in segment.bytes.chunks_exact(Q4_0_BLOCK_BYTES) {
                        let d = f16(&block[..2]);
                        packed.push_q4(&block[2..], d, -8.0 * d);
                    }
                }
                RowFormat::Ggml(GgmlType::Q4_1) => {
                    for block in segment.bytes.chunks_exact(Q4_1_BLOCK_BYTES) {
                        packed.push_q4(&block[4..], f16(&block[..2]), f16(&block[2..4]));
                    }
                }
                RowFormat::Ggml(GgmlType::Q8_0) => {
                    for block in segment.bytes.chunks_exact(Q8_0_BLOCK_BYTES) {
                        packed.push_q8(&block[2..], f16(&block[..2]));
                    }
                }
                RowFormat::Int8 => {
                    for (row, &scale) in segment.bytes.chunks_exact(cols).zip(segment.scales) {
                        for codes in row.chunks_exact(BLOCK) {
                            packed.push_q8(codes, scale);
                        }
                    }
                }
                RowFormat::Ggml(_) => unreachable!("checked above"),
            }
        }
        Ok(packed)
    }

    fn push_q4(&mut self, nibbles: &[u8], d: f32, m: f32) {
        self.words.extend(words(nibbles));
        self.scales.push(d);
        self.offsets.push(m);
    }

    fn push_q8(&mut self, codes: &[u8], d: f32) {
        self.words.extend(words(codes));
        self.scales.push(d);
    }

    /// Every weight, row-major, decoded on the host from this layout (the portable path and the
    /// tests' reference).
    pub fn dequantize(&self) -> Vec<f32> {
        let per_block = self.format.words_per_block();
        let mut out = Vec::with_capacity(self.rows * self.cols);
        for (b, words) in self.words.chunks_exact(per_block).enumerate() {
            let d = self.scales[b];
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            match self.format {
                GpuFormat::Q4 => {
                    let m = self.offsets[b];
                    let lo = bytes.iter().map(|&q| f32::from(q & 0x0F));
                    let hi = bytes.iter().map(|&q| f32::from(q >> 4));
                    out.extend(lo.chain(hi).map(|q| q * d + m));
                }
                GpuFormat::Q8 => out.extend(bytes.iter().map(|&c| f32::from(c as i8) * d)),
            }
        }
        out
    }
}

/// Little-endian 32-bit words of `bytes` (a multiple of 4 long).
fn words(bytes: &[u8]) -> impl Iterator<Item = i32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|w| i32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

/// An f16 stored little-endian, as f32.
fn f16(bytes: &[u8]) -> f32 {
    half::f16::from_le_bytes([bytes[0], bytes[1]]).to_f32()
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
    fn every_supported_format_decodes_as_claude_quant_does() {
        let (rows, cols) = (5, 96);
        for formats in [
            vec!["q4_0"],
            vec!["q4_1"],
            vec!["q4_0", "q4_1"],
            vec!["q8_0"],
            vec!["int8"],
            vec!["int8", "q8_0"],
        ] {
            let parts: Vec<PackedMatrix> = formats
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    PackedMatrix::quantize(
                        f.parse().unwrap(),
                        rows,
                        cols,
                        &weights(rows, cols, i as u32),
                    )
                    .unwrap()
                })
                .collect();
            let matrix = PackedMatrix::stack(parts).unwrap();
            let gpu = GpuPacked::from_packed(&matrix).unwrap();
            assert_eq!(gpu.dequantize(), matrix.dequantize(), "{formats:?}");
        }
    }

    #[test]
    fn what_has_no_gpu_layout_says_why() {
        let w = weights(2, 48, 0);
        let int8 = PackedMatrix::quantize(RowFormat::Int8, 2, 48, &w).unwrap();
        assert!(
            GpuPacked::from_packed(&int8)
                .unwrap_err()
                .contains("48 columns")
        );
        let w = weights(2, 256, 0);
        let k = PackedMatrix::quantize(RowFormat::Ggml(GgmlType::F32), 2, 256, &w).unwrap();
        assert!(GpuPacked::from_packed(&k).unwrap_err().contains("F32"));
    }
}
