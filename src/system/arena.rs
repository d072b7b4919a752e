// SPDX-License-Identifier: MIT
//! The allocator of the static (musl) build: small blocks from one arena.
//!
//! A run lives a millisecond and makes a few hundred small allocations. musl's allocator
//! spent about 250 instructions on each malloc and free and returned emptied groups to the
//! kernel (16 mmap/munmap pairs a boot); here an allocation is a bump of one offset, and
//! freeing or growing the newest block happens in place. Anything else freed in the arena
//! stays allocated until the process exits; the arena is bounded (`ARENA_BYTES`, in .bss:
//! no bytes in the file, pages touched only when used) and past it, or for a block larger
//! than `ARENA_BLOCK_MAX`, the system allocator serves as before.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Enough for the small allocations of every command on a real machine.
pub const ARENA_BYTES: usize = 512 << 10;
/// Larger blocks (read buffers, big files) come from the system allocator, so a worst
/// case input does not fill the arena with a block freed soon after.
pub const ARENA_BLOCK_MAX: usize = 32 << 10;

pub struct Arena<const N: usize> {
    memory: UnsafeCell<[u8; N]>,
    /// Bytes of `memory` handed out, from its start.
    used: AtomicUsize,
}

// SAFETY: `used` is only changed by compare-and-swap, so two threads never get
// overlapping blocks; the memory itself is only reached through the blocks handed out.
unsafe impl<const N: usize> Sync for Arena<N> {}

impl<const N: usize> Arena<N> {
    pub const fn new() -> Arena<N> {
        Arena {
            memory: UnsafeCell::new([0; N]),
            used: AtomicUsize::new(0),
        }
    }

    fn base(&self) -> usize {
        self.memory.get() as usize
    }

    fn holds(&self, ptr: *mut u8) -> bool {
        (self.base()..self.base() + N).contains(&(ptr as usize))
    }

    /// A block of the arena, or None when it does not fit.
    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        if layout.size() > ARENA_BLOCK_MAX {
            return None;
        }
        let base = self.base();
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let start = (base + used).checked_next_multiple_of(layout.align())? - base;
            let end = start.checked_add(layout.size())?;
            if end > N {
                return None;
            }
            match self
                .used
                .compare_exchange_weak(used, end, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some((base + start) as *mut u8),
                Err(now) => used = now,
            }
        }
    }

    /// Moves the end of the newest block, if `ptr` (of `old` bytes) is the newest block
    /// and `new` bytes fit.
    fn resize_last(&self, ptr: *mut u8, old: usize, new: usize) -> bool {
        let start = ptr as usize - self.base();
        new <= ARENA_BLOCK_MAX
            && start + new <= N
            && self
                .used
                .compare_exchange(
                    start + old,
                    start + new,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }
}

impl<const N: usize> Default for Arena<N> {
    fn default() -> Self {
        Arena::new()
    }
}

// SAFETY: blocks are disjoint (see `bump`), aligned as asked, and at least as large as
// asked; blocks not from the arena are passed to `System` unchanged.
unsafe impl<const N: usize> GlobalAlloc for Arena<N> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(ptr) => ptr,
            // SAFETY: the caller's layout, as `GlobalAlloc::alloc` requires.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.holds(ptr) {
            // The newest block is given back; any other stays until the process exits.
            self.resize_last(ptr, layout.size(), 0);
        } else {
            // SAFETY: `ptr` came from `System` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.holds(ptr) {
            // SAFETY: `ptr` came from `System` with this layout.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        if self.resize_last(ptr, layout.size(), new_size) {
            return ptr;
        }
        // SAFETY: same alignment as the block, a size the caller made valid.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as `alloc`.
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            // SAFETY: both blocks are at least this long, and distinct.
            unsafe { std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size)) };
            // SAFETY: `ptr` is the caller's block of `layout`.
            unsafe { self.dealloc(ptr, layout) };
        }
        moved
    }
}

#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: Arena<ARENA_BYTES> = Arena::new();

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn blocks_are_disjoint_aligned_and_reused_when_newest() {
        let arena: Box<Arena<4096>> = Box::default();
        unsafe {
            let a = arena.alloc(layout(10, 1));
            let b = arena.alloc(layout(8, 8));
            assert!(arena.holds(a) && arena.holds(b));
            assert_eq!(b as usize % 8, 0);
            assert!(b as usize >= a as usize + 10);
            b.write_bytes(7, 8);
            // The newest block grows in place, and is taken back when freed.
            assert_eq!(arena.realloc(b, layout(8, 8), 100), b);
            arena.dealloc(b, layout(100, 8));
            assert_eq!(arena.alloc(layout(16, 8)), b);
            // An older block grows by moving, its bytes kept.
            a.write_bytes(3, 10);
            let moved = arena.realloc(a, layout(10, 1), 20);
            assert_ne!(moved, a);
            assert_eq!(std::slice::from_raw_parts(moved, 10), [3; 10]);
            // Past the arena, and blocks too large for it: the system allocator.
            let big = arena.alloc(layout(5000, 1));
            assert!(!big.is_null() && !arena.holds(big));
            big.write_bytes(1, 5000);
            let bigger = arena.realloc(big, layout(5000, 1), 9000);
            assert_eq!(*bigger.add(4999), 1);
            arena.dealloc(bigger, layout(9000, 1));
            let huge = arena.alloc(layout(ARENA_BLOCK_MAX + 1, 1));
            assert!(!arena.holds(huge));
            arena.dealloc(huge, layout(ARENA_BLOCK_MAX + 1, 1));
            // Growing the newest block beyond the arena moves it out.
            let last = arena.alloc(layout(100, 1));
            last.write_bytes(9, 100);
            let out = arena.realloc(last, layout(100, 1), 4096);
            assert!(!arena.holds(out));
            assert_eq!(std::slice::from_raw_parts(out, 100), [9; 100]);
            arena.dealloc(out, layout(4096, 1));
        }
    }

    #[test]
    fn threads_get_disjoint_blocks() {
        static SHARED: Arena<{ 64 << 10 }> = Arena::new();
        let handles: Vec<_> = (0..4u8)
            .map(|t| {
                std::thread::spawn(move || {
                    (0..200)
                        .map(|_| unsafe {
                            let p = SHARED.alloc(layout(16, 8));
                            p.write_bytes(t, 16);
                            p as usize
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<usize> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_unstable();
        assert!(all.windows(2).all(|w| w[1] - w[0] >= 16));
    }
}
