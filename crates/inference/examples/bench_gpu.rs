//! Our GPU kernels against burn's own ops, on the device given (`wgpu` by default): the packed
//! mat-vec's achieved memory bandwidth, the tiled packed matmul of a prompt against burn's f32
//! matmul, fused vs burn attention at several contexts (prefill and decode), and SmolLM2
//! decoding with our kernels on and off. Each kernel's largest difference to burn's result is
//! printed beside its time. `benches/gpu.sh` runs it (and GPT-2
//! training on the device); `--smoke` shrinks every size for lavapipe, as CI runs it.
//!
//! `target/release/examples/bench_gpu [--smoke] [--device wgpu] [--model FILE.gguf]
//! [--reductions auto|shared|plane]`; set `PEAK_GBPS` to the device's memory bandwidth to print
//! the fraction reached. `--reductions` picks the kernels' reductions (default: plane ops where
//! the device reports them), to compare the two paths on one GPU.

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use claude_core::Gpt;
use claude_quant::PackedMatrix;
use claude_tensors::shaders::{self, DeviceWeight, GpuPacked};

/// The median of `runs` timings of `f` (after one warm-up), in seconds; `f` returns a value to
/// read back, which waits for the device.
fn time<const D: usize>(runs: usize, mut f: impl FnMut() -> Tensor<D>) -> f64 {
    read_back(f());
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            read_back(f());
            started.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Reads `t`'s values on the host. `into_data` alone returns before a GPU read lands: only
/// touching the bytes waits for it.
fn read_back<const D: usize>(t: Tensor<D>) {
    let values = t.into_data().try_to_vec::<f32>().expect("f32 values");
    std::hint::black_box(values);
}

/// The largest difference between two results, to show that the paths timed agree.
fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar()
}

/// A deterministic weight matrix in [-1, 1].
fn test_weights(rows: usize, cols: usize) -> Vec<f32> {
    (0..rows * cols)
        .map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0)
        .collect()
}

fn matvec(device: &Device, smoke: bool) {
    let (rows, cols) = if smoke { (512, 1024) } else { (8192, 8192) };
    let peak: Option<f64> = std::env::var("PEAK_GBPS").ok().and_then(|p| p.parse().ok());
    let w = test_weights(rows, cols);
    for format in ["q4_0", "q4_1", "q8_0", "int8"] {
        let packed = PackedMatrix::quantize(format.parse().unwrap(), rows, cols, &w).unwrap();
        let gpu = GpuPacked::from_packed(&packed).unwrap();
        let bytes = 4 * (gpu.words.len() + gpu.scales.len() + gpu.offsets.len() + cols + rows);
        let weight = DeviceWeight::upload(&gpu, device);
        let x = Tensor::<2>::random([1, cols], Distribution::Uniform(-1.0, 1.0), device);
        let decoded =
            Tensor::<2>::from_data(TensorData::new(packed.dequantize(), [rows, cols]), device);
        let diff = max_diff(
            shaders::packed_matmul(x.clone(), &weight),
            x.clone().matmul(decoded.transpose()),
        );
        // Ten products per timing, so that launch and read-back are amortised.
        let seconds = time(5, || {
            let mut y = shaders::packed_matmul(x.clone(), &weight);
            for _ in 0..9 {
                y = y + shaders::packed_matmul(x.clone(), &weight);
            }
            y
        }) / 10.0;
        let gbps = bytes as f64 / seconds / 1e9;
        let fraction = peak.map_or(String::new(), |p| {
            format!(" ({:.0}% of {p} GB/s)", 100.0 * gbps / p)
        });
        println!(
            "matvec {format} {rows}x{cols}: {:.1} us, {gbps:.1} GB/s{fraction}; max diff to burn {diff:.1e}",
            seconds * 1e6
        );
    }
}

/// A prompt's product: our tiled packed matmul against burn's matmul of the same weights held
/// in f32 (what burn's own path runs), in GFLOP/s.
fn prompt_matmul(device: &Device, smoke: bool) {
    let (n, rows, cols) = if smoke {
        (128, 256, 512)
    } else {
        (512, 4096, 4096)
    };
    let w = test_weights(rows, cols);
    let x = Tensor::<2>::random([n, cols], Distribution::Uniform(-1.0, 1.0), device);
    let flops = 2.0 * (n * rows * cols) as f64;
    for format in ["q4_0", "q8_0"] {
        let packed = PackedMatrix::quantize(format.parse().unwrap(), rows, cols, &w).unwrap();
        let weight = DeviceWeight::upload(&GpuPacked::from_packed(&packed).unwrap(), device);
        let decoded =
            Tensor::<2>::from_data(TensorData::new(packed.dequantize(), [rows, cols]), device)
                .transpose();
        let diff = max_diff(
            shaders::packed_matmul(x.clone(), &weight),
            x.clone().matmul(decoded.clone()),
        );
        let ours = time(3, || shaders::packed_matmul(x.clone(), &weight));
        let burns = time(3, || x.clone().matmul(decoded.clone()));
        println!(
            "prompt matmul {format} {n}x{cols} by {rows}: ours {:.1} GFLOP/s, burn f32 {:.1} GFLOP/s ({:.2}x); max diff {diff:.1e}",
            flops / ours / 1e9,
            flops / burns / 1e9,
            burns / ours
        );
    }
}

