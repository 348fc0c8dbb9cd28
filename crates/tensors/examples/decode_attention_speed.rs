//! Single-thread rate of decode attention (one new query per head against the cached keys and
//! values, read in place from an f16 cache) for SmolLM2-135M's heads (9 queries sharing 3
//! key/value heads of 64 values) and Qwen2.5-0.5B's (14 sharing 2), at a few context lengths:
//! the cache bytes read per second, and the multiply-adds per second.
//!
//! ```text
//! RAYON_NUM_THREADS=1 cargo run --release -p claude-tensors --example decode_attention_speed
//! ```

use std::hint::black_box;

use claude_tensors::kernels::decode_attention::{CacheView, DecodeShape, decode_attention};
use half::f16;

#[path = "../../quant/examples/common/mod.rs"]
mod common;
use common::best;

fn main() {
    for (name, n_head, n_kv_head) in [("SmolLM2", 9, 3), ("Qwen2.5", 14, 2)] {
        let head_dim = 64;
        for (rows, len) in [(1, 2048), (8, 256), (32, 128)] {
            let shape = DecodeShape {
                rows,
                n_head,
                n_kv_head,
                head_dim,
            };
            let cache_len = rows * n_kv_head * len * head_dim;
            let keys: Vec<f16> = (0..cache_len)
                .map(|i| f16::from_f32(((i * 7919) % 1000) as f32 / 1000.0 - 0.5))
                .collect();
            let values: Vec<f16> = (0..cache_len)
                .map(|i| f16::from_f32(((i * 104729) % 1000) as f32 / 1000.0 - 0.5))
                .collect();
            let q: Vec<f32> = (0..rows * n_head * head_dim)
                .map(|i| ((i * 31) % 17) as f32 / 17.0 - 0.5)
                .collect();
            let view = |data| CacheView {
                data,
                offset: 0,
                strides: [n_kv_head * len * head_dim, len * head_dim, head_dim],
            };
            let lens = vec![len; rows];
            let time = best(|| {
                black_box(decode_attention(
                    shape,
                    &q,
                    view(&keys),
                    view(&values),
                    &lens,
                ));
            });
            let bytes = 2 * cache_len * 2;
            let macs = 2 * rows * n_head * len * head_dim;
            println!(
                "{name:>8} {rows:>2} rows x {len:>4} positions: {:>8.1} us  {:>5.1} GB/s of cache  {:>5.1} GMAC/s",
                time.as_secs_f64() * 1e6,
                bytes as f64 / time.as_secs_f64() / 1e9,
                macs as f64 / time.as_secs_f64() / 1e9
            );
        }
    }
}
