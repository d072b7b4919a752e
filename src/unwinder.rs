// SPDX-License-Identifier: MIT
//! The unwinder interface the standard library calls, for the static release binary,
//! which never unwinds: with panic = "abort" a panic aborts the process, and nothing in
//! the program can start an unwind (no `_Unwind_RaiseException` is linked).
//!
//! The standard library still refers to libunwind: its landing pads and personality
//! routine (compiled for unwinding), and the panic message's backtrace, printed with
//! RUST_BACKTRACE set. Defined here, these calls resolve to the functions below rather
//! than to libunwind's, and since link-time optimisation sees that the backtrace walk
//! reports no frame, the symbolizer it would feed (DWARF and ELF readers, a
//! decompressor, the symbol demangler) is dropped too: some 200 KiB of code in a
//! binary whose symbols are stripped, where a backtrace shows only addresses.
//!
//! A panic message still names the panic and its location; RUST_BACKTRACE adds no
//! frames. Only the standard library's own unwinding paths call the others, and those
//! cannot be reached: each aborts, the same outcome as the panic that precedes it.

use std::ffi::{c_int, c_void};

/// `_URC_END_OF_STACK`: the walk ended, here before the first frame.
const END_OF_STACK: c_int = 5;

/// Walks no frame: the trace callback is never called.
#[unsafe(no_mangle)]
extern "C" fn _Unwind_Backtrace(_trace: *const c_void, _argument: *mut c_void) -> c_int {
    END_OF_STACK
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetIP(_context: *mut c_void) -> usize {
    std::process::abort()
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetIPInfo(_context: *mut c_void, _before: *mut c_int) -> usize {
    std::process::abort()
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetLanguageSpecificData(_context: *mut c_void) -> *mut c_void {
    std::process::abort()
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetRegionStart(_context: *mut c_void) -> usize {
    std::process::abort()
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetTextRelBase(_context: *mut c_void) -> usize {
    std::process::abort()
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetDataRelBase(_context: *mut c_void) -> usize {
    std::process::abort()
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_SetGR(_context: *mut c_void, _register: c_int, _value: usize) {
    std::process::abort()
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_SetIP(_context: *mut c_void, _value: usize) {
    std::process::abort()
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_Resume(_exception: *mut c_void) -> ! {
    std::process::abort()
}
