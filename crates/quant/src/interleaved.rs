//! Packed rows repacked sixteen at a time, for decoding: one pass over a block of 32 columns
//! produces 16 output rows from one broadcast of the 8-bit activations.
//!
//! A row-wise integer kernel ([`crate::dot_q8`]) unpacks one row's block, multiplies it with
//! the activations' block and reduces the 32 products to one number: most of its instructions
//! are shuffles and horizontal sums, not multiply-adds. Here the rows of a group of
//! [`GROUP_ROWS`] are interleaved four bytes at a time, so each vector lane is one row: four
//! activation codes are broadcast to every lane and one `u8 x i8` multiply-add of four
//! (AVX-512 VNNI's `vpdpbusd`, or AVX2's `vpmaddubsw` + `vpmaddwd` on half a group) feeds all
//! sixteen rows, with no horizontal sum at all. The same idea as llama.cpp's repacked CPU
//! layouts; the layout and code here are ours.
//!
//! # Layout
//! Every block of 32 columns of a group is one record; in each, the 16 rows' codes come in
//! chunks of 64 bytes, row `r` at bytes `4r..4r + 4` of a chunk, then the rows' scales:
//!
//! | format | chunks | after the codes | bits per weight | value |
//! |---|---|---|---|---|
//! | Q4_0 | 4 of the 16 `qs` bytes (low nibble: value `4c + j`, high: `16 + 4c + j`) | `d` (16 x f16) | 4.5 | `(q - 8) d` |
//! | Q4_1 | as Q4_0 | `d`, `m` (16 x f16 each) | 5 | `q d + m` |
//! | Q5_0 | as Q4_0, then one chunk of fifth bits (byte `4r + j`, bit `2c`: value `4c + j`; bit `2c + 1`: value `16 + 4c + j`) | `d` | 5.5 | `(q - 16) d` |
//! | Q8_0 | 8 of codes `q + 128` (value `4c + j`) | `d` | 8.5 | `q d` |
//! | Q4_K | as Q4_0 (a sub-block of 32) | `d`, `dmin` (16 x f16 each), `sc`, `mn` (16 bytes each) | 5.5 | `d sc q - dmin mn` |
//! | Q5_K | as Q5_0 (a sub-block of 32) | as Q4_K | 6.5 | `d sc q - dmin mn` |
//! | Q6_K | as Q4_0 (low four bits), then two chunks of top bits: byte `4r + j`, bits `2c, 2c + 1`: of value `4c + j` in the first, `16 + 4c + j` in the second | `d` (16 x f16), `sc0`, `sc1` (16 x i8 each: the scales of values 0..16 and 16..32) | 7 | `d sc (q - 32)` |
//!
//! So the weights take about the file's own number of bits (Q4_K and Q5_K one more and Q6_K
//! a half more: their super-block's scales are repeated in each record): decoding reads about
//! as many bytes as the row-wise kernels. The codes are unsigned (what `vpdpbusd` multiplies),
//! and an offset (8, 16, 128) comes off the integer sum as `offset * sum(activation codes)`:
//! exact.
//! Q6_K's nibbles of values 0..16 and 16..32 of a record go to separate sums, one per 16-value
//! scale, and its offset 32 comes off each half with the activations' sum over that half. Rows
//! of other formats (Q2_K, Q3_K, IQ4, Q5_1, int8) and groups mixing formats stay row-wise.
//!
//! # Arithmetic
//! Per block: the integer sum `S` of a row's codes times the activation codes (exact in `i32`),
//! less the offset term, then `acc += S * (d * dx)` and, for Q4_1, `acc += m * sx`, in f32
//! (`dx`: the activations' block scale, `sx`: their scaled code sum). Q4_K and Q5_K take
//! `acc += (sc S) * (d * dx)` and `acc -= (dmin * mn) * sx`; Q6_K takes
//! `acc += (sc0 S0 + sc1 S1) * (d * dx)` over its two halves' sums (`sc S` exact in `i32`).
//! The row-wise kernels compute the same integers; the f32 additions come in another order, so
//! the results agree to rounding, not bit for bit. Every path (AVX-512 VNNI, AVX2, portable) is
//! tested against the row-wise kernels.
//!
//! # Fetching ahead
//! With a batch of activation rows a group's arithmetic takes longer than its loads, and the
//! CPU's prefetcher leaves the next group's records in memory: on SmolLM2 at 8 sequences the
//! products took 12.5 ms a step in the model where the same matrices, already in cache, took
//! 9. So from a few rows on ([`Isa::fetches_ahead_from`]) the kernels ask for the next group's
//! records while they read this one's, a record's share at each record ([`ahead`]).

