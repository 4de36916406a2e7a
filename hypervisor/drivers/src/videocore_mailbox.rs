//! The VideoCore mailbox of the BCM2711 (Raspberry Pi 4; `brcm,bcm2835-mbox`), as far as the
//! display mediator's `rpi4-mailbox` backend needs it: one property-channel request at boot
//! that asks the firmware for a framebuffer, and the copy of damaged rectangles into that
//! framebuffer after each frame.
//!
//! Facts used, and where they come from:
//!
//! * Registers (Raspberry Pi firmware wiki, "Mailboxes" and "Accessing mailboxes"; QEMU
//!   `hw/misc/bcm2835_mbox.c` models the same offsets): mailbox 0 (VideoCore → ARM) has its
//!   read register at +0x00 and its status at +0x18; mailbox 1 (ARM → VideoCore) has its write
//!   register at +0x20 and its status at +0x38. Status bit 31 is *full*, bit 30 *empty*.
//! * A mail is a 32-bit word: the message's bus address in bits 31:4 (so the message is
//!   16-byte aligned), the channel in bits 3:0; the property channel is 8 (firmware wiki,
//!   "Mailbox property interface", "Mailbox messages").
//! * A property message (same page, "Buffer contents"): `u32` total size in bytes (a multiple
//!   of 16 here: the buffer is padded), `u32` code (request 0; response `0x8000_0000` success,
//!   `0x8000_0001` parse error), the tags, an end tag `0`. A tag is `u32` id, `u32` value
//!   buffer size in bytes, `u32` request/response code (request: 0; response: bit 31 set, bits
//!   30:0 the value length), then the value buffer. The response overwrites the request.
//! * Framebuffer tags (same page, "Frame buffer"): allocate buffer `0x0004_0001` (request:
//!   alignment in bytes; response: base bus address, size in bytes), set physical
//!   (display) width/height `0x0004_8003`, set virtual (buffer) width/height `0x0004_8004`,
//!   set depth `0x0004_8005` (bits per pixel), set pixel order `0x0004_8006` (0 = BGR,
//!   1 = RGB), get pitch `0x0004_0008` (bytes per line). The firmware allocates the buffer
//!   itself in the VideoCore's share of RAM: no tag points it at a buffer of ours, which is why
//!   the backend copies (`docs/display.md`).
//! * Pixel order 0 ("BGR" in the wiki's words) is the byte order of XRGB8888 in little-endian
//!   memory: blue in the lowest byte. QEMU's `hw/display/bcm2835_fb.c` reads a 32-bit pixel's
//!   lowest byte as red and swaps red and blue when the order is 0.
//! * Bus addresses (BCM2711 device tree `/soc` `dma-ranges`: bus `0xc000_0000` is ARM
//!   physical 0 for 1 GiB): the VideoCore sees the ARM's first GiB at `0xc000_0000`, so a
//!   message in it is mailed as `0xc000_0000 | address`; a bus address handed back is an ARM
//!   physical address once bits 31:30 are cleared.

use bulkhead_core::display::Rect;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! [u32,
    /// A mailbox's status register.
    STATUS [
        /// No room for another mail.
        FULL OFFSET(31) NUMBITS(1) [],
        /// No mail to read.
        EMPTY OFFSET(30) NUMBITS(1) [],
    ],
];

register_structs! {
    /// The ARM's view of the two mailboxes (base `0xfe00_b880` on the Raspberry Pi 4).
    pub Registers {
        /// Mailbox 0 (VideoCore → ARM): the next mail.
        (0x00 => read: ReadOnly<u32>),
        (0x04 => _reserved0),
        /// Mailbox 0's status: `EMPTY` when there is nothing to read.
        (0x18 => read_status: ReadOnly<u32, STATUS::Register>),
        (0x1c => _reserved1),
        /// Mailbox 1 (ARM → VideoCore): a mail for the firmware.
        (0x20 => write: WriteOnly<u32>),
        (0x24 => _reserved2),
        /// Mailbox 1's status: `FULL` when the firmware has not taken the last mails.
        (0x38 => write_status: ReadOnly<u32, STATUS::Register>),
        (0x3c => _reserved3),
        (0x40 => @END),
    }
}

