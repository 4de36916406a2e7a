//! The hardware random-number generator of the BCM2711 (Raspberry Pi 4): Broadcom's
//! `iproc-rng200` (device-tree compatible `brcm,bcm2711-rng200`, `reg` size `0x28`, at
//! `0xfe10_4000` as the ARM cores see it). The hypervisor uses it once, at boot on the boot
//! core, to draw the seed that keys its DRBG; every wait is bounded by a caller's
//! [`Deadline`], so a missing or silent generator costs the boot a timeout, never a hang.
//!
//! Facts used, and where they come from (no data sheet is public; the drivers below agree):
//!
//! * Registers (Linux `drivers/char/hw_random/iproc-rng200.c`, mainline; the same offsets and
//!   masks in U-Boot `drivers/rng/iproc_rng200.c`): `RNG_CTRL` at `0x00`, whose field
//!   `RNG_RBGEN` (mask `0x0000_1FFF`) is set to `1` to enable the generator and to `0` to
//!   disable it; `RNG_SOFT_RESET` at `0x04` and `RBG_SOFT_RESET` at `0x08`, each with its reset
//!   in bit 0; `RNG_INT_STATUS` at `0x18`, whose error bits are `MASTER_FAIL_LOCKOUT`
//!   (`0x8000_0000`) and `NIST_FAIL` (`0x20`); both drivers "clear all interrupt status" by
//!   writing `0xFFFF_FFFF` to it (write-one-to-clear, as far as the drivers show);
//!   `RNG_FIFO_DATA` at `0x20` (the next 32-bit word);
//!   `RNG_FIFO_COUNT` at `0x24`, whose low byte (mask `0xFF`) is the number of words waiting.
//! * Reading (same two drivers, `iproc_rng200_read`): per word, check `RNG_INT_STATUS` for an
//!   error bit, then read a word if `RNG_FIFO_COUNT` is non-zero, else wait; on an error,
//!   restart the generator at most once per read (`MAX_RESETS_PER_READ` 1) and give up on a
//!   second error. A last partial word contributes its first bytes in memory order (the
//!   drivers `memcpy` the little-endian word).
//! * Restart (`iproc_rng200_restart`, same drivers, in this order): disable (`RNG_RBGEN` = 0),
//!   clear all interrupt status, set `RBG_SOFT_RESET`, set `RNG_SOFT_RESET`, clear
//!   `RNG_SOFT_RESET`, clear `RBG_SOFT_RESET`, enable (`RNG_RBGEN` = 1); every bit change is a
//!   read-modify-write.
//! * Enabling: mainline Linux and U-Boot write `RNG_RBGEN` = 1 unconditionally at init. An
//!   older Raspberry Pi downstream kernel (`raspberrypi/linux`, same file, `bcm2838_rng200_init`
//!   for compatible `brcm,bcm2838-rng200`) leaves the block alone when `RNG_RBGEN` is already
//!   non-zero, and itself enables with the whole field set (`0x1FFF`, plus a clock divider in
//!   bits 13 and up); this driver likewise only writes `RNG_RBGEN` = 1 when the field reads
//!   zero.
//! * Discarding the first words: neither mainline Linux nor U-Boot discards any word after
//!   enabling. That downstream `bcm2838_rng200_init` instead programs a total-bit-count
//!   threshold (register `0x10`, `0x40000`, "initial numbers generated are less random so will
//!   be discarded") and waits for the bit count at `0x0c` to exceed 16 before reading; that
//!   register's semantics are not documented anywhere found, so this driver discards nothing
//!   and leaves conditioning to the DRBG the seed keys.
//!
//! QEMU: `raspi4b` (QEMU 9 and 10 sources) does not model this device. `hw/arm/raspi4b.c`
//! (`raspi4_modify_dtb`) deletes the `brcm,bcm2711-rng200` node from the tree it hands a guest
//! ("Temporarily disable following devices until they are implemented"). The older
//! `bcm2835-rng` model (`hw/misc/bcm2835_rng.c`: control `0x0`, status `0x4` with the word
//! count in bits 31:24, data `0x8`, a 16-byte block; different registers) is mapped at
//! `RNG_OFFSET` (`0x104000`) only by `bcm2835_peripherals_realize` in
//! `hw/arm/bcm2835_peripherals.c`, i.e. for `raspi0`–`raspi3b`; the common part
//! (`bcm_soc_peripherals_common_realize`) and `hw/arm/bcm2838_peripherals.c`, which `raspi4b`
//! uses, map nothing at that offset. What a read of that hole does under QEMU was not tried.
//! This driver is therefore tested on the host only, against plain memory laid out like the
//! block; whether to touch the address at all is the caller's decision (the device tree says
//! whether the generator is there).

