//! Packed weights on GPU devices: each [`PackedMatrix`] is converted to our GPU layout and
//! uploaded once per device, the first time a product needs it there, then read by every product
//! after. The cache holds the matrix (so its address names it for as long as it is cached) and
//! its device copies; a matrix with no GPU layout is remembered as such, said once, and multiplied
//! on the CPU.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use burn::prelude::*;
use claude_quant::PackedMatrix;
use claude_shaders::{DeviceWeight, GpuPacked, note_once};

/// A matrix and its device copies (`None`: no GPU layout).
type Entry = (Arc<PackedMatrix>, HashMap<String, Option<DeviceWeight>>);

fn cache() -> &'static Mutex<HashMap<usize, Entry>> {
    static CACHE: OnceLock<Mutex<HashMap<usize, Entry>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// `w` on `device` in our GPU layout, uploaded on first use; `None` when it has no GPU layout.
pub fn device_weight(w: &Arc<PackedMatrix>, device: &Device) -> Option<DeviceWeight> {
    let mut cache = cache().lock().expect("device weight cache");
    let (_, copies) = cache
        .entry(Arc::as_ptr(w) as usize)
        .or_insert_with(|| (w.clone(), HashMap::new()));
    copies
        .entry(format!("{device:?}"))
        .or_insert_with(|| match GpuPacked::from_packed(w) {
            Ok(packed) => Some(DeviceWeight::upload(&packed, device)),
            Err(why) => {
                note_once(format!(
                    "a {} x {} packed weight runs on the CPU: {why}",
                    w.rows(),
                    w.cols()
                ));
                None
            }
        })
        .clone()
}

/// Drops every device copy (and the matrices the cache keeps alive).
pub fn clear() {
    cache().lock().expect("device weight cache").clear();
}