/// The property channel (ARM request, VideoCore response).
pub const PROPERTY_CHANNEL: u32 = 8;
/// A message's request code.
const REQUEST: u32 = 0;
/// A message's response code when the firmware processed it.
const RESPONSE_SUCCESS: u32 = 0x8000_0000;
/// A tag's response code: bit 31 set, the value length below it.
const TAG_RESPONSE: u32 = 0x8000_0000;
/// Bus address of the ARM's physical address 0 (`dma-ranges` of the BCM2711 `/soc`).
const BUS_ALIAS: u32 = 0xc000_0000;
/// The ARM address bits of a bus address in the aliases of the first GiB.
const BUS_ADDRESS_MASK: u32 = 0x3fff_ffff;

/// Allocate buffer: alignment in; base bus address and size out.
const TAG_ALLOCATE_BUFFER: u32 = 0x0004_0001;
/// Set physical (display) width and height.
const TAG_SET_PHYSICAL_SIZE: u32 = 0x0004_8003;
/// Set virtual (buffer) width and height.
const TAG_SET_VIRTUAL_SIZE: u32 = 0x0004_8004;
/// Set depth in bits per pixel.
const TAG_SET_DEPTH: u32 = 0x0004_8005;
/// Set pixel order (0 BGR, 1 RGB).
const TAG_SET_PIXEL_ORDER: u32 = 0x0004_8006;
/// Get pitch: bytes per line out.
const TAG_GET_PITCH: u32 = 0x0004_0008;

/// 32 bits per pixel: XRGB8888.
const DEPTH: u32 = 32;
/// Pixel order 0: blue in the lowest byte, as XRGB8888 in little-endian memory.
const PIXEL_ORDER_BGR: u32 = 0;
/// Alignment asked of the buffer (a page).
const BUFFER_ALIGNMENT: u32 = 4096;

/// Words of the framebuffer request: header (2), six tags, end tag, padding to 16 bytes.
pub const MESSAGE_WORDS: usize = 32;

// Word offsets of the tags in [`framebuffer_request`] (each tag's id word; a tag is three
// header words and its values).
/// Set physical size: after the message's two header words.
const PHYSICAL_AT: usize = 2;
/// Set virtual size: after set physical size's five words.
const VIRTUAL_AT: usize = 7;
/// Set depth: after set virtual size's five words.
const DEPTH_AT: usize = 12;
/// Set pixel order: after set depth's four words.
const ORDER_AT: usize = 16;
/// Allocate buffer: after set pixel order's four words.
const ALLOCATE_AT: usize = 20;
/// Get pitch: after allocate buffer's five words.
const PITCH_AT: usize = 25;
/// The end tag: after get pitch's four words.
const END_AT: usize = 29;
const _: () = assert!(END_AT < MESSAGE_WORDS && (MESSAGE_WORDS * 4).is_multiple_of(16));

/// A property message, 16-byte aligned as the mailbox requires (the address's low four bits
/// carry the channel).
#[repr(C, align(16))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message(pub [u32; MESSAGE_WORDS]);

impl Message {
    /// An all-zero message (for a `static`).
    pub const fn new() -> Self {
        Self([0; MESSAGE_WORDS])
    }

    /// Its physical address (the hypervisor's map is the identity): what is mailed, and what
    /// is cleaned to the point of coherency before.
    pub fn physical_address(&self) -> u64 {
        core::ptr::from_ref(self) as u64
    }
}

impl Default for Message {
    fn default() -> Self {
        Self::new()
    }
}

/// What went wrong asking for the framebuffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailboxError {
    /// The message is not 16-byte aligned or not in the ARM's first GiB (no bus address).
    MessageAddress,
    /// Mailbox 1 stayed full for the whole bounded wait.
    WriteTimeout,
    /// No response arrived on mailbox 0 within the bounded wait.
    ReadTimeout,
    /// The message's response code is not success (the value seen).
    Response(u32),
    /// A tag's response bit is clear or its value is shorter than expected (the tag id).
    Tag(u32),
    /// The firmware set another size, depth or pixel order than asked (the tag id).
    Refused(u32),
    /// Allocate buffer returned no buffer, or one too small for `pitch × height`.
    Buffer,
    /// The pitch is smaller than a row of pixels.
    Pitch,
}

