//! The buffer that holds a matrix's repacked records.
//!
//! One contiguous range per matrix, its groups one after the other, so that a task's run of
//! groups is one stream of memory for the hardware prefetcher, and 64-byte aligned, so that every
//! record that is a whole number of cache lines (Q4_1, Q6_K) loads its 64-byte chunks from single
//! lines. With a `Vec` per group, the records' placement was the allocator's: under mimalloc,
//! Qwen2.5's decode ran a fifth slower than under glibc's malloc, all of it in these kernels.
//!
//! The ranges are carved out of anonymous memory maps that the kernel is asked to back with
//! transparent huge pages (2 MiB on x86-64). Decoding reads every record once per token: through
//! 4 KiB pages that is a TLB miss and a page walk every 4 KiB of a model's 100-400 MB, whose
//! single stream runs at the memory's bandwidth. Matrices share maps of [`REGION_BYTES`], so
//! that a layer's small matrices (a few hundred KiB each) lie in huge pages too; a large matrix
//! gets a map of its own. A map is released when the last matrix in it is dropped.

use std::sync::{Arc, Mutex, PoisonError};

use memmap2::MmapMut;

/// The size of a map that matrices share.
const REGION_BYTES: usize = 32 << 20;
/// A matrix larger than this gets a map of its own.
const OWN_REGION_FROM: usize = REGION_BYTES / 4;
/// A transparent huge page: regions start on one, so that all of them can be huge.
const HUGE_PAGE: usize = 2 << 20;
/// Ranges start on a cache line.
const LINE: usize = 64;

/// An anonymous memory map, zeroed, advised to use huge pages.
struct Region {
    map: MmapMut,
    /// Where the usable bytes start: the first huge-page boundary in the map.
    start: *mut u8,
    /// Usable bytes from `start`.
    capacity: usize,
}

// SAFETY: the map is owned by the region and never moves; its bytes are reached only through
// `RecordStore`s, each of which owns a disjoint range of them (see `RecordStore`).
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl Region {
    /// A region of at least `capacity` usable bytes.
    ///
    /// # Panics
    /// If the OS refuses the memory (as an allocation failure would abort).
    fn new(capacity: usize) -> Arc<Region> {
        // A huge page more than asked, to start on a huge-page boundary.
        let mut map = MmapMut::map_anon(capacity + HUGE_PAGE)
            .unwrap_or_else(|error| panic!("{capacity} bytes for repacked weights: {error}"));
        #[cfg(target_os = "linux")]
        {
            // Advice: without transparent huge pages the map keeps 4 KiB pages.
            let _ = map.advise(memmap2::Advice::HugePage);
        }
        let offset = (map.as_ptr() as usize).next_multiple_of(HUGE_PAGE) - map.as_ptr() as usize;
        // SAFETY: `offset` is less than `HUGE_PAGE`, so within the map.
        let start = unsafe { map.as_mut_ptr().add(offset) };
        Arc::new(Region {
            map,
            start,
            capacity: capacity + HUGE_PAGE - offset,
        })
    }
}

impl std::fmt::Debug for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Region")
            .field("bytes", &self.map.len())
            .finish_non_exhaustive()
    }
}

/// The shared region being filled, and how much of it is taken.
struct OpenRegion {
    region: Arc<Region>,
    used: usize,
}

/// The region that the next small matrices take their ranges from.
static OPEN: Mutex<Option<OpenRegion>> = Mutex::new(None);

/// Zeroed bytes starting on a cache line, in memory backed by huge pages where the OS allows.
#[derive(Debug, Default)]
pub(super) struct RecordStore {
    /// The region holding the bytes (none when there are none).
    region: Option<Arc<Region>>,
    /// Where they start in the region's usable bytes.
    offset: usize,
    len: usize,
}

impl RecordStore {
    /// `len` zero bytes.
    pub(super) fn zeroed(len: usize) -> Self {
        if len == 0 {
            return RecordStore::default();
        }
        let taken = len.next_multiple_of(LINE);
        if taken > OWN_REGION_FROM {
            return RecordStore {
                region: Some(Region::new(taken)),
                offset: 0,
                len,
            };
        }
        let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
        let open = match open.take() {
            Some(current) if current.used + taken <= current.region.capacity => {
                open.insert(current)
            }
            _ => open.insert(OpenRegion {
                region: Region::new(REGION_BYTES),
                used: 0,
            }),
        };
        let offset = open.used;
        open.used += taken;
        RecordStore {
            region: Some(Arc::clone(&open.region)),
            offset,
            len,
        }
    }

    /// The bytes.
    pub(super) fn bytes(&self) -> &[u8] {
        match &self.region {
            // SAFETY: `offset..offset + len` lies within the region's usable bytes (`zeroed`
            // took it from them), which live as long as `self` holds the region; no other store
            // has this range, and `bytes_mut` needs `&mut self`, so nothing writes it meanwhile.
            Some(region) => unsafe {
                std::slice::from_raw_parts(region.start.add(self.offset), self.len)
            },
            None => &[],
        }
    }

    /// The bytes, to write.
    pub(super) fn bytes_mut(&mut self) -> &mut [u8] {
        match &self.region {
            // SAFETY: as in `bytes`; `&mut self` makes this the only reference to the range.
            Some(region) => unsafe {
                std::slice::from_raw_parts_mut(region.start.add(self.offset), self.len)
            },
            None => &mut [],
        }
    }
}

impl Clone for RecordStore {
    /// A copy in a range of its own.
    fn clone(&self) -> Self {
        let mut copy = RecordStore::zeroed(self.len);
        copy.bytes_mut().copy_from_slice(self.bytes());
        copy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_are_zeroed_aligned_disjoint_and_outlive_their_neighbours() {
        let sizes = [1, 64, 100, 5000, OWN_REGION_FROM + 1, 3 << 20, 0, 70];
        let mut stores: Vec<RecordStore> =
            sizes.iter().map(|&len| RecordStore::zeroed(len)).collect();
        for (i, (store, &len)) in stores.iter_mut().zip(&sizes).enumerate() {
            assert_eq!(store.bytes().len(), len);
            assert!(
                store.bytes().iter().all(|&b| b == 0),
                "store {i} not zeroed"
            );
            assert!(
                len == 0 || (store.bytes().as_ptr() as usize).is_multiple_of(LINE),
                "store {i} does not start on a line"
            );
            store.bytes_mut().fill(i as u8 + 1);
        }
        // Each kept its own bytes (no range overlaps another).
        for (i, store) in stores.iter().enumerate() {
            assert!(
                store.bytes().iter().all(|&b| b == i as u8 + 1),
                "store {i} overwritten"
            );
        }
        // A clone is a copy; dropping the others leaves a store's bytes in place.
        let copy = stores[2].clone();
        assert_ne!(copy.bytes().as_ptr(), stores[2].bytes().as_ptr());
        let kept = stores.swap_remove(3);
        drop(stores);
        assert_eq!(copy.bytes(), &[3; 100][..]);
        assert!(kept.bytes().iter().all(|&b| b == 4));
    }
}