mod ahead;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod store;
#[cfg(test)]
mod tests;

use std::ops::Range;

use ahead::Ahead;
use store::RecordStore;

use crate::dot_q8::{IntegerRow, Q8_BLOCK};
use crate::float::f16_to_f32;
use crate::k_quants::{Q4_K_BLOCK_BYTES, Q5_K_BLOCK_BYTES, Q6_K_BLOCK_BYTES, scale_min};
use crate::q4::{Q4_0_BLOCK_BYTES, Q4_1_BLOCK_BYTES};
use crate::q8_0::BLOCK_BYTES as Q8_0_BYTES;
use crate::types::QK_K;
use crate::{PackedMatrix, Q8Activations};

/// Rows per group: the lanes of one AVX-512 vector of `i32`.
pub const GROUP_ROWS: usize = 16;
/// Activation rows one pass over a group's records serves (AVX-512 VNNI).
pub const ROWS_PER_PASS: usize = 4;
/// Bytes of one chunk: four bytes for each row of a group.
const CHUNK: usize = 4 * GROUP_ROWS;
/// Bytes of sixteen f16 scales.
const SCALES: usize = 2 * GROUP_ROWS;
/// Bytes per Q5_0 block in its file.
const Q5_0_BLOCK_BYTES: usize = 22;

/// How one group's rows are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Q4_0: nibbles, `d`, offset 8.
    Q4_0,
    /// Q4_1: nibbles, `d`, `m`.
    Q4_1,
    /// Q5_0: nibbles, fifth bits, `d`, offset 16.
    Q5_0,
    /// Q8_0: bytes `q + 128`, `d`, offset 128.
    Q8_0,
    /// Q4_K: nibbles, `d`, `dmin`, the sub-block's 6-bit `sc` and `mn`.
    Q4K,
    /// Q6_K: nibbles, top bits, `d`, the two 16-value sub-blocks' 8-bit scales, offset 32.
    Q6K,
    /// Q5_K: nibbles, fifth bits, `d`, `dmin`, the sub-block's 6-bit `sc` and `mn`.
    Q5K,
}

impl Kind {
    /// The kind numbered `k` (0 to 6, in declaration order): a constant generic parameter
    /// compiles each kind's loop on its own.
    #[cfg(target_arch = "x86_64")] // Only the x86 kernels ask.
    pub(crate) const fn from_index(k: u8) -> Kind {
        match k {
            0 => Kind::Q4_0,
            1 => Kind::Q4_1,
            2 => Kind::Q5_0,
            3 => Kind::Q8_0,
            4 => Kind::Q4K,
            5 => Kind::Q6K,
            _ => Kind::Q5K,
        }
    }

    /// The kind a row of this format is stored as, if it has one.
    fn of(row: &IntegerRow<'_>) -> Option<Kind> {
        Some(match row {
            IntegerRow::Q4_0(_) => Kind::Q4_0,
            IntegerRow::Q4_1(_) => Kind::Q4_1,
            IntegerRow::Q5_0(_) => Kind::Q5_0,
            IntegerRow::Q8_0(_) => Kind::Q8_0,
            IntegerRow::Q4K(_) => Kind::Q4K,
            IntegerRow::Q6K(_) => Kind::Q6K,
            IntegerRow::Q5K(_) => Kind::Q5K,
            _ => return None,
        })
    }