/// The framebuffer request for a `width × height` XRGB8888 screen: physical = virtual size,
/// depth 32, pixel order BGR, allocate (page aligned), get pitch.
pub fn framebuffer_request(width: u32, height: u32) -> Message {
    let mut words = [0u32; MESSAGE_WORDS];
    let tags: [(usize, u32, &[u32]); 6] = [
        (PHYSICAL_AT, TAG_SET_PHYSICAL_SIZE, &[width, height]),
        (VIRTUAL_AT, TAG_SET_VIRTUAL_SIZE, &[width, height]),
        (DEPTH_AT, TAG_SET_DEPTH, &[DEPTH]),
        (ORDER_AT, TAG_SET_PIXEL_ORDER, &[PIXEL_ORDER_BGR]),
        (ALLOCATE_AT, TAG_ALLOCATE_BUFFER, &[BUFFER_ALIGNMENT, 0]),
        (PITCH_AT, TAG_GET_PITCH, &[0]),
    ];
    let header = [u32::try_from(core::mem::size_of::<Message>()).unwrap_or(0), REQUEST];
    for (slot, value) in words.iter_mut().zip(header) {
        *slot = value;
    }
    for (at, tag, values) in tags {
        let length = u32::try_from(values.len().saturating_mul(4)).unwrap_or(0);
        let head = [tag, length, REQUEST];
        for (slot, value) in words.iter_mut().skip(at).zip(head.iter().chain(values)) {
            *slot = *value;
        }
    }
    Message(words)
}

/// The framebuffer the firmware handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirmwareFramebuffer {
    /// ARM physical address of its first pixel.
    pub address: u64,
    /// Its size in bytes, as the firmware states it.
    pub size: u64,
    /// Bytes from one row to the next.
    pub pitch: u32,
}

/// The value words of the tag at `at` in `response`, once its response bit is set and its
/// value is at least `expected` words long.
fn tag_values(response: &Message, at: usize, tag: u32, expected: usize) -> Result<&[u32], MailboxError> {
    let words = &response.0;
    let (Some(&id), Some(&code)) = (words.get(at), words.get(at.saturating_add(2))) else {
        return Err(MailboxError::Tag(tag));
    };
    let length = usize::try_from(code & !TAG_RESPONSE).unwrap_or(0);
    if id != tag || code & TAG_RESPONSE == 0 || length < expected.saturating_mul(4) {
        return Err(MailboxError::Tag(tag));
    }
    words.get(at.saturating_add(3)..at.saturating_add(3).saturating_add(expected)).ok_or(MailboxError::Tag(tag))
}

/// The framebuffer `response` (the firmware's answer to [`framebuffer_request`]`(width,
/// height)`) describes, once every tag was answered with exactly what was asked and the
/// buffer holds `pitch × height` bytes.
pub fn framebuffer_of(response: &Message, width: u32, height: u32) -> Result<FirmwareFramebuffer, MailboxError> {
    let code = response.0.get(1).copied().unwrap_or(0);
    if code != RESPONSE_SUCCESS {
        return Err(MailboxError::Response(code));
    }
    for (at, tag, asked) in [
        (PHYSICAL_AT, TAG_SET_PHYSICAL_SIZE, &[width, height][..]),
        (VIRTUAL_AT, TAG_SET_VIRTUAL_SIZE, &[width, height][..]),
        (DEPTH_AT, TAG_SET_DEPTH, &[DEPTH][..]),
        (ORDER_AT, TAG_SET_PIXEL_ORDER, &[PIXEL_ORDER_BGR][..]),
    ] {
        if tag_values(response, at, tag, asked.len())? != asked {
            return Err(MailboxError::Refused(tag));
        }
    }
    let [base, size] = *tag_values(response, ALLOCATE_AT, TAG_ALLOCATE_BUFFER, 2)? else {
        return Err(MailboxError::Tag(TAG_ALLOCATE_BUFFER));
    };
    let [pitch] = *tag_values(response, PITCH_AT, TAG_GET_PITCH, 1)? else {
        return Err(MailboxError::Tag(TAG_GET_PITCH));
    };
    if u64::from(pitch) < u64::from(width).saturating_mul(4) {
        return Err(MailboxError::Pitch);
    }
    let address = u64::from(base & BUS_ADDRESS_MASK);
    if address == 0 || u64::from(size) < u64::from(pitch).saturating_mul(u64::from(height)) {
        return Err(MailboxError::Buffer);
    }
    Ok(FirmwareFramebuffer { address, size: u64::from(size), pitch })
}

