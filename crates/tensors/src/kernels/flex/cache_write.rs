//! The decode step's new keys or values written into a key/value cache buffer on Flex, in place:
//! each row's heads at that row's slot, rounded to the buffer's element type on the way.

use burn::tensor::DType;
use burn_flex::FlexTensor;
use half::f16;
use half::slice::HalfFloatSliceExt;

use super::{head_rows, with_readable_heads};
use crate::kernels::head_rows::HeadRows;
use crate::team::Team;

/// Writes `new` (`[rows, heads, 1, head_dim]`, any strides, f32) into `buffer` (`[rows, heads,
/// allocated, head_dim]`, f32 or f16) at slot `slots[r]` of each row `r`, and returns the buffer:
/// the same storage when no other tensor shares it (a shared one is copied first).
pub(super) fn write_slots_forward(
    mut buffer: FlexTensor,
    new: FlexTensor,
    slots: &[usize],
) -> FlexTensor {
    let new = with_readable_heads(new);
    let dims = buffer.layout().shape().clone();
    assert_eq!(
        dims.num_dims(),
        4,
        "a cache buffer is [rows, heads, positions, head_dim]"
    );
    let (rows, heads, allocated, head_dim) = (dims[0], dims[1], dims[2], dims[3]);
    assert_eq!(
        new.layout().shape().to_vec(),
        [rows, heads, 1, head_dim],
        "one new key or value per row and head of the buffer"
    );
    assert_eq!(slots.len(), rows, "one slot per row");
    assert!(
        slots.iter().all(|&slot| slot < allocated),
        "slots within the buffer's {allocated} positions"
    );
    if buffer.layout().contiguous_offsets().is_none() {
        buffer = buffer.to_contiguous();
    }
    let (start, end) = buffer
        .layout()
        .contiguous_offsets()
        .expect("a contiguous buffer");
    let layout = SlotLayout {
        heads,
        allocated,
        head_dim,
    };
    let new = head_rows(&new);
    match buffer.dtype() {
        DType::F32 => layout.write(&mut buffer.storage_mut::<f32>()[start..end], &new, slots),
        DType::F16 => layout.write(&mut buffer.storage_mut::<f16>()[start..end], &new, slots),
        other => panic!("a key/value cache holds f32 or f16, not {other:?}"),
    }
    buffer
}

/// Where a row's head lands in a contiguous `[rows, heads, allocated, head_dim]` buffer.
struct SlotLayout {
    heads: usize,
    allocated: usize,
    head_dim: usize,
}

impl SlotLayout {
    /// `new`'s heads into `buffer` at each row's slot, a row per task over the decoding
    /// [`Team`] (each row's part of the buffer is a whole chunk of it).
    fn write<T: StoredElement + Send>(
        &self,
        buffer: &mut [T],
        new: &HeadRows<'_>,
        slots: &[usize],
    ) {
        let row_len = self.heads * self.allocated * self.head_dim;
        if row_len == 0 {
            return;
        }
        Team::global().for_each_chunk(buffer, row_len, &|row, buffer| {
            for head in 0..self.heads {
                let at = (head * self.allocated + slots[row]) * self.head_dim;
                T::store(
                    &mut buffer[at..at + self.head_dim],
                    new.head(row, head, self.head_dim),
                );
            }
        });
    }
}

/// An element type a cache buffer holds.
trait StoredElement: Sized {
    /// `values` into `out`, rounded to this type.
    fn store(out: &mut [Self], values: &[f32]);
}

impl StoredElement for f32 {
    fn store(out: &mut [f32], values: &[f32]) {
        out.copy_from_slice(values);
    }
}

impl StoredElement for f16 {
    fn store(out: &mut [f16], values: &[f32]) {
        out.convert_from_f32_slice(values);
    }
}