use crate::deadline::Deadline;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

register_structs! {
    /// The `iproc-rng200` register block (base `0xfe10_4000` on the Raspberry Pi 4).
    pub Registers {
        /// `RNG_CTRL`: `RNG_RBGEN` in bits 12:0.
        (0x00 => control: ReadWrite<u32>),
        /// `RNG_SOFT_RESET`: bit 0 holds the RNG in reset.
        (0x04 => rng_soft_reset: ReadWrite<u32>),
        /// `RBG_SOFT_RESET`: bit 0 holds the RBG in reset.
        (0x08 => rbg_soft_reset: ReadWrite<u32>),
        (0x0c => _reserved0),
        /// `RNG_INT_STATUS`: error and event bits, written with ones to clear.
        (0x18 => interrupt_status: ReadWrite<u32>),
        (0x1c => _reserved1),
        /// `RNG_FIFO_DATA`: the next random word.
        (0x20 => fifo_data: ReadOnly<u32>),
        /// `RNG_FIFO_COUNT`: words waiting in bits 7:0.
        (0x24 => fifo_count: ReadOnly<u32>),
        (0x28 => @END),
    }
}

/// `RNG_CTRL.RNG_RBGEN`, the generator-enable field.
const RBGEN_MASK: u32 = 0x0000_1fff;
/// The `RNG_RBGEN` value that enables the generator.
const RBGEN_ENABLE: u32 = 0x0000_0001;
/// The reset bit of `RNG_SOFT_RESET` and of `RBG_SOFT_RESET`.
const SOFT_RESET: u32 = 0x0000_0001;
/// `RNG_INT_STATUS.MASTER_FAIL_LOCKOUT`.
const MASTER_FAIL_LOCKOUT: u32 = 0x8000_0000;
/// `RNG_INT_STATUS.NIST_FAIL`.
const NIST_FAIL: u32 = 0x0000_0020;
/// The status bits that mean the generator failed.
const ERROR_BITS: u32 = MASTER_FAIL_LOCKOUT | NIST_FAIL;
/// Written to `RNG_INT_STATUS`: clears every bit.
const CLEAR_ALL: u32 = 0xffff_ffff;
/// `RNG_FIFO_COUNT`'s count of waiting words.
const FIFO_COUNT_MASK: u32 = 0x0000_00ff;
/// Bytes in one FIFO word.
const WORD_BYTES: usize = 4;

/// One of the two soft-reset registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reset {
    /// `RBG_SOFT_RESET` (`0x08`).
    Rbg,
    /// `RNG_SOFT_RESET` (`0x04`).
    Rng,
}

/// One register change of the restart sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// `RNG_RBGEN` = 0.
    Disable,
    /// All ones to `RNG_INT_STATUS`.
    ClearStatus,
    /// Set the reset bit of a soft-reset register (read-modify-write).
    Hold(Reset),
    /// Clear the reset bit of a soft-reset register (read-modify-write).
    Release(Reset),
    /// `RNG_RBGEN` = 1.
    Enable,
}

/// The restart, in the order of `iproc_rng200_restart` (Linux, U-Boot).
const RESTART: [Step; 7] = [
    Step::Disable,
    Step::ClearStatus,
    Step::Hold(Reset::Rbg),
    Step::Hold(Reset::Rng),
    Step::Release(Reset::Rng),
    Step::Release(Reset::Rbg),
    Step::Enable,
];