    /// Bytes of one block record of a group.
    pub(crate) const fn record_bytes(self) -> usize {
        match self {
            Kind::Q4_0 => 4 * CHUNK + SCALES,
            Kind::Q4_1 => 4 * CHUNK + 2 * SCALES,
            Kind::Q5_0 => 5 * CHUNK + SCALES,
            Kind::Q8_0 => 8 * CHUNK + SCALES,
            Kind::Q4K => 4 * CHUNK + 2 * SCALES + 2 * GROUP_ROWS,
            Kind::Q6K => 6 * CHUNK + SCALES + 2 * GROUP_ROWS,
            Kind::Q5K => 5 * CHUNK + 2 * SCALES + 2 * GROUP_ROWS,
        }
    }

    /// Whether a record has a second set of f16 scales after `d` (Q4_1's `m`, the k-quants'
    /// `dmin`).
    pub(crate) const fn has_minimums(self) -> bool {
        matches!(self, Kind::Q4_1 | Kind::Q4K | Kind::Q5K)
    }

    /// Whether the codes have a fifth bit in a chunk after the nibbles (Q5_0, Q5_K).
    #[cfg(target_arch = "x86_64")] // Only the x86 kernels ask.
    pub(crate) const fn has_fifth_bits(self) -> bool {
        matches!(self, Kind::Q5_0 | Kind::Q5K)
    }

    /// Whether a record's sum is scaled by a 6-bit sub-block scale and its minimum taken off
    /// (Q4_K, Q5_K).
    #[cfg(target_arch = "x86_64")] // Only the x86 kernels ask.
    pub(crate) const fn has_sub_block_minimums(self) -> bool {
        matches!(self, Kind::Q4K | Kind::Q5K)
    }

    /// Whether a record has sub-block bytes (the k-quants).
    pub(crate) const fn has_sub_scales(self) -> bool {
        matches!(self, Kind::Q4K | Kind::Q5K | Kind::Q6K)
    }

    /// Where the sub-block bytes start in a record: Q4_K's `sc` then `mn`, Q6_K's `sc0` then
    /// `sc1`, 16 of each.
    pub(crate) const fn sub_scales_at(self) -> usize {
        match self.has_minimums() {
            true => self.scales_at() + 2 * SCALES,
            false => self.scales_at() + SCALES,
        }
    }

    /// Where the scales `d` start in a record.
    pub(crate) const fn scales_at(self) -> usize {
        match self {
            Kind::Q4_0 | Kind::Q4_1 | Kind::Q4K => 4 * CHUNK,
            Kind::Q5_0 | Kind::Q5K => 5 * CHUNK,
            Kind::Q8_0 => 8 * CHUNK,
            Kind::Q6K => 6 * CHUNK,
        }
    }

    /// What comes off each block's integer sum, times the activations' code sum.
    pub(crate) const fn offset(self) -> i32 {
        match self {
            Kind::Q4_0 => 8,
            Kind::Q4_1 | Kind::Q4K | Kind::Q5K => 0,
            Kind::Q5_0 => 16,
            Kind::Q8_0 => 128,
            Kind::Q6K => 32,
        }
    }
}

/// One group of rows: repacked, or left to the row-wise kernels.
#[derive(Debug, Clone)]
enum Group {
    /// Interleaved records, one per block of columns, at `records` in the matrix's
    /// [`RecordStore`].
    Repacked { kind: Kind, records: Range<usize> },
    /// Rows of a format without a repacked layout, or of mixed formats.
    RowWise,
}

/// The instructions a group's products run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// Plain loops, on any CPU.
    Portable,
    /// AVX2 with FMA and F16C: half a group per vector.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-512 (F, BW) with VNNI: a whole group per vector.
    #[cfg(target_arch = "x86_64")]
    Avx512Vnni,
}

