//! Rotary position embedding (RoPE, Su et al. 2021) on the query and key parts of a packed
//! `[batch, seq, 3·width]` projection, forward and backward, over plain `f32` slices.
//!
//! Each head's elements `(2p, 2p + 1)` at position `i` are rotated with the table burn's
//! `RotaryEncoding` keeps (`freq_complex`, `[seq, head_dim, 2]`: a cosine and a sine per
//! element): `(a, b) -> (a·cos₀ - b·sin₀, b·cos₁ + a·sin₁)`, the same arithmetic as burn's op. The
//! backward pass applies the transpose of that map. Values pass through unchanged. burn records
//! the rotation as a matmul, a product and a sum per tensor; here it is one pass each way.

use rayon::prelude::*;

use super::head_rows::HeadRows;
use super::packed_attention::PackedShape;
use super::written_once::{unwritten, written, zeroed};
use crate::team::Team;

/// Which way to rotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The rotation itself (forward pass).
    Forward,
    /// Its transpose (backward pass: the gradient of the input from that of the output).
    Transpose,
}

/// Rows of the packed projection per parallel task.
const ROWS_PER_TASK: usize = 32;

/// Rotates the query and key parts of `src` into `dst` (values copied); `freqs` is the table for
/// positions `0..seq`, `[seq, head_dim, 2]`.
///
/// # Panics
/// If a slice length does not match `shape`.
pub fn rotate(
    shape: PackedShape,
    freqs: &[f32],
    src: &[f32],
    dst: &mut [f32],
    direction: Direction,
) {
    let (t, d, c) = (shape.seq, shape.head_dim, shape.width());
    assert_eq!(src.len(), shape.packed_len(), "packed projection length");
    assert_eq!(dst.len(), shape.packed_len(), "packed projection length");
    assert_eq!(freqs.len(), t * d * 2, "rotary table length");
    assert_eq!(d % 2, 0, "rotary embedding needs an even head width");
    if c == 0 {
        return;
    }
    dst.par_chunks_mut(3 * c)
        .zip(src.par_chunks(3 * c))
        .enumerate()
        .with_min_len(ROWS_PER_TASK)
        .for_each(|(row, (dst, src))| {
            let freqs = &freqs[(row % t) * d * 2..][..d * 2];
            let (dst_qk, dst_v) = dst.split_at_mut(2 * c);
            let (src_qk, src_v) = src.split_at(2 * c);
            dst_v.copy_from_slice(src_v);
            for (dst, src) in dst_qk.chunks_exact_mut(d).zip(src_qk.chunks_exact(d)) {
                rotate_head(freqs, src, dst, direction);
            }
        });
}

/// Each of `src`'s rows rotated by its own position, row-major `[rows, heads, head_dim]`: row
/// `r`'s heads by `positions[r]`'s entry of `table` (burn's `[positions, head_dim, 2]`), a row
/// per task over the decoding [`Team`]. The decode step's queries and keys, one new token per
/// sequence, read in place from the projection.
///
/// # Panics
/// If `head_dim` is odd, a head lies outside `src.data`, or a position is past the table.
pub fn rotate_rows_at(
    table: &[f32],
    positions: &[usize],
    head_dim: usize,
    src: &HeadRows<'_>,
) -> Vec<f32> {
    assert_eq!(head_dim % 2, 0, "rotary embedding needs an even head width");
    let row_len = src.heads * head_dim;
    if row_len == 0 {
        return Vec::new();
    }
    let mut out = unwritten(positions.len() * row_len);
    Team::global().for_each_chunk(&mut out, row_len, &|r, out| {
        let freqs = &table[positions[r] * head_dim * 2..][..head_dim * 2];
        for (h, dst) in zeroed(out).chunks_exact_mut(head_dim).enumerate() {
            rotate_head(freqs, src.head(r, h, head_dim), dst, Direction::Forward);
        }
    });
    // SAFETY: the rows cover the output and each went through `zeroed`; a task that panicked
    // would have unwound out of `for_each_chunk` before this.
    unsafe { written(out) }
}