/// What can go wrong drawing random bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RngError {
    /// The FIFO had no word for the caller's whole deadline.
    NoAnswerBeforeDeadline,
    /// The generator reported an error again after its one restart: the error bits of
    /// `RNG_INT_STATUS` seen then.
    Failed {
        /// `RNG_INT_STATUS & (MASTER_FAIL_LOCKOUT | NIST_FAIL)`.
        status: u32,
    },
}

/// The `iproc-rng200` generator, owned by the hypervisor.
pub struct IprocRng200 {
    /// The register block (MMIO).
    registers: &'static Registers,
}

impl IprocRng200 {
    /// Drives the register block at `base`.
    ///
    /// # Safety
    /// `base` must be the `iproc-rng200` register block (`0x28` bytes), mapped as Device
    /// memory at EL2 for the rest of the program, and driven by nobody else.
    pub unsafe fn at(base: usize) -> Self {
        // SAFETY: the caller's guarantee; the registers use interior mutability.
        let registers = unsafe { &*(base as *const Registers) };
        Self { registers }
    }

    /// Drives the register block `registers` (host tests, or a caller that already holds
    /// the reference under [`IprocRng200::at`]'s contract).
    pub fn new(registers: &'static Registers) -> Self {
        Self { registers }
    }

    /// Enables the generator if `RNG_RBGEN` reads zero (else leaves the firmware's setting),
    /// then fills `out` with FIFO words in order, each word's bytes little-endian (a last
    /// partial word gives its low bytes). No word is discarded after enabling (see the module
    /// documentation). On an error bit in `RNG_INT_STATUS` the generator is restarted once per
    /// call; a second error is [`RngError::Failed`].
    ///
    /// Worst case: one `RNG_CTRL` read and at most one write; at most one restart (6 MMIO
    /// reads, 7 writes); then per word a sequence of polls, each at most 3 MMIO reads
    /// (`RNG_INT_STATUS`, `RNG_FIFO_COUNT`, and `RNG_FIFO_DATA` when the count is non-zero),
    /// with one `deadline.passed()` call between two polls (also after a word, before the
    /// next word's first poll). The number of polls is bounded by the deadline: the first
    /// `passed()` that returns `true` ends the call with [`RngError::NoAnswerBeforeDeadline`].
    /// An empty `out` costs only the enable.
    pub fn fill(&mut self, out: &mut [u8], deadline: &mut dyn Deadline) -> Result<(), RngError> {
        self.enable_if_off();
        let mut restarted = false;
        let mut first = true;
        // BOUND: one iteration per 4-byte chunk of `out`.
        for chunk in out.chunks_mut(WORD_BYTES) {
            if !first && deadline.passed() {
                return Err(RngError::NoAnswerBeforeDeadline);
            }
            first = false;
            let word = self.next_word(deadline, &mut restarted)?;
            for (byte, value) in chunk.iter_mut().zip(word.to_le_bytes()) {
                *byte = value;
            }
        }
        Ok(())
    }

    /// Polls until a word is in the FIFO and reads it; restarts the generator on an error
    /// unless `restarted` says this call already did.
    fn next_word(&self, deadline: &mut dyn Deadline, restarted: &mut bool) -> Result<u32, RngError> {
        // BOUND: each iteration either returns or asks the deadline, and the first `passed()`
        // that returns `true` returns.
        loop {
            let status = self.registers.interrupt_status.get() & ERROR_BITS;
            if status != 0 {
                if *restarted {
                    return Err(RngError::Failed { status });
                }
                self.restart();
                *restarted = true;
            }
            if self.registers.fifo_count.get() & FIFO_COUNT_MASK != 0 {
                return Ok(self.registers.fifo_data.get());
            }
            if deadline.passed() {
                return Err(RngError::NoAnswerBeforeDeadline);
            }
        }
    }

    /// Sets `RNG_RBGEN` to 1 when it reads 0.
    fn enable_if_off(&self) {
        let control = self.registers.control.get();
        if control & RBGEN_MASK == 0 {
            self.registers.control.set((control & !RBGEN_MASK) | RBGEN_ENABLE);
        }
    }

