//! `linux-counter`: a static Linux/arm64 program that prints the virtual counter
//! (`CNTVCT_EL0`) in decimal and exits.
//!
//! The Linux demo's `/init` runs it first (`partitions/linux-initramfs/init`) and puts the
//! number in its marker line, so the time from machine reset to Linux userspace can be read
//! from the console: under Bulkhead `CNTVOFF_EL2` is 0, and on bare QEMU nothing offsets
//! the counter, so in both cases the virtual counter counts from machine reset. Under
//! `-icount shift=0,sleep=off` with `cntfrq=1000000000` one tick is one executed
//! instruction, which is what `cargo xtask bench` compares (Linux under Bulkhead vs the same
//! kernel booted directly).
//!
//! Built for the bare-metal target like the other guests: a Linux executable needs no C
//! library, only an entry point, two system calls (`write`, `exit`) and a stack, which Linux
//! provides. Linux lets EL0 read `CNTVCT_EL0` (`CNTKCTL_EL1.EL0VCTEN`, for the vDSO).
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

use core::arch::{asm, global_asm};
use core::panic::PanicInfo;

/// Linux arm64 system call numbers (`include/uapi/asm-generic/unistd.h`).
const SYS_WRITE: u64 = 64;
const SYS_EXIT: u64 = 93;
/// Standard output.
const STDOUT: u64 = 1;
/// Digits of the largest `u64` plus the newline.
const BUFFER_BYTES: usize = 21;

global_asm!(
    r#"
    .section .text.entry, "ax"
    .global _start
_start:
    mov     x29, #0
    mov     x30, #0
    bl      counter_main
"#
);

/// Reads the virtual counter.
fn virtual_counter() -> u64 {
    let ticks: u64;
    // SAFETY: reading CNTVCT_EL0 at EL0 is allowed by Linux (CNTKCTL_EL1.EL0VCTEN) and has
    // no side effect; `isb` keeps the read from being taken early.
    unsafe { asm!("isb", "mrs {}, cntvct_el0", out(reg) ticks, options(nomem, nostack)) };
    ticks
}

/// `value` in decimal followed by a newline, at the end of `buffer`; returns the used part.
fn decimal(mut value: u64, buffer: &mut [u8; BUFFER_BYTES]) -> &[u8] {
    let mut start = BUFFER_BYTES - 1;
    buffer[start] = b'\n';
    // BOUND: at most 20 digits.
    loop {
        start -= 1;
        buffer[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return &buffer[start..];
        }
    }
}

/// `write(STDOUT, bytes)`; a short or failed write is not retried (nothing else to do).
fn write(bytes: &[u8]) {
    // SAFETY: the write system call reads `bytes.len()` bytes at `bytes.as_ptr()`, which is a
    // live slice; it clobbers only x0 (the result).
    unsafe {
        asm!(
            "svc #0",
            in("x8") SYS_WRITE,
            inlateout("x0") STDOUT => _,
            in("x1") bytes.as_ptr(),
            in("x2") bytes.len(),
            options(nostack),
        );
    }
}

/// `exit(status)`.
fn exit(status: u64) -> ! {
    // SAFETY: the exit system call ends the process and does not return.
    unsafe { asm!("svc #0", in("x8") SYS_EXIT, in("x0") status, options(noreturn, nostack)) }
}

/// Entry from `_start`: print, exit.
#[unsafe(no_mangle)]
extern "C" fn counter_main() -> ! {
    let ticks = virtual_counter();
    let mut buffer = [0u8; BUFFER_BYTES];
    write(decimal(ticks, &mut buffer));
    exit(0)
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    exit(1)
}
