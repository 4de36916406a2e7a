//! The Raspberry Pi 4's firmware framebuffer (`backend = "rpi4-mailbox"`).
//!
//! At boot one property-channel request through the VideoCore mailbox asks the firmware for
//! a `width × height`, 32-bit, BGR-ordered (XRGB8888 in memory) framebuffer and its pitch
//! (`bulkhead_drivers::videocore_mailbox`, where the interface's facts are cited). The wait
//! for the answer is bounded ([`BOOT_POLLS`]); a missing or unexpected answer, or a buffer
//! outside the board's `firmware_framebuffer` window, leaves the backend off with a `[hv]`
//! line, and frames stay in RAM.
//!
//! **Copy, not scan-out.** The firmware allocates the buffer itself, in the VideoCore's share
//! of RAM; the property interface has no tag that points the display at memory of ours
//! (allocate buffer only returns one). So after each composed frame the damaged rectangles
//! are copied from the scan-out buffer into the firmware's, row by row at its pitch, and the
//! written lines cleaned to the point of coherency (the EL2 map makes the first GiB Normal
//! cacheable memory; the display engine reads RAM). Nothing per frame touches the mailbox.
//!
//! **Worst case per frame**: the first frame copies the whole screen once (`width ×
//! height` words, which the compiler proved is within one frame's budget, BH1108); every
//! later frame copies each work item's clip of the frame plan once: at most
//! `FramePlan::cost` ≤ the frame budget (`compose_rate × frame_period_us`) words for the
//! composed items plus the fail-safe rectangles' area (each at most its critical layer's
//! destination), in at most `MAX_WORK_ITEMS` rectangles, each followed by one clean of its
//! rows' bytes. The copy never holds a lock another core takes.

use bulkhead_arch_aarch64 as arch;
use bulkhead_core::addr::PhysAddr;
use bulkhead_core::display::schedule::FramePlan;
use bulkhead_core::display::{DisplayConfig, Rect};
use bulkhead_drivers::videocore_mailbox::{self, FramebufferWriter, Mailbox, Message};

use super::{BackendError, ScanOutBackend};
use crate::lock::Mutex;

/// Status reads the boot-time mailbox call may spend waiting for room and for the answer
/// (QEMU answers during the write; the firmware within microseconds).
const BOOT_POLLS: u32 = 1_000_000;

/// The property message: a `static` in the hypervisor's RAM (the first GiB on this board),
/// so the VideoCore reaches it at its bus address.
static MESSAGE: Mutex<Message> = Mutex::new(Message::new());

/// The firmware's framebuffer once the firmware handed it out, and whether the whole screen
/// was copied into it yet. Taken at boot and by the composing core only.
static FRAMEBUFFER: Mutex<Option<(FramebufferWriter, bool)>> = Mutex::new(None);

/// The Raspberry Pi 4's mailbox framebuffer.
pub(super) struct Rpi4Mailbox;

impl ScanOutBackend for Rpi4Mailbox {
    fn name(&self) -> &'static str {
        "rpi4-mailbox"
    }

    fn start(&self, display: &DisplayConfig, _pixels: &[u32]) -> Result<(), BackendError> {
        let base = usize::try_from(display.backend_registers).map_err(|_| BackendError::Registers)?;
        // SAFETY: `backend_registers` is the board's VideoCore mailbox page, which the compiler
        // added to the hypervisor's EL2 device map and keeps from every partition (BH0703);
        // only this boot-time call drives it.
        #[expect(unsafe_code, reason = "the one constructor of the mailbox driver")]
        let mailbox = unsafe { Mailbox::new(base) };
        let mut message = MESSAGE.lock();
        *message = videocore_mailbox::framebuffer_request(display.width, display.height);
        let address = message.physical_address();
        let mail = videocore_mailbox::property_mail(address).ok_or(BackendError::Mailbox(videocore_mailbox::MailboxError::MessageAddress))?;
        // The firmware reads the message from RAM, not from this core's cache.
        arch::memory::clean_to_point_of_coherency(PhysAddr(address), u64::try_from(core::mem::size_of::<Message>()).unwrap_or(0));
        mailbox.call(mail, BOOT_POLLS).map_err(BackendError::Mailbox)?;
        let framebuffer = videocore_mailbox::framebuffer_of(&message, display.width, display.height).map_err(BackendError::Mailbox)?;
        let window = display.firmware_framebuffer;
        let inside = framebuffer.address >= window.base.raw()
            && framebuffer
                .address
                .checked_add(framebuffer.size)
                .is_some_and(|end| end <= window.base.raw().saturating_add(window.size));
        if !inside {
            return Err(BackendError::OutsideWindow(framebuffer.address));
        }
        // SAFETY: the buffer lies inside `firmware_framebuffer` (checked above), which the board
        // places in a GiB the EL2 map covers and the compiler keeps from every partition
        // (BH0111): only this writer writes it. `framebuffer_of` checked `pitch × height <=
        // size` and `width × 4 <= pitch`; the firmware's buffer is page aligned (asked for).
        #[expect(unsafe_code, reason = "the one constructor of the framebuffer writer")]
        let writer = unsafe { FramebufferWriter::new(framebuffer, display.width, display.height) };
        *FRAMEBUFFER.lock() = Some((writer, false));
        Ok(())
    }

    fn frame_composed_from(&self, plan: &FramePlan, pixels: &[u32]) {
        let mut framebuffer = FRAMEBUFFER.lock();
        let Some((writer, whole_copied)) = framebuffer.as_mut() else {
            return;
        };
        let copy = |rect: Rect| {
            if let Some((start, end)) = writer.copy(pixels, rect) {
                arch::memory::clean_to_point_of_coherency(PhysAddr(start), end.saturating_sub(start));
            }
        };
        if !*whole_copied {
            copy(Rect::new(0, 0, u32::MAX, u32::MAX));
            *whole_copied = true;
            return;
        }
        for item in &plan.items {
            copy(item.clip);
        }
    }
}