    /// The restart sequence, [`RESTART`].
    fn restart(&self) {
        // BOUND: the seven steps of `RESTART`.
        for step in RESTART {
            self.apply(step);
        }
    }

    /// One register change of the restart.
    fn apply(&self, step: Step) {
        let registers = self.registers;
        match step {
            Step::Disable => registers.control.set(registers.control.get() & !RBGEN_MASK),
            Step::ClearStatus => registers.interrupt_status.set(CLEAR_ALL),
            Step::Hold(reset) => {
                let register = self.soft_reset(reset);
                register.set(register.get() | SOFT_RESET);
            }
            Step::Release(reset) => {
                let register = self.soft_reset(reset);
                register.set(register.get() & !SOFT_RESET);
            }
            Step::Enable => registers.control.set((registers.control.get() & !RBGEN_MASK) | RBGEN_ENABLE),
        }
    }

    /// The soft-reset register `reset` names.
    fn soft_reset(&self, reset: Reset) -> &'static ReadWrite<u32> {
        match reset {
            Reset::Rbg => &self.registers.rbg_soft_reset,
            Reset::Rng => &self.registers.rng_soft_reset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_memory::RegisterMemory;

    /// Words in the register block.
    const WORDS: usize = 0x28 / 4;

    const CONTROL: usize = 0x00;
    const RNG_SOFT_RESET: usize = 0x04;
    const RBG_SOFT_RESET: usize = 0x08;
    const INT_STATUS: usize = 0x18;
    const FIFO_DATA: usize = 0x20;
    const FIFO_COUNT: usize = 0x24;

    fn device() -> (&'static RegisterMemory<WORDS>, IprocRng200) {
        let memory = RegisterMemory::<WORDS>::leak();
        // SAFETY: (test) the memory is as large as the register block and lives forever.
        let registers = unsafe { memory.as_registers::<Registers>() };
        (memory, IprocRng200::new(registers))
    }

    /// A fake generator, run between the driver's polls: emulates write-one-to-clear on
    /// the all-ones clear of `RNG_INT_STATUS`, optionally raises `error` again after it, and
    /// offers `words` one at a time (count 1) while the generator is enabled, out of reset
    /// and error-free. A word offered at one call was consumed by the next: the driver reads
    /// the data whenever the count is non-zero and the status is clean.
    struct FakeGenerator {
        memory: &'static RegisterMemory<WORDS>,
        words: Vec<u32>,
        offered: usize,
        clears: u32,
        error_again: Option<u32>,
        calls: u32,
        polls: u32,
    }

    impl FakeGenerator {
        fn new(memory: &'static RegisterMemory<WORDS>, words: &[u32]) -> Self {
            Self { memory, words: words.to_vec(), offered: 0, clears: 0, error_again: None, calls: 0, polls: 100 }
        }
    }

    impl Deadline for FakeGenerator {
        fn passed(&mut self) -> bool {
            let memory = self.memory;
            self.calls += 1;
            if memory.get(INT_STATUS) == CLEAR_ALL {
                self.clears += 1;
                memory.set(INT_STATUS, self.error_again.unwrap_or(0));
            }
            memory.set(FIFO_COUNT, 0);
            let running = memory.get(CONTROL) & RBGEN_MASK == RBGEN_ENABLE
                && memory.get(RNG_SOFT_RESET) & SOFT_RESET == 0
                && memory.get(RBG_SOFT_RESET) & SOFT_RESET == 0
                && memory.get(INT_STATUS) & ERROR_BITS == 0;
            if running && let Some(&word) = self.words.get(self.offered) {
                memory.set(FIFO_DATA, word);
                memory.set(FIFO_COUNT, 1);
                self.offered += 1;
            }
            self.polls = self.polls.saturating_sub(1);
            self.polls == 0
        }
    }

    /// Counts down polls, changing nothing.
    struct Polls(u32);

    impl Deadline for Polls {
        fn passed(&mut self) -> bool {
            self.0 = self.0.saturating_sub(1);
            self.0 == 0
        }
    }

    const WORDS_OUT: [u32; 8] =
        [0x0302_0100, 0x0706_0504, 0x0b0a_0908, 0x0f0e_0d0c, 0x1312_1110, 0x1716_1514, 0x1b1a_1918, 0x1f1e_1d1c];

    #[test]
    fn the_register_block_has_the_linux_offsets() {
        assert_eq!(core::mem::offset_of!(Registers, control), 0x00);
        assert_eq!(core::mem::offset_of!(Registers, rng_soft_reset), 0x04);
        assert_eq!(core::mem::offset_of!(Registers, rbg_soft_reset), 0x08);
        assert_eq!(core::mem::offset_of!(Registers, interrupt_status), 0x18);
        assert_eq!(core::mem::offset_of!(Registers, fifo_data), 0x20);
        assert_eq!(core::mem::offset_of!(Registers, fifo_count), 0x24);
        assert_eq!(core::mem::size_of::<Registers>(), 0x28, "the device tree's reg size");
        assert_eq!(ERROR_BITS, 0x8000_0020);
    }

    #[test]
    fn the_restart_is_iproc_rng200_restart_in_order() {
        assert_eq!(
            RESTART,
            [
                Step::Disable,
                Step::ClearStatus,
                Step::Hold(Reset::Rbg),
                Step::Hold(Reset::Rng),
                Step::Release(Reset::Rng),
                Step::Release(Reset::Rbg),
                Step::Enable,
            ]
        );
    }

    /// Fills `length` bytes from a generator offering `WORDS_OUT`; the bytes and how many
    /// words were offered.
    fn filled(length: usize) -> (Vec<u8>, FakeGenerator) {
        let (memory, mut rng) = device();
        let mut generator = FakeGenerator::new(memory, &WORDS_OUT);
        let mut out = vec![0xaau8; length];
        assert_eq!(rng.fill(&mut out, &mut generator), Ok(()));
        (out, generator)
    }

    #[test]
    fn thirty_two_bytes_are_the_fifo_words_little_endian_in_order() {
        let (out, generator) = filled(32);
        assert_eq!(out, (0..32).collect::<Vec<u8>>());
        assert_eq!(generator.offered, 8);
        assert_eq!(generator.clears, 0, "no restart without an error");
    }

    #[test]
    fn a_partial_last_word_gives_its_low_bytes() {
        let (out, generator) = filled(30);
        assert_eq!(out, (0..30).collect::<Vec<u8>>());
        assert_eq!(generator.offered, 8, "the last word is read whole and half used");
    }

    #[test]
    fn nothing_asked_reads_nothing() {
        let (memory, mut rng) = device();
        let mut generator = FakeGenerator::new(memory, &WORDS_OUT);
        assert_eq!(rng.fill(&mut [], &mut generator), Ok(()));
        assert_eq!(generator.calls, 0);
        assert_eq!(memory.get(CONTROL), RBGEN_ENABLE, "the generator is still enabled");
    }

    #[test]
    fn enabling_writes_the_enable_value_and_keeps_the_other_bits() {
        let (memory, mut rng) = device();
        memory.set(CONTROL, 0xffff_e000);
        let mut generator = FakeGenerator::new(memory, &WORDS_OUT);
        assert_eq!(rng.fill(&mut [0u8; 4], &mut generator), Ok(()));
        assert_eq!(memory.get(CONTROL), 0xffff_e001);
    }

    #[test]
    fn an_enabled_generator_is_left_as_the_firmware_set_it() {
        let (memory, mut rng) = device();
        memory.set(CONTROL, (3 << 13) | RBGEN_MASK);
        memory.set(FIFO_DATA, 0x1234_5678);
        memory.set(FIFO_COUNT, 1);
        let mut out = [0u8; 4];
        assert_eq!(rng.fill(&mut out, &mut Polls(10)), Ok(()));
        assert_eq!(memory.get(CONTROL), (3 << 13) | RBGEN_MASK);
        assert_eq!(out, 0x1234_5678u32.to_le_bytes());
    }

    #[test]
    fn a_generator_that_never_fills_times_out_after_the_deadlines_polls() {
        let (memory, mut rng) = device();
        let mut generator = FakeGenerator::new(memory, &[]);
        generator.polls = 25;
        assert_eq!(rng.fill(&mut [0u8; 32], &mut generator), Err(RngError::NoAnswerBeforeDeadline));
        assert_eq!(generator.calls, 25, "exactly the deadline's polls");
    }

    #[test]
    fn a_deadline_that_passes_between_words_ends_the_fill() {
        let (memory, mut rng) = device();
        let mut generator = FakeGenerator::new(memory, &WORDS_OUT[..2]);
        let mut out = [0u8; 32];
        assert_eq!(rng.fill(&mut out, &mut generator), Err(RngError::NoAnswerBeforeDeadline));
        assert_eq!(generator.calls, 100);
        assert_eq!(&out[..8], &(0..8).collect::<Vec<u8>>()[..]);
    }

    #[test]
    fn an_error_restarts_the_generator_once_then_reads_on() {
        let (memory, mut rng) = device();
        memory.set(CONTROL, RBGEN_ENABLE);
        memory.set(INT_STATUS, MASTER_FAIL_LOCKOUT);
        memory.set(RNG_SOFT_RESET, 0x0000_0100);
        memory.set(RBG_SOFT_RESET, 0x0000_0200);
        let mut generator = FakeGenerator::new(memory, &WORDS_OUT);
        let mut out = [0u8; 32];
        assert_eq!(rng.fill(&mut out, &mut generator), Ok(()));
        assert_eq!(out.to_vec(), (0..32).collect::<Vec<u8>>());
        assert_eq!(generator.clears, 1, "one all-ones clear of the status");
        assert_eq!(memory.get(RNG_SOFT_RESET), 0x0000_0100, "reset bit released, others kept");
        assert_eq!(memory.get(RBG_SOFT_RESET), 0x0000_0200, "reset bit released, others kept");
        assert_eq!(memory.get(CONTROL) & RBGEN_MASK, RBGEN_ENABLE, "enabled again");
    }

    #[test]
    fn a_restart_holds_then_releases_both_resets() {
        let (memory, rng) = device();
        memory.set(CONTROL, RBGEN_ENABLE);
        rng.apply(Step::Disable);
        assert_eq!(memory.get(CONTROL), 0);
        rng.apply(Step::Hold(Reset::Rbg));
        rng.apply(Step::Hold(Reset::Rng));
        assert_eq!((memory.get(RBG_SOFT_RESET), memory.get(RNG_SOFT_RESET)), (1, 1));
        rng.apply(Step::Release(Reset::Rng));
        assert_eq!((memory.get(RBG_SOFT_RESET), memory.get(RNG_SOFT_RESET)), (1, 0));
        rng.apply(Step::Release(Reset::Rbg));
        assert_eq!((memory.get(RBG_SOFT_RESET), memory.get(RNG_SOFT_RESET)), (0, 0));
        rng.apply(Step::ClearStatus);
        assert_eq!(memory.get(INT_STATUS), CLEAR_ALL);
        rng.apply(Step::Enable);
        assert_eq!(memory.get(CONTROL), RBGEN_ENABLE);
    }

    #[test]
    fn an_error_that_persists_after_the_restart_fails_with_its_bits() {
        let (memory, mut rng) = device();
        memory.set(CONTROL, RBGEN_ENABLE);
        memory.set(INT_STATUS, NIST_FAIL | 0x0002_0000);
        let mut generator = FakeGenerator::new(memory, &WORDS_OUT);
        generator.error_again = Some(NIST_FAIL | 0x0002_0000);
        assert_eq!(rng.fill(&mut [0u8; 32], &mut generator), Err(RngError::Failed { status: NIST_FAIL }));
        assert_eq!(generator.clears, 1, "one restart only");
        assert_eq!(generator.offered, 0);
    }
}
