//! Handing a buffer's resident pages back to the operating system without changing it.
//!
//! A model's packed rows are usually a memory map of its file. Once they are repacked for
//! decoding ([`crate::InterleavedMatrix`]), the products read the repacked copy, and the mapped
//! rows are read only now and then (rows of formats left row-wise, exact arithmetic, export): the
//! pages they kept resident would double the model in memory. Linux's `MADV_PAGEOUT` reclaims
//! them: pages of a file are dropped and read again from the file on the next access, and
//! anonymous pages are swapped out if there is swap, else left alone. The contents never change,
//! so it is safe on any buffer. Elsewhere this does nothing.

/// Asks the OS to reclaim the whole pages inside `bytes` (see the module docs); the contents stay
/// as they are. Failures (an older kernel without `MADV_PAGEOUT`) are ignored: it is advice.
pub(crate) fn page_out(bytes: &[u8]) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `sysconf` has no preconditions.
        let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
            size if size > 0 => size as usize,
            _ => return,
        };
        let start = (bytes.as_ptr() as usize).next_multiple_of(page);
        let end = (bytes.as_ptr() as usize + bytes.len()) / page * page;
        if end > start {
            // SAFETY: `start..end` lies inside `bytes`, which is borrowed and so mapped for the
            // call; `MADV_PAGEOUT` only reclaims pages and never changes what they hold.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = bytes;
}