impl Isa {
    /// Activation rows from which the kernels ask for the next group's records while they read
    /// a group (see the module docs: "Fetching ahead").
    ///
    /// Measured on an AMD EPYC (Zen 4), one thread, tokens/s without -> with, alternating runs
    /// on a noisy day. AVX-512 VNNI: SmolLM2-135M `Q4_1` at 1 row 202-210 -> 174-179, at 4
    /// rows 309-351 -> 434-466, at 8 385-463 -> 499-551; Qwen2.5-0.5B `Q4_K_M` at 1 row 51-54
    /// -> 42-51, at 2 rows 49-51 -> 86-88, at 4 75-84 -> 140-155, at 8 107 -> 160-181. AVX2
    /// (forced on the same CPU) at 2 rows: SmolLM2 117-122 -> 153-155, Qwen 31-37 -> 39-42; at
    /// 1 row the runs did not agree. A single row streams its weights as fast as the loads
    /// come, and the asking only costs instructions.
    fn fetches_ahead_from(self) -> usize {
        match self {
            // Unmeasured: left to the CPU.
            Isa::Portable => usize::MAX,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 | Isa::Avx512Vnni => 2,
        }
    }

    /// The fastest this CPU runs.
    pub(crate) fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx512f") && has!("avx512bw") && has!("avx512vnni") {
                return Isa::Avx512Vnni;
            }
            if has!("avx2") && has!("fma") && has!("f16c") {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    }
}

/// A packed matrix's rows in groups of [`GROUP_ROWS`], repacked where their format has an
/// interleaved layout (see the module docs). Built from a [`PackedMatrix`], which keeps
/// serving the rows left row-wise.
#[derive(Debug, Clone)]
pub struct InterleavedMatrix {
    rows: usize,
    blocks: usize,
    groups: Vec<Group>,
    /// Every repacked group's records, one group after the other.
    store: RecordStore,
    /// Whether any group is repacked: asked on every product, so found once here.
    any_repacked: bool,
    isa: Isa,
}

