//! The probe's own vector tables: one IRQ entry written for the measurement (slot 5, an IRQ
//! taken at EL1 with `SP_EL1`, the only exception the waiting code can take), every other slot
//! going on to the same slot of guest-rt's table (`exception_vectors`), which reports it. The
//! timer-latency, doorbell and echo tables differ only in that entry and in the GIC it talks
//! to, so one macro lays them all out.

/// Emits the 2 KiB-aligned vector table `$name` (in section `.text.$name`) whose IRQ slot runs
/// the assembly lines `$irq`; they must fit the slot's 32 instructions.
macro_rules! vector_table {
    ($name:literal, $($irq:literal),+ $(,)?) => {
        core::arch::global_asm!(concat!(
            ".section .text.", $name, ", \"ax\"\n",
            ".balign 0x800\n",
            ".global ", $name, "\n",
            $name, ":\n",
            ".irp slot, 0, 1, 2, 3, 4\n",
            ".balign 0x80\n",
            "b exception_vectors + \\slot * 0x80\n",
            ".endr\n",
            ".balign 0x80\n",
            $($irq, "\n",)+
            ".irp slot, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15\n",
            ".balign 0x80\n",
            "b exception_vectors + \\slot * 0x80\n",
            ".endr\n",
        ));
    };
}
