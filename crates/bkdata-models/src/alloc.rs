//! The processes' allocator (each binary declares `mimalloc::MiMalloc` its global allocator).

use mimalloc as _;

/// mimalloc gives memory unused for 10 ms back to the OS by default. An ingest batch or a
/// builder pass frees and takes back tens of MB a second, so that memory was faulted in again
/// as fresh zeroed pages each time (`clear_page` was ~20 % of the server's and the builder's
/// CPU in the alert bench). Memory unused for 10 s still goes back.
pub fn keep_freed_memory() {
    // mimalloc's `mi_option_purge_delay` (its option enum, v2 and v3).
    const PURGE_DELAY: i32 = 15;
    #[allow(unsafe_code)]
    // SAFETY: sets one integer option of the linked mimalloc; safe at any time.
    unsafe {
        mi_option_set(PURGE_DELAY, 10_000)
    }
}

#[allow(unsafe_code)]
unsafe extern "C" {
    fn mi_option_set(option: i32, value: std::ffi::c_long);
}
