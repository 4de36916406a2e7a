//! From reset to the guest's `main`: the `Image` header, the assembly entry points and the
//! first Rust code of each vCPU.
//!
//! The image follows the arm64 Linux boot protocol (Linux `Documentation/arch/arm64/
//! booting.rst`) so that QEMU's `-kernel` and the Bulkhead hypervisor start it the same way:
//! at EL1, MMU and caches off, interrupts masked, `x0` = device tree address. Secondary vCPUs
//! come in through PSCI `CPU_ON` (PSCI specification DEN0022, 5.6) at [`secondary_entry`]
//! with `x0` = the context ID, which this runtime uses as the vCPU index.
//!
//! The assembly does only what Rust cannot: turn the MMU on before any memory is written (see
//! [`crate::memory`] for why), zero `.bss` on the boot vCPU, pick this vCPU's stack and install
//! the exception vectors. Everything else happens in [`boot_primary`] and [`boot_secondary`].

use core::arch::global_asm;

use spin::Once;

use crate::device_tree::BootInfo;
use crate::{MAX_VCPUS, console, cpu, gic, memory, psci};

/// Bytes of stack per vCPU.
const STACK_SIZE: usize = 16 * 1024;

/// Where the image sits above a 2 MiB-aligned base (booting.rst: `text_offset`). Together
/// with the link address this puts the image at RAM base + 0x8_0000, as QEMU loads it.
const TEXT_OFFSET: u64 = 0x8_0000;

/// `Image` header flags (booting.rst): bit 0 = 0 little-endian, bits 1-2 = 1 for 4 KiB pages,
/// bit 3 = 0: place the image 2 MiB-aligned near the start of RAM, since it is not
/// position-independent and must run where it was linked.
const IMAGE_FLAGS: u64 = 0b0010;

/// The boot information, written once by the boot vCPU before any secondary starts.
pub(crate) static BOOT_INFO: Once<BootInfo> = Once::new();