fn attention_pair(device: &Device, smoke: bool) {
    let (heads, dim) = (8, 64);
    let contexts: &[usize] = if smoke {
        &[64, 256]
    } else {
        &[1024, 4096, 8192]
    };
    for &t in contexts {
        let qkv =
            || Tensor::<4>::random([1, heads, t, dim], Distribution::Normal(0.0, 1.0), device);
        let (q, k, v) = (qkv(), qkv(), qkv());
        let lens = Tensor::<1, Int>::from_data(
            TensorData::new(vec![t as i32], [1]),
            (device, burn::tensor::DType::I32),
        );
        let causal = AttentionModuleOptions {
            is_causal: true,
            ..Default::default()
        };
        let fused = || shaders::flash_attention(q.clone(), k.clone(), v.clone(), lens.clone());
        let plain = || attention(q.clone(), k.clone(), v.clone(), None, None, causal);
        let diff = max_diff(fused(), plain());
        let ours = time(3, fused);
        let burns = time(3, plain);
        println!(
            "attention prefill T={t}: ours {:.2} ms, burn {:.2} ms ({:.2}x); max diff {diff:.1e}",
            ours * 1e3,
            burns * 1e3,
            burns / ours
        );
        let one = Tensor::<4>::random([1, heads, 1, dim], Distribution::Normal(0.0, 1.0), device);
        let fused = || shaders::flash_attention(one.clone(), k.clone(), v.clone(), lens.clone());
        let plain = || {
            let options = AttentionModuleOptions::default();
            attention(one.clone(), k.clone(), v.clone(), None, None, options)
        };
        let diff = max_diff(fused(), plain());
        let ours = time(5, fused);
        let burns = time(5, plain);
        println!(
            "attention decode T={t}: ours {:.3} ms, burn {:.3} ms ({:.2}x); max diff {diff:.1e}",
            ours * 1e3,
            burns * 1e3,
            burns / ours
        );
    }
}

/// SmolLM2 as loaded (Q4_1) and decoded to f32, each with our kernels on and off (off with f32
/// weights is burn's own path): a prompt's tokens/s, then greedy decoding's.
fn decode(device: &Device, model: &str, smoke: bool) {
    let (prompt, steps) = if smoke { (8, 2) } else { (128, 64) };
    for (float, on) in [(false, true), (false, false), (true, true), (true, false)] {
        shaders::set_enabled(on);
        claude_tensors::kernels::device_weights::clear();
        let mut model = Gpt::load(model.as_ref(), device).expect("a model file");
        if float {
            model.dequantize(device);
        }
        let ids: Vec<i32> = (0..prompt).map(|i| 1 + (i * 37) % 1000).collect();
        let started = Instant::now();
        let (logits, mut cache) = model.prefill(Tensor::<2, Int>::from_data(
            TensorData::new(ids, [1, prompt as usize]),
            device,
        ));
        let mut next = logits.argmax(1).into_data().iter::<i64>().next().unwrap() as i32;
        let prefill_rate = prompt as f64 / started.elapsed().as_secs_f64();
        let started = Instant::now();
        for _ in 0..steps {
            let ids = Tensor::<1, Int>::from_data(TensorData::new(vec![next], [1]), device);
            let logits = model.decode(ids, &mut cache);
            next = logits.argmax(1).into_data().iter::<i64>().next().unwrap() as i32;
        }
        let rate = steps as f64 / started.elapsed().as_secs_f64();
        let weights = if float { "f32 (decoded)" } else { "Q4_1" };
        let path = match (on, float) {
            (true, _) => "our kernels",
            (false, true) => "kernels off: burn's own path",
            (false, false) => "kernels off: burn's ops, packed products on the host",
        };
        println!(
            "SmolLM2 {label} {weights}, {path}: prompt of {prompt} {prefill_rate:.1} tokens/s, decode {rate:.1} tokens/s",
            label = model_label(&model)
        );
    }
    shaders::set_enabled(true);
}

fn model_label(model: &Gpt) -> String {
    let c = model.config();
    format!("{} layers x {}", c.n_layer, c.d_model)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = args.iter().any(|a| a == "--smoke");
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let device_name = value("--device").unwrap_or_else(|| "wgpu".into());
    let device = claude_tensors::parse_device(&device_name).expect("a device");
    match value("--reductions").as_deref() {
        None | Some("auto") => {}
        Some("shared") => shaders::set_plane_ops(Some(false)),
        Some("plane") => shaders::set_plane_ops(Some(true)),
        Some(other) => panic!("--reductions {other}: expected auto, shared or plane"),
    }
    println!(
        "device {device_name} ({device:?}); our kernels run there: {}",
        shaders::runs_kernels(&device)
    );
    matvec(&device, smoke);
    prompt_matmul(&device, smoke);
    attention_pair(&device, smoke);
    let model = value("--model").unwrap_or_else(|| {
        claude_files::shared_data_dir()
            .join("models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf")
            .to_string_lossy()
            .into_owned()
    });
    decode(&device, &model, smoke);
}