impl InterleavedMatrix {
    /// The rows of `matrix` repacked (groups of other or mixed formats stay row-wise).
    pub fn new(matrix: &PackedMatrix) -> Self {
        let rows = matrix.rows();
        let blocks = matrix.cols() / Q8_BLOCK;
        let repackable = matrix.cols().is_multiple_of(Q8_BLOCK);
        // Each group's rows and kind first, so that one buffer takes every record.
        let planned: Vec<(Vec<IntegerRow<'_>>, Option<Kind>)> = (0..rows.div_ceil(GROUP_ROWS))
            .map(|g| {
                let first = g * GROUP_ROWS;
                let members: Vec<IntegerRow<'_>> = (first..rows.min(first + GROUP_ROWS))
                    .filter_map(|row| matrix.integer_row(row))
                    .collect();
                let kind = members.first().and_then(Kind::of).filter(|&kind| {
                    repackable
                        && members.len() == rows.min(first + GROUP_ROWS) - first
                        && members.iter().all(|row| Kind::of(row) == Some(kind))
                });
                (members, kind)
            })
            .collect();
        let bytes = planned
            .iter()
            .filter_map(|(_, kind)| kind.map(|k| blocks * k.record_bytes()));
        let mut store = RecordStore::zeroed(bytes.sum());
        let mut end = 0;
        let groups: Vec<Group> = planned
            .iter()
            .map(|(members, kind)| match *kind {
                Some(kind) => {
                    let records = end..end + blocks * kind.record_bytes();
                    repack(kind, members, &mut store.bytes_mut()[records.clone()]);
                    end = records.end;
                    Group::Repacked { kind, records }
                }
                None => Group::RowWise,
            })
            .collect();
        let any_repacked = groups
            .iter()
            .any(|group| matches!(group, Group::Repacked { .. }));
        InterleavedMatrix {
            rows,
            blocks,
            any_repacked,
            groups,
            store,
            isa: Isa::detect(),
        }
    }

    /// Number of groups (the last one may hold fewer than [`GROUP_ROWS`] rows).
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// Whether at least one group is repacked (otherwise the row-wise kernels do everything).
    pub fn any_repacked(&self) -> bool {
        self.any_repacked
    }

    /// This matrix computing on the instructions `isa` (the tests run every path this CPU has).
    #[cfg(test)]
    pub(crate) fn with_isa(mut self, isa: Isa) -> Self {
        self.isa = isa;
        self
    }

    /// Rows `16 g ..` of `matrix` (the matrix this was built from) times `x`, quantized as
    /// `xq`, into `out` (one value per row of the group).
    ///
    /// # Panics
    /// If `out` is not the group's length or `xq` is not `cols` long.
    pub fn dot_group(
        &self,
        matrix: &PackedMatrix,
        g: usize,
        x: &[f32],
        xq: &Q8Activations,
        out: &mut [f32],
    ) {
        let xq = std::slice::from_ref(xq);
        self.dot_groups_rows(matrix, g..g + 1, x, xq, |_, sums| {
            let rows = out.len();
            out.copy_from_slice(&sums[0][..rows]);
        });
    }

    /// For each group `g` of `groups` in turn: its rows (`16 g ..` of `matrix`) times each of
    /// the `xq.len()` activation rows `x` (row-major, quantized as `xq`), handed to
    /// `each(g, sums)`: `sums[r][k]` is group row `k` times activation row `r` (past a short
    /// group's last row: anything). Each weight chunk is loaded and unpacked once for up to
    /// [`ROWS_PER_PASS`] activation rows on AVX-512 VNNI (batched decoding); other paths take the
    /// rows one at a time; from a few passes a group, the next group's records are fetched
    /// while it computes (see the module docs). One call for a task's run of groups: the checks
    /// are made once.
    ///
    /// # Panics
    /// If the lengths do not fit or a group is out of range.
    pub fn dot_groups_rows(
        &self,
        matrix: &PackedMatrix,
        groups: Range<usize>,
        x: &[f32],
        xq: &[Q8Activations],
        mut each: impl FnMut(usize, &[[f32; GROUP_ROWS]]),
    ) {
        let cols = self.blocks * Q8_BLOCK;
        assert_eq!(x.len(), xq.len() * cols, "activation rows");
        assert!(
            xq.iter().all(|q| q.len() == cols),
            "quantized vector length"
        );
        let mut sums = vec![[0.0; GROUP_ROWS]; xq.len()];
        let fetch_ahead = xq.len() >= self.isa.fetches_ahead_from();
        for g in groups.clone() {
            let ahead = match self.groups.get(g + 1) {
                Some(Group::Repacked { records, .. }) if fetch_ahead && g + 1 < groups.end => {
                    Ahead::new(&self.store.bytes()[records.clone()], self.blocks)
                }
                _ => Ahead::NONE,
            };
            self.group_rows(matrix, g, x, xq, &mut sums, ahead);
            each(g, &sums);
        }
    }

    /// Group `g`'s products with each activation row into `out` (one array per row of `xq`,
    /// whose lengths [`dot_groups_rows`](Self::dot_groups_rows) checked).
    #[inline]
    fn group_rows(
        &self,
        matrix: &PackedMatrix,
        g: usize,
        x: &[f32],
        xq: &[Q8Activations],
        out: &mut [[f32; GROUP_ROWS]],
        mut ahead: Ahead<'_>,
    ) {
        let isa = self.isa;
        let cols = self.blocks * Q8_BLOCK;
        let first = g * GROUP_ROWS;
        let rows = self.rows.min(first + GROUP_ROWS) - first;
        let (kind, records) = match &self.groups[g] {
            Group::Repacked { kind, records } => (*kind, &self.store.bytes()[records.clone()]),
            Group::RowWise => {
                for (r, out) in out.iter_mut().enumerate() {
                    let x = &x[r * cols..(r + 1) * cols];
                    for (k, out) in out[..rows].iter_mut().enumerate() {
                        *out = matrix.dot_row_quantized(first + k, x, &xq[r]);
                    }
                }
                return;
            }
        };
        let per_pass = match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => ROWS_PER_PASS,
            _ => 1,
        };
        // The first pass reads the group from memory: it asks for the next one as it goes.
        for (xqs, sums) in xq.chunks(per_pass).zip(out.chunks_mut(per_pass)) {
            let ahead = std::mem::replace(&mut ahead, Ahead::NONE);
            // The portable and AVX2 kernels add to their row's sums; AVX-512's store them.
            match isa {
                Isa::Portable => {
                    sums[0] = [0.0; GROUP_ROWS];
                    portable(kind, records, ahead, &xqs[0], &mut sums[0]);
                }
                // SAFETY: `Isa::Avx2` is only made where the CPU has AVX2, FMA and F16C.
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => {
                    sums[0] = [0.0; GROUP_ROWS];
                    unsafe { avx2::dot_group(kind, records, ahead, &xqs[0], &mut sums[0]) }
                }
                // SAFETY: `Isa::Avx512Vnni` is only made where the CPU has AVX-512 F, BW and
                // VNNI; `xqs` has one to four rows and `sums` one array for each.
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512Vnni => {
                    let mut refs = [&xqs[0]; ROWS_PER_PASS];
                    for (slot, xq) in refs.iter_mut().zip(xqs) {
                        *slot = xq;
                    }
                    unsafe { avx512::dot_group(kind, records, ahead, &refs[..xqs.len()], sums) }
                }
            }
        }
    }
}