// The guest's entry functions, defined by `guest_rt::entry!`.
unsafe extern "Rust" {
    fn __guest_rt_main(boot: &'static BootInfo) -> !;
    fn __guest_rt_secondary_main(vcpu: usize, boot: &'static BootInfo) -> !;
}

unsafe extern "C" {
    /// The address to pass to PSCI `CPU_ON` for a secondary vCPU (defined below).
    pub(crate) fn secondary_entry() -> !;
}

global_asm!(
    r#"
    .section .text.head, "ax"
    .global _start
_start:
    // The 64-byte arm64 Image header (booting.rst "Call the kernel image"). code0 jumps over it.
    b       primary_entry                   // code0
    .long   0                               // code1
    .quad   {text_offset}                   // text_offset
    .quad   __image_size                    // image_size, .bss included (from the linker script)
    .quad   {flags}                         // flags
    .quad   0                               // res2
    .quad   0                               // res3
    .quad   0                               // res4
    .ascii  "ARM\x64"                       // magic
    .long   0                               // res5: no PE/COFF header

    .section .text.boot, "ax"
primary_entry:
    // booting.rst promises masked interrupts; make it so regardless, and use SP_EL1.
    msr     daifset, #0xf
    msr     spsel, #1
    mov     x19, x0                         // device tree address, kept across the calls below
    bl      enable_mmu

    // Zero .bss, now cached: only the boot vCPU does this, before any other vCPU exists.
    adrp    x0, __bss_start
    add     x0, x0, :lo12:__bss_start
    adrp    x1, __bss_end
    add     x1, x1, :lo12:__bss_end
1:  cmp     x0, x1
    b.hs    2f
    stp     xzr, xzr, [x0], #16
    b       1b
2:
    bl      set_stack
    bl      install_vectors
    mov     x0, x19
    bl      {boot_primary}
    b       park

    .global {secondary_entry}
{secondary_entry}:
    msr     daifset, #0xf
    msr     spsel, #1
    mov     x19, x0                         // PSCI context ID = vCPU index
    bl      enable_mmu
    bl      set_stack
    bl      install_vectors
    mov     x0, x19
    bl      {boot_secondary}
    b       park

// Turns on the MMU with the identity map and both caches. Uses x0 only and touches no memory:
// until this returns, any data access would be Device-nGnRnE and bypass the caches.
enable_mmu:
    ldr     x0, ={mair}
    msr     mair_el1, x0
    ldr     x0, ={tcr}
    msr     tcr_el1, x0
    adrp    x0, {identity_map}
    add     x0, x0, :lo12:{identity_map}
    msr     ttbr0_el1, x0
    isb
    // A restarted partition may find stale translations and instructions of its previous run.
    tlbi    vmalle1
    ic      iallu
    dsb     nsh
    isb
    ldr     x0, ={sctlr}
    msr     sctlr_el1, x0
    isb
    ret

// sp = top of the stack of this vCPU, chosen by MPIDR_EL1.Aff0. A vCPU numbered beyond the
// stacks there are parks instead of sharing one. Uses x0-x2.
set_stack:
    mrs     x0, mpidr_el1
    and     x0, x0, #0xff
    cmp     x0, #{max_vcpus}
    b.hs    park
    add     x0, x0, #1
    adrp    x1, __stacks_start
    add     x1, x1, :lo12:__stacks_start
    mov     x2, #{stack_size}
    madd    x1, x0, x2, x1
    mov     sp, x1
    ret

install_vectors:
    adrp    x0, exception_vectors
    add     x0, x0, :lo12:exception_vectors
    msr     vbar_el1, x0
    isb
    ret

park:
    wfe
    b       park

    .ltorg

    // Sizes the linker script needs, defined once here from the Rust constants.
    .global __stack_size
    .set    __stack_size, {stack_size}
    .global __max_vcpus
    .set    __max_vcpus, {max_vcpus}
"#,
    text_offset = const TEXT_OFFSET,
    flags = const IMAGE_FLAGS,
    mair = const memory::MAIR_EL1_VALUE,
    tcr = const memory::TCR_EL1_VALUE,
    sctlr = const memory::SCTLR_EL1_VALUE,
    identity_map = sym memory::IDENTITY_MAP,
    stack_size = const STACK_SIZE,
    max_vcpus = const MAX_VCPUS,
    boot_primary = sym boot_primary,
    boot_secondary = sym boot_secondary,
    secondary_entry = sym secondary_entry,
);

/// First Rust code on the boot vCPU: read the device tree, bring up the console, PSCI and the
/// GIC, then run the guest's `main`.
extern "C" fn boot_primary(device_tree_address: usize) -> ! {
    // SAFETY: booting.rst makes x0 the address of a device tree the loader placed in RAM and
    // keeps intact; the identity map makes that address readable as is.
    let boot = match unsafe { BootInfo::read(device_tree_address) } {
        Ok(boot) => BOOT_INFO.call_once(|| boot),
        // Without a device tree there is no console to say so, nor a known PSCI conduit.
        Err(_) => cpu::park(),
    };
    psci::set_conduit(boot.psci);
    if let Some(uart) = boot.console {
        console::init(uart);
    }
    if let Some(gic_description) = boot.gic {
        let gic = gic::init(gic_description);
        gic.enable_distributor();
        if let Err(error) = gic.init_this_cpu() {
            panic!("GIC set-up on the boot vCPU failed: {error:?}");
        }
    }
    // SAFETY: `entry!` defines this symbol with exactly this signature; without it the guest
    // does not link.
    unsafe { __guest_rt_main(boot) }
}

/// First Rust code on a secondary vCPU: bring up its GIC redistributor and CPU interface, then
/// run the guest's `secondary_main`.
extern "C" fn boot_secondary(vcpu: usize) -> ! {
    // Secondaries are started by the guest's `main`, after the boot information is set.
    let Some(boot) = BOOT_INFO.get() else {
        cpu::park()
    };
    if let Some(gic) = gic::get() {
        if let Err(error) = gic.init_this_cpu() {
            panic!("GIC set-up on vCPU {vcpu} failed: {error:?}");
        }
    }
    // SAFETY: `entry!` defines this symbol with exactly this signature; without it the guest
    // does not link.
    unsafe { __guest_rt_secondary_main(vcpu, boot) }
}
