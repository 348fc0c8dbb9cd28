//! The decode-step attention ([`crate::kernels::decode_attention`](mod@crate::kernels::decode_attention))
//! on Flex tensors: the cache's keys and values are read through their strides, never copied.

use burn::tensor::DType;
use burn_flex::FlexTensor;
use half::f16;

use super::{ContiguousF32, f32_slice, f32_tensor, readable_in_place};
use crate::kernels::decode_attention::{CacheElement, CacheView, DecodeShape, decode_attention};

/// Runs the kernel: `q` `[rows, n_head, 1, head_dim]`, `keys` and `values`
/// `[rows, n_kv_head, positions, head_dim]` (views of a larger buffer are fine), `key_lens` one
/// per row.
pub(super) fn decode_attention_forward(
    q: FlexTensor,
    keys: FlexTensor,
    values: FlexTensor,
    key_lens: &[usize],
) -> FlexTensor {
    let q = q.into_contiguous_f32();
    let dims = q.layout().shape().clone();
    assert_eq!(dims.num_dims(), 4, "queries are [rows, heads, 1, head_dim]");
    assert_eq!(dims[2], 1, "one query per row and head");
    let (keys, values) = (readable_in_place(keys), readable_in_place(values));
    let shape = DecodeShape {
        rows: dims[0],
        n_head: dims[1],
        n_kv_head: keys.layout().shape()[1],
        head_dim: dims[3],
    };
    let positions = keys.layout().shape()[2];
    assert!(
        key_lens.iter().all(|&len| len <= positions),
        "key lengths within the cached positions"
    );
    assert_eq!(keys.dtype(), values.dtype(), "keys and values of one dtype");
    let q_values = f32_slice(&q);
    let attend = match keys.dtype() {
        DType::F32 => attend_as::<f32>,
        DType::F16 => attend_as::<f16>,
        other => panic!("a key/value cache holds f32 or f16, not {other:?}"),
    };
    let out = attend(shape, q_values, (&keys, &values), key_lens);
    f32_tensor(out, dims)
}

/// An element the kernel reads (f32, f16) that a Flex tensor stores.
trait FlexCacheElement: CacheElement + burn::tensor::Element + bytemuck::Pod {}

impl<T: CacheElement + burn::tensor::Element + bytemuck::Pod> FlexCacheElement for T {}

/// The kernel over keys and values of elements `T`.
fn attend_as<T: FlexCacheElement>(
    shape: DecodeShape,
    q: &[f32],
    (keys, values): (&FlexTensor, &FlexTensor),
    key_lens: &[usize],
) -> Vec<f32> {
    decode_attention::<T>(shape, q, view(keys), view(values), key_lens)
}

/// The kernel's view of a tensor [`readable_in_place`] returned, of elements `T`.
fn view<T: FlexCacheElement>(t: &FlexTensor) -> CacheView<'_, T> {
    let layout = t.layout();
    let strides = layout.strides();
    CacheView {
        data: t.storage::<T>(),
        offset: layout.start_offset(),
        strides: [0, 1, 2].map(|d| strides[d] as usize),
    }
}