/// The records of one group into `records` (zeros, one record per block of columns; `rows` has
/// at most [`GROUP_ROWS`] rows, all of `kind`; missing rows stay zeros).
fn repack(kind: Kind, rows: &[IntegerRow<'_>], records: &mut [u8]) {
    let size = kind.record_bytes();
    for (b, record) in records.chunks_exact_mut(size).enumerate() {
        for (r, row) in rows.iter().enumerate() {
            let block = block_of(row, b);
            let scales = kind.scales_at();
            record[scales + 2 * r..scales + 2 * r + 2].copy_from_slice(&block.d);
            if kind.has_minimums() {
                let at = scales + SCALES + 2 * r;
                record[at..at + 2].copy_from_slice(&block.m);
            }
            if kind.has_sub_scales() {
                record[kind.sub_scales_at() + r] = block.sub[0];
                record[kind.sub_scales_at() + GROUP_ROWS + r] = block.sub[1];
            }
            place_codes(kind, &block.codes, r, record);
        }
    }
}

/// One block of 32 values of a row, as a record stores it.
struct BlockParts {
    /// The scale (f16 bytes).
    d: [u8; 2],
    /// The minimum (Q4_1) or the minimum's scale `dmin` (Q4_K) as f16 bytes; zero elsewhere.
    m: [u8; 2],
    /// The sub-block bytes: Q4_K's 6-bit scale and minimum, Q6_K's two 8-bit scales (as
    /// bytes); zero elsewhere.
    sub: [u8; 2],
    /// The codes, unsigned (Q8_0's plus 128).
    codes: [u8; Q8_BLOCK],
}

/// Block `b` of a row (k-quants: values `32 (b % 8)..` of super-block `b / 8`).
fn block_of(row: &IntegerRow<'_>, b: usize) -> BlockParts {
    let at = |bytes: &[u8], size: usize| -> Vec<u8> { bytes[b * size..(b + 1) * size].to_vec() };
    let nibbles = |qs: &[u8]| -> [u8; Q8_BLOCK] {
        std::array::from_fn(|i| match i < 16 {
            true => qs[i] & 0x0F,
            false => qs[i - 16] >> 4,
        })
    };
    let plain = |d: &[u8], codes| BlockParts {
        d: [d[0], d[1]],
        m: [0, 0],
        sub: [0, 0],
        codes,
    };
    match row {
        IntegerRow::Q4_0(bytes) => {
            let block = at(bytes, Q4_0_BLOCK_BYTES);
            plain(&block, nibbles(&block[2..]))
        }
        IntegerRow::Q4_1(bytes) => {
            let block = at(bytes, Q4_1_BLOCK_BYTES);
            BlockParts {
                m: [block[2], block[3]],
                ..plain(&block, nibbles(&block[4..]))
            }
        }
        IntegerRow::Q5_0(bytes) => {
            let block = at(bytes, Q5_0_BLOCK_BYTES);
            plain(&block, crate::q5::codes(&block[2..6], &block[6..]))
        }
        IntegerRow::Q8_0(bytes) => {
            let block = at(bytes, Q8_0_BYTES);
            plain(&block, std::array::from_fn(|i| block[2 + i] ^ 0x80))
        }
        IntegerRow::Q4K(bytes) => k_quant_with_minimums::<Q4_K_BLOCK_BYTES>(bytes, b),
        IntegerRow::Q5K(bytes) => k_quant_with_minimums::<Q5_K_BLOCK_BYTES>(bytes, b),
        IntegerRow::Q6K(bytes) => {
            let (super_block, j) = (b / 8, b % 8);
            let block =
                &bytes[super_block * Q6_K_BLOCK_BYTES..(super_block + 1) * Q6_K_BLOCK_BYTES];
            // Values `32j..32j + 32` are `32t + l` of half `h` (see `crate::k_quants`).
            let (h, t) = (j / 4, j % 4);
            let low = &block[64 * h + 32 * (t % 2)..64 * h + 32 * (t % 2) + 32];
            let top = &block[QK_K / 2 + 32 * h..QK_K / 2 + 32 * h + 32];
            let scales = &block[QK_K / 2 + QK_K / 4..QK_K / 2 + QK_K / 4 + QK_K / 16];
            let d = &block[Q6_K_BLOCK_BYTES - 2..];
            BlockParts {
                d: [d[0], d[1]],
                m: [0, 0],
                sub: [scales[2 * j], scales[2 * j + 1]],
                codes: std::array::from_fn(|l| {
                    ((low[l] >> (4 * (t / 2))) & 0x0F) | ((top[l] >> (2 * t)) & 3) << 4
                }),
            }
        }
        _ => unreachable!("only rows with a kind are repacked"),
    }
}

/// Block `b` of a row of Q4_K or Q5_K super-blocks (`B` bytes each).
fn k_quant_with_minimums<const B: usize>(bytes: &[u8], b: usize) -> BlockParts {
    let (super_block, j) = (b / 8, b % 8);
    let block = &bytes[super_block * B..(super_block + 1) * B];
    let (sc, mn) = scale_min(j, &block[4..16]);
    // Q5_K's fifth bits (bit `j` of `qh[l]`) come before the nibbles.
    let (qh, qs) = block[16..].split_at(B - Q4_K_BLOCK_BYTES);
    // Sub-blocks `2c` and `2c + 1` share `qs[32c..32c + 32]`: low nibbles, then high.
    let qs = &qs[32 * (j / 2)..32 * (j / 2) + 32];
    let shift = 4 * (j % 2);
    let fifth = |l: usize| qh.get(l).map_or(0, |bits| ((bits >> j) & 1) << 4);
    BlockParts {
        d: [block[0], block[1]],
        m: [block[2], block[3]],
        sub: [sc, mn],
        codes: std::array::from_fn(|l| ((qs[l] >> shift) & 0x0F) | fifth(l)),
    }
}

/// Writes row `r`'s 32 `codes` into a record of `kind`.
fn place_codes(kind: Kind, codes: &[u8; Q8_BLOCK], r: usize, record: &mut [u8]) {
    match kind {
        Kind::Q8_0 => {
            for (i, &code) in codes.iter().enumerate() {
                record[(i / 4) * CHUNK + 4 * r + i % 4] = code;
            }
        }
        _ => {
            for c in 0..4 {
                for j in 0..4 {
                    let (low, high) = (codes[4 * c + j], codes[16 + 4 * c + j]);
                    record[c * CHUNK + 4 * r + j] = (low & 0x0F) | (high & 0x0F) << 4;
                    match kind {
                        Kind::Q5_0 | Kind::Q5K => {
                            let fifth =
                                ((low >> 4) & 1) << (2 * c) | ((high >> 4) & 1) << (2 * c + 1);
                            record[4 * CHUNK + 4 * r + j] |= fifth;
                        }
                        Kind::Q6K => {
                            record[4 * CHUNK + 4 * r + j] |= (low >> 4) << (2 * c);
                            record[5 * CHUNK + 4 * r + j] |= (high >> 4) << (2 * c);
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

/// Row `r`'s code for value `i` of a record of `kind` (the inverse of [`place_codes`]).
fn code_at(kind: Kind, record: &[u8], r: usize, i: usize) -> i32 {
    if kind == Kind::Q8_0 {
        return i32::from(record[(i / 4) * CHUNK + 4 * r + i % 4]);
    }
    let (c, j, high) = ((i % 16) / 4, i % 4, i >= 16);
    let byte = record[c * CHUNK + 4 * r + j];
    let nibble = if high { byte >> 4 } else { byte & 0x0F };
    let top = match kind {
        Kind::Q5_0 | Kind::Q5K => {
            (record[4 * CHUNK + 4 * r + j] >> (2 * c + usize::from(high))) & 1
        }
        Kind::Q6K => (record[(4 + usize::from(high)) * CHUNK + 4 * r + j] >> (2 * c)) & 3,
        _ => 0,
    };
    i32::from(nibble | top << 4)
}

/// The f16 at `at` in a record, as f32.
fn f16_in(record: &[u8], at: usize) -> f32 {
    f16_to_f32([record[at], record[at + 1]])
}

/// The group's products in plain loops (what the vector paths compute), asking for the next
/// group's records as it goes (`ahead`).
fn portable(
    kind: Kind,
    records: &[u8],
    ahead: Ahead<'_>,
    xq: &Q8Activations,
    out: &mut [f32; GROUP_ROWS],
) {
    let xq = xq.parts();
    for (b, record) in records.chunks_exact(kind.record_bytes()).enumerate() {
        ahead.record(b);
        let x = &xq.codes[b * Q8_BLOCK..(b + 1) * Q8_BLOCK];
        let sub_byte = |r: usize, half: usize| record[kind.sub_scales_at() + GROUP_ROWS * half + r];
        for (r, out) in out.iter_mut().enumerate() {
            let half_sum = |values: std::ops::Range<usize>| -> i32 {
                values
                    .map(|i| code_at(kind, record, r, i) * i32::from(x[i]))
                    .sum()
            };
            let sum = match kind {
                Kind::Q6K => {
                    let first = xq.first_half_sums[b];
                    let second = xq.code_sums[b] - first;
                    let scale = |half: usize| i32::from(sub_byte(r, half) as i8);
                    (half_sum(0..16) - 32 * first) * scale(0)
                        + (half_sum(16..32) - 32 * second) * scale(1)
                }
                Kind::Q4K | Kind::Q5K => half_sum(0..Q8_BLOCK) * i32::from(sub_byte(r, 0)),
                _ => half_sum(0..Q8_BLOCK) - kind.offset() * xq.code_sums[b],
            };
            let d = f16_in(record, kind.scales_at() + 2 * r);
            *out += sum as f32 * (d * xq.scales[b]);
            let m = || f16_in(record, kind.scales_at() + SCALES + 2 * r);
            match kind {
                Kind::Q4_1 => *out += m() * xq.scaled_sums[b],
                Kind::Q4K | Kind::Q5K => {
                    *out -= (m() * f32::from(sub_byte(r, 1))) * xq.scaled_sums[b]
                }
                _ => {}
            }
        }
    }
}