/// The mail that hands the message at ARM physical `address` to the property channel, or
/// `None` when the address cannot be mailed (not 16-byte aligned, not in the first GiB).
pub fn property_mail(address: u64) -> Option<u32> {
    let low = u32::try_from(address).ok().filter(|low| low & 0xf == 0 && *low <= BUS_ADDRESS_MASK)?;
    Some(BUS_ALIAS | low | PROPERTY_CHANNEL)
}

/// The mailbox, owned by the hypervisor.
pub struct Mailbox {
    /// The register block (MMIO).
    registers: &'static Registers,
}

impl Mailbox {
    /// Drives the mailbox register block at `base`.
    ///
    /// # Safety
    /// `base` must be the VideoCore mailbox's register block, mapped as Device memory at EL2
    /// and driven by nobody else.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: the caller's guarantee; the registers use interior mutability.
        let registers = unsafe { &*(base as *const Registers) };
        Self { registers }
    }

    /// Sends `mail` and waits for its answer: at most `polls` status reads for room in
    /// mailbox 1 and at most `polls` for the answer in mailbox 0 (mails for other channels
    /// are read and dropped; each counts as a poll). Boot only: nothing per frame calls it.
    pub fn call(&self, mail: u32, polls: u32) -> Result<(), MailboxError> {
        // BOUND: at most `polls` reads of the status.
        let room = (0..polls).any(|_| !self.registers.write_status.is_set(STATUS::FULL));
        if !room {
            return Err(MailboxError::WriteTimeout);
        }
        // The message (written by the caller) must reach memory before the firmware is told.
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        self.registers.write.set(mail);
        // BOUND: at most `polls` reads of the status (and of mailbox 0).
        for _ in 0..polls {
            if !self.registers.read_status.is_set(STATUS::EMPTY) && self.registers.read.get() == mail {
                core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
                return Ok(());
            }
        }
        Err(MailboxError::ReadTimeout)
    }
}

/// The firmware's framebuffer as the hypervisor writes it: `height` rows of `pitch` bytes
/// at `address`, the screen's `width × height` pixels in their top-left.
pub struct FramebufferWriter {
    /// ARM physical (= EL2 virtual) address of the first pixel.
    address: usize,
    /// Words (pixels) from one row to the next.
    pitch_pixels: usize,
    /// Screen width in pixels (the scan-out buffer's row length).
    width: u32,
    /// Screen height in pixels.
    height: u32,
}

impl FramebufferWriter {
    /// Writes the framebuffer `framebuffer` of a `width × height` screen.
    ///
    /// # Safety
    /// `framebuffer.address .. + framebuffer.size` must be memory mapped at EL2 that only this
    /// writer writes, 4-byte aligned, with `pitch × height <= size` and `width × 4 <= pitch`
    /// (what [`framebuffer_of`] checked).
    pub unsafe fn new(framebuffer: FirmwareFramebuffer, width: u32, height: u32) -> Self {
        Self {
            address: usize::try_from(framebuffer.address).unwrap_or(0),
            pitch_pixels: usize::try_from(framebuffer.pitch / 4).unwrap_or(0),
            width,
            height,
        }
    }