/// One head's `head_dim` elements at one position.
#[inline]
fn rotate_head(freqs: &[f32], src: &[f32], dst: &mut [f32], direction: Direction) {
    let pairs = dst
        .chunks_exact_mut(2)
        .zip(src.chunks_exact(2))
        .zip(freqs.chunks_exact(4));
    for ((dst, src), f) in pairs {
        let (a, b) = (src[0], src[1]);
        let (cos0, sin0, cos1, sin1) = (f[0], f[1], f[2], f[3]);
        match direction {
            Direction::Forward => {
                dst[0] = a * cos0 - b * sin0;
                dst[1] = b * cos1 + a * sin1;
            }
            Direction::Transpose => {
                dst[0] = a * cos0 + b * sin1;
                dst[1] = b * cos1 - a * sin0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> PackedShape {
        PackedShape {
            batch: 2,
            seq: 5,
            heads: 3,
            head_dim: 4,
        }
    }

    /// A RoPE table: angle `i · base^(-2p/d)` for position `i` and pair `p`.
    fn table(shape: PackedShape) -> Vec<f32> {
        let (t, d) = (shape.seq, shape.head_dim);
        let mut freqs = Vec::new();
        for i in 0..t {
            for e in 0..d {
                let angle = i as f64 * 10_000f64.powf(-((e / 2 * 2) as f64) / d as f64);
                freqs.extend([angle.cos() as f32, angle.sin() as f32]);
            }
        }
        freqs
    }

    fn values(len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 31 % 97) as f32 - 48.0) / 17.0)
            .collect()
    }

    #[test]
    fn rotates_each_pair_by_its_angle_and_keeps_values() {
        let shape = shape();
        let (freqs, x) = (table(shape), values(shape.packed_len()));
        let mut y = vec![0.0; x.len()];
        rotate(shape, &freqs, &x, &mut y, Direction::Forward);
        let (t, d, c) = (shape.seq, shape.head_dim, shape.width());
        for (index, &got) in y.iter().enumerate() {
            let (row, col) = (index / (3 * c), index % (3 * c));
            if col >= 2 * c {
                assert_eq!(got, x[index], "values pass through");
                continue;
            }
            let (i, e) = (row % t, col % d);
            let angle = i as f64 * 10_000f64.powf(-((e / 2 * 2) as f64) / d as f64);
            // The pair as a complex number, multiplied by e^(i·angle).
            let pair = index - e % 2;
            let (re, im) = (x[pair] as f64, x[pair + 1] as f64);
            let want = if e % 2 == 0 {
                re * angle.cos() - im * angle.sin()
            } else {
                im * angle.cos() + re * angle.sin()
            };
            assert!(
                (got as f64 - want).abs() < 1e-5,
                "element {index}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn the_transpose_undoes_the_rotation() {
        let shape = shape();
        let (freqs, x) = (table(shape), values(shape.packed_len()));
        let mut rotated = vec![0.0; x.len()];
        let mut back = vec![0.0; x.len()];
        rotate(shape, &freqs, &x, &mut rotated, Direction::Forward);
        rotate(shape, &freqs, &rotated, &mut back, Direction::Transpose);
        for (back, x) in back.iter().zip(&x) {
            assert!((back - x).abs() < 1e-5, "{back} vs {x}");
        }
    }

    /// Each row turned by its own position equals that row rotated alone as a sequence whose
    /// only position is that one.
    #[test]
    fn rows_turn_by_their_own_positions() {
        let shape = shape();
        let (t, d) = (shape.seq, shape.head_dim);
        let freqs = table(shape);
        let positions = [3, 0, 4, 3];
        let heads = 2;
        let x: Vec<f32> = (0..positions.len() * heads * d)
            .map(|i| (i as f32 * 0.7).sin())
            .collect();
        // The rows as a view: each row's heads after a gap, as in the packed projection.
        let gap = 3;
        let mut spaced = vec![f32::NAN; gap + positions.len() * (heads * d + gap)];
        for (r, row) in x.chunks_exact(heads * d).enumerate() {
            let at = gap + r * (heads * d + gap);
            spaced[at..at + heads * d].copy_from_slice(row);
        }
        let view = HeadRows {
            data: &spaced,
            offset: gap,
            row_stride: heads * d + gap,
            head_stride: d,
            heads,
        };
        let rotated = rotate_rows_at(&freqs, &positions, d, &view);
        assert_eq!(rotated.len(), x.len());
        for (r, &p) in positions.iter().enumerate() {
            assert!(p < t);
            for h in 0..heads {
                let at = (r * heads + h) * d;
                let mut want = vec![0.0; d];
                let f = &freqs[p * d * 2..][..d * 2];
                rotate_head(f, &x[at..at + d], &mut want, Direction::Forward);
                assert_eq!(&rotated[at..at + d], &want[..], "row {r}, head {h}");
            }
        }
    }
}
