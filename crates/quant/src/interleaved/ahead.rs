//! Fetching the next group's records into L2 while a kernel reads this group's.
//!
//! The CPU's own prefetcher does not keep up once a group's arithmetic takes longer than its
//! loads (a batch of activation rows): the kernels then wait on memory for each new group. So
//! the kernels ask for the next group's records themselves, a record's share at each of their
//! own records, and the memory streams ahead at the pace of the arithmetic.

use std::ops::Range;

/// Bytes of a cache line, the unit a prefetch asks for.
const CACHE_LINE: usize = 64;

/// The records of the group after the one a kernel is reading, asked for a share at a time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ahead<'a> {
    bytes: &'a [u8],
    /// Bytes of the next group asked for at each record of this one.
    per_record: usize,
}

impl<'a> Ahead<'a> {
    /// Nothing to fetch.
    pub(crate) const NONE: Ahead<'static> = Ahead {
        bytes: &[],
        per_record: 0,
    };

    /// The next group's `bytes`, asked for over the `records` records of this group.
    pub(crate) fn new(bytes: &'a [u8], records: usize) -> Self {
        Ahead {
            bytes,
            per_record: bytes.len().div_ceil(records.max(1)),
        }
    }

    /// The bytes of the next group that go with this group's record `b`.
    #[inline(always)]
    fn share(self, b: usize) -> Range<usize> {
        let start = (b * self.per_record).min(self.bytes.len());
        start..(start + self.per_record).min(self.bytes.len())
    }

    /// Asks for the next group's share that goes with this group's record `b` (a hint: nothing
    /// waits for it).
    #[inline(always)]
    pub(crate) fn record(self, b: usize) {
        for at in self.share(b).step_by(CACHE_LINE) {
            fetch_into_l2(&self.bytes[at..]);
        }
    }
}

/// Asks the CPU to bring the cache line at the start of `bytes` into L2 (on x86-64; elsewhere
/// nothing, for now).
#[inline(always)]
fn fetch_into_l2(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
        // SAFETY: a prefetch only hints the cache: it reads nothing into the program and never
        // faults.
        unsafe { _mm_prefetch::<_MM_HINT_T1>(bytes.as_ptr().cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shares_cover_the_next_group_once() {
        for (len, records) in [
            (0, 3),
            (5760, 18),
            (9856, 28),
            (15232, 28),
            (100, 7),
            (7, 100),
        ] {
            let bytes = vec![0u8; len];
            let ahead = Ahead::new(&bytes, records);
            let mut next = 0;
            for b in 0..records {
                let share = ahead.share(b);
                assert_eq!(share.start, next, "{len} bytes over {records} records");
                next = share.end;
                ahead.record(b);
            }
            assert_eq!(next, len, "{len} bytes over {records} records");
        }
        // Nothing to fetch, and past the end: empty shares.
        assert!(Ahead::NONE.share(4).is_empty());
        assert!(Ahead::new(&[0u8; 10], 2).share(9).is_empty());
    }
}