    /// Copies `rect` of `screen` (XRGB8888, rows of `self.width` pixels) to the same place in
    /// the framebuffer, clipped to the screen: `rect.area()` word writes at most. Returns the
    /// physical range written (first to last byte, for the cache clean), or `None` when
    /// nothing was.
    pub fn copy(&self, screen: &[u32], rect: Rect) -> Option<(u64, u64)> {
        let clip = rect.intersection(Rect::new(0, 0, self.width, self.height))?;
        let width = usize::try_from(self.width).ok()?;
        let (x, columns) = (usize::try_from(clip.x).ok()?, usize::try_from(clip.width).ok()?);
        let mut written: Option<(u64, u64)> = None;
        // BOUND: `clip.height` rows of `clip.width` pixels.
        for y in clip.y..clip.y.saturating_add(clip.height) {
            let row = usize::try_from(y).ok()?;
            let Some(source) = screen.get(row.saturating_mul(width).saturating_add(x)..).and_then(|rest| rest.get(..columns))
            else {
                break;
            };
            let first = row.saturating_mul(self.pitch_pixels).saturating_add(x);
            let start = (self.address as *mut u32).wrapping_add(first);
            for (offset, pixel) in source.iter().enumerate() {
                // SAFETY: `row < height` and `x + offset < width <= pitch / 4`, so the word is
                // inside `pitch × height <= size` bytes of the framebuffer (`new`'s contract),
                // which only this writer writes; volatile, since the display engine reads it.
                unsafe { core::ptr::write_volatile(start.wrapping_add(offset), *pixel) };
            }
            let start_byte = start as u64;
            let end_byte = start_byte.saturating_add((columns as u64).saturating_mul(4));
            written = Some(written.map_or((start_byte, end_byte), |(low, _)| (low, end_byte)));
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_memory::RegisterMemory;

    /// What QEMU 10's `raspi4b` answers (`hw/misc/bcm2835_property.c`): every tag's
    /// response bit and length set, the buffer at `0x3c10_0000`.
    fn answered(width: u32, height: u32) -> Message {
        let mut message = framebuffer_request(width, height);
        message.0[1] = RESPONSE_SUCCESS;
        for (at, length) in [(PHYSICAL_AT, 8), (VIRTUAL_AT, 8), (DEPTH_AT, 4), (ORDER_AT, 4), (ALLOCATE_AT, 8), (PITCH_AT, 4)] {
            message.0[at + 2] = TAG_RESPONSE | length;
        }
        message.0[ALLOCATE_AT + 3] = 0x3c10_0000;
        message.0[ALLOCATE_AT + 4] = width * height * 4;
        message.0[PITCH_AT + 3] = width * 4;
        message
    }

    #[test]
    fn the_request_is_the_property_message_of_the_firmware_wiki() {
        let message = framebuffer_request(640, 480);
        assert_eq!(
            &message.0[..END_AT + 1],
            &[
                128, 0, // size in bytes, request
                0x0004_8003, 8, 0, 640, 480, // set physical size
                0x0004_8004, 8, 0, 640, 480, // set virtual size
                0x0004_8005, 4, 0, 32, // set depth
                0x0004_8006, 4, 0, 0, // set pixel order: BGR
                0x0004_0001, 8, 0, 4096, 0, // allocate buffer, page aligned
                0x0004_0008, 4, 0, 0, // get pitch
                0, // end tag
            ]
        );
        assert!(message.0[END_AT + 1..].iter().all(|word| *word == 0), "padding");
        assert_eq!(core::mem::align_of::<Message>(), 16);
        assert_eq!(core::mem::size_of::<Message>() % 16, 0);
    }

    #[test]
    fn a_complete_answer_gives_the_framebuffer_with_bus_bits_cleared() {
        let mut response = answered(640, 480);
        response.0[ALLOCATE_AT + 3] = 0xc000_0000 | 0x3e10_0000; // the uncached alias
        assert_eq!(
            framebuffer_of(&response, 640, 480),
            Ok(FirmwareFramebuffer { address: 0x3e10_0000, size: 640 * 480 * 4, pitch: 2560 })
        );
        assert_eq!(framebuffer_of(&answered(640, 480), 640, 480).map(|fb| fb.address), Ok(0x3c10_0000));
    }

    #[test]
    fn every_incomplete_or_different_answer_is_refused() {
        let mut failed = answered(640, 480);
        failed.0[1] = 0x8000_0001;
        assert_eq!(framebuffer_of(&failed, 640, 480), Err(MailboxError::Response(0x8000_0001)));
        let mut unanswered = answered(640, 480);
        unanswered.0[DEPTH_AT + 2] = 0;
        assert_eq!(framebuffer_of(&unanswered, 640, 480), Err(MailboxError::Tag(TAG_SET_DEPTH)));
        let mut short = answered(640, 480);
        short.0[ALLOCATE_AT + 2] = TAG_RESPONSE | 4;
        assert_eq!(framebuffer_of(&short, 640, 480), Err(MailboxError::Tag(TAG_ALLOCATE_BUFFER)));
        let mut sixteen_bits = answered(640, 480);
        sixteen_bits.0[DEPTH_AT + 3] = 16;
        assert_eq!(framebuffer_of(&sixteen_bits, 640, 480), Err(MailboxError::Refused(TAG_SET_DEPTH)));
        let mut smaller = answered(640, 480);
        smaller.0[VIRTUAL_AT + 4] = 240;
        assert_eq!(framebuffer_of(&smaller, 640, 480), Err(MailboxError::Refused(TAG_SET_VIRTUAL_SIZE)));
        let mut rgb = answered(640, 480);
        rgb.0[ORDER_AT + 3] = 1;
        assert_eq!(framebuffer_of(&rgb, 640, 480), Err(MailboxError::Refused(TAG_SET_PIXEL_ORDER)));
        let mut none = answered(640, 480);
        none.0[ALLOCATE_AT + 3] = 0;
        assert_eq!(framebuffer_of(&none, 640, 480), Err(MailboxError::Buffer));
        let mut too_small = answered(640, 480);
        too_small.0[ALLOCATE_AT + 4] = 640 * 479 * 4;
        assert_eq!(framebuffer_of(&too_small, 640, 480), Err(MailboxError::Buffer));
        let mut narrow = answered(640, 480);
        narrow.0[PITCH_AT + 3] = 2556;
        assert_eq!(framebuffer_of(&narrow, 640, 480), Err(MailboxError::Pitch));
    }

    #[test]
    fn only_aligned_messages_in_the_first_gib_can_be_mailed() {
        assert_eq!(property_mail(0x20_1000), Some(0xc020_1008));
        assert_eq!(property_mail(0x20_1004), None);
        assert_eq!(property_mail(0x4000_0000), None);
        assert_eq!(property_mail(0x1_0000_0000), None);
    }

    #[test]
    fn the_register_block_has_the_mailbox_offsets() {
        assert_eq!(core::mem::offset_of!(Registers, read), 0x00);
        assert_eq!(core::mem::offset_of!(Registers, read_status), 0x18);
        assert_eq!(core::mem::offset_of!(Registers, write), 0x20);
        assert_eq!(core::mem::offset_of!(Registers, write_status), 0x38);
        assert_eq!(core::mem::size_of::<Registers>(), 0x40);
    }

    fn mailbox(memory: &'static RegisterMemory<16>) -> Mailbox {
        // SAFETY: the block is laid out like the mailbox (`as_registers`' contract).
        let registers = unsafe { memory.as_registers::<Registers>() };
        Mailbox { registers }
    }

    #[test]
    fn a_call_writes_the_mail_and_returns_on_its_answer() {
        let memory = RegisterMemory::<16>::leak();
        memory.set(0x00, 0xc020_1008);
        assert_eq!(mailbox(memory).call(0xc020_1008, 10), Ok(()));
        assert_eq!(memory.get(0x20), 0xc020_1008);
    }

    #[test]
    fn a_call_gives_up_after_its_polls() {
        let full = RegisterMemory::<16>::leak();
        full.set(0x38, 1 << 31);
        assert_eq!(mailbox(full).call(0xc020_1008, 10), Err(MailboxError::WriteTimeout));
        assert_eq!(full.get(0x20), 0, "nothing written into a full mailbox");
        let silent = RegisterMemory::<16>::leak();
        silent.set(0x18, 1 << 30);
        assert_eq!(mailbox(silent).call(0xc020_1008, 10), Err(MailboxError::ReadTimeout));
        let other_channel = RegisterMemory::<16>::leak();
        other_channel.set(0x00, 0xc020_1009);
        assert_eq!(mailbox(other_channel).call(0xc020_1008, 10), Err(MailboxError::ReadTimeout));
    }

    #[test]
    fn a_copy_writes_exactly_the_rectangle_at_the_pitch_and_clips_to_the_screen() {
        let (width, height, pitch_pixels) = (8u32, 4u32, 10usize);
        let screen: Vec<u32> = (0..width * height).collect();
        let mut target = vec![0xdead_beef_u32; pitch_pixels * height as usize];
        let framebuffer = FirmwareFramebuffer {
            address: target.as_mut_ptr() as u64,
            size: (target.len() * 4) as u64,
            pitch: (pitch_pixels * 4) as u32,
        };
        // SAFETY: `target` is the whole framebuffer, `pitch × height` bytes, written only here.
        let writer = unsafe { FramebufferWriter::new(framebuffer, width, height) };
        let written = writer.copy(&screen, Rect::new(6, 2, 5, 5)).expect("inside the screen");
        for row in 0..height as usize {
            for column in 0..pitch_pixels {
                let inside = row >= 2 && (6..8).contains(&column);
                let want = if inside { (row * width as usize + column) as u32 } else { 0xdead_beef };
                assert_eq!(target[row * pitch_pixels + column], want, "({column}, {row})");
            }
        }
        let base = target.as_ptr() as u64;
        assert_eq!(written, (base + (2 * 10 + 6) * 4, base + (3 * 10 + 8) * 4));
        assert_eq!(writer.copy(&screen, Rect::new(8, 0, 4, 4)), None, "off the screen");
    }
}
