//! The memory allocator of fnwire's processes: mimalloc, set up to return freed memory to the
//! operating system at once ([`return_freed_memory_at_once`]).
//!
//! By default mimalloc purges a freed page only after a delay (1 s), and only when some thread
//! later frees or abandons a page: a host that took a burst of large request bodies and then
//! went quiet kept every page of the burst resident (hundreds of MiB) for as long as it stayed
//! quiet. Measured on the host (`host/tests/it/memory.rs`: four 48 MiB bodies at once, 23 MiB
//! idle): 418 MiB resident 30 s after the burst by default, 75 MiB with immediate purging (what
//! stays is the gRPC library's buffer for the largest message, about one body). Immediate
//! purging is what mimalloc's own documentation offers for this; small allocations are not
//! affected, as their pages stay with their thread for reuse.
//!
//! This is the only crate of the workspace with `unsafe` code: one call into mimalloc's C API,
//! which the `mimalloc` crate does not wrap.

/// The allocator: `#[global_allocator] static ALLOCATOR: fnwire_alloc::Allocator = fnwire_alloc::Allocator;`.
pub use mimalloc::MiMalloc as Allocator;

/// fnwire's setting of the allocator: [`return_freed_memory_at_once`], unless the user set
/// mimalloc's own `MIMALLOC_PURGE_DELAY`, which mimalloc then reads as it documents. Call it
/// first thing, before the process (or the native module) starts threads of its own.
pub fn configure() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        return_freed_memory_at_once();
    }
}

/// mimalloc's `mi_option_purge_delay` (its place in `mi_option_e` of the bundled mimalloc 3,
/// which `libmimalloc-sys` does not name).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes mimalloc return pages to the operating system as soon as they are free, instead of
/// after its purge delay. Call it first thing in `main`, before other threads start. Without
/// effect when another allocator is the global one.
pub fn return_freed_memory_at_once() {
    // SAFETY: `mi_option_set` takes no pointer and only stores the value in mimalloc's option
    // table; called before other threads exist, nothing reads the option concurrently.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

/// The purge delay mimalloc uses now, in milliseconds.
pub fn purge_delay_ms() -> std::ffi::c_long {
    // SAFETY: `mi_option_get` takes no pointer and only reads mimalloc's option table.
    unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_option_is_the_purge_delay() {
        // mimalloc 3's default purge delay is 1000 ms; a wrong option index would read another
        // option's value (none of the neighbours defaults to 1000).
        assert_eq!(super::purge_delay_ms(), 1000);
        super::return_freed_memory_at_once();
        assert_eq!(super::purge_delay_ms(), 0);
    }
}
