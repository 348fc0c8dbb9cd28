//! The portable computation of [`ShaderOps`] on Flex (the CPU): the same arithmetic as the GPU
//! kernels in plain loops, in f64 sums. It is the reference the kernels are tested against and
//! what runs when a model calls the operations on the CPU.

use burn::tensor::{DType, Shape, TensorData};
use burn_flex::{Flex, FlexTensor};

use crate::extension::ShaderOps;

/// A tensor's values as f32 (any float dtype).
fn floats(x: FlexTensor) -> (Vec<f32>, Shape) {
    let shape = x.layout().shape().clone();
    let data = x.into_data().convert_dtype(DType::F32);
    (data.try_into_vec::<f32>().expect("f32 values"), shape)
}

fn ints(x: FlexTensor) -> Vec<i64> {
    x.into_data()
        .convert_dtype(DType::I64)
        .try_into_vec::<i64>()
        .expect("i64 values")
}

impl ShaderOps for Flex {
    fn packed_matmul(
        x: FlexTensor,
        words: FlexTensor,
        scales: FlexTensor,
        offsets: FlexTensor,
        q4: bool,
    ) -> FlexTensor {
        let (x, x_shape) = floats(x);
        let (scales, scales_shape) = floats(scales);
        let (offsets, _) = floats(offsets);
        let words: Vec<i32> = ints(words).into_iter().map(|w| w as i32).collect();
        let (n, cols, rows) = (x_shape[0], x_shape[1], scales_shape[0]);
        let blocks = cols / 32;
        let per_block = if q4 { 4 } else { 8 };
        let mut out = vec![0.0f32; n * rows];
        for r in 0..n {
            let x = &x[r * cols..(r + 1) * cols];
            for row in 0..rows {
                let mut acc = 0.0f64;
                for b in 0..blocks {
                    let block = row * blocks + b;
                    let bytes: Vec<u8> = words[block * per_block..(block + 1) * per_block]
                        .iter()
                        .flat_map(|w| w.to_le_bytes())
                        .collect();
                    let x = &x[b * 32..(b + 1) * 32];
                    let d = f64::from(scales[block]);
                    if q4 {
                        let m = f64::from(offsets[block]);
                        for (j, &byte) in bytes.iter().enumerate() {
                            for (q, xv) in [(byte & 0x0F, x[j]), (byte >> 4, x[j + 16])] {
                                acc += (f64::from(q) * d + m) * f64::from(xv);
                            }
                        }
                    } else {
                        for (&c, &xv) in bytes.iter().zip(x) {
                            acc += f64::from(c as i8) * d * f64::from(xv);
                        }
                    }
                }
                out[r * rows + row] = acc as f32;
            }
        }
        FlexTensor::from_data(TensorData::new(out, [n, rows]))
    }

    fn flash_attention(
        q: FlexTensor,
        k: FlexTensor,
        v: FlexTensor,
        key_lens: FlexTensor,
    ) -> FlexTensor {
        let (q, q_shape) = floats(q);
        let (k, k_shape) = floats(k);
        let (v, _) = floats(v);
        let lens = ints(key_lens);
        let [batch, heads, tq, dim] = [q_shape[0], q_shape[1], q_shape[2], q_shape[3]];
        let [kv_heads, tk] = [k_shape[1], k_shape[2]];
        let group = heads / kv_heads;
        let scale = 1.0 / (dim as f64).sqrt();
        let mut out = vec![0.0f32; q.len()];
        for b in 0..batch {
            let len = lens[b] as usize;
            for h in 0..heads {
                let kv = &k[(b * kv_heads + h / group) * tk * dim..];
                let vv = &v[(b * kv_heads + h / group) * tk * dim..];
                for i in 0..tq {
                    let at = ((b * heads + h) * tq + i) * dim;
                    let query = &q[at..at + dim];
                    let visible = len + i + 1 - tq;
                    let scores: Vec<f64> = (0..visible)
                        .map(|j| {
                            let key = &kv[j * dim..(j + 1) * dim];
                            let dot: f64 = query
                                .iter()
                                .zip(key)
                                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                                .sum();
                            dot * scale
                        })
                        .collect();
                    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                    let total: f64 = weights.iter().sum();
                    for d in 0..dim {
                        let value: f64 = weights
                            .iter()
                            .enumerate()
                            .map(|(j, w)| w * f64::from(vv[j * dim + d]))
                            .sum();
                        out[at + d] = (value / total) as f32;
                    }
                }
            }
        }
        FlexTensor::from_data(TensorData::new(out, q_shape))
    }
}
