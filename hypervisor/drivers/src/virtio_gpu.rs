//! A virtio-gpu 2D device on a virtio-mmio (version 2, "modern") transport, as far as the
//! display mediator's virtio-gpu backend needs it: one resource the size of the screen whose
//! backing is the hypervisor's scan-out buffer, shown on scan-out 0, and per frame a
//! `TRANSFER_TO_HOST_2D` + `RESOURCE_FLUSH` pair for each damaged rectangle.
//!
//! Where the facts come from (OASIS *Virtual I/O Device (VIRTIO) Version 1.2*, cited by
//! section; cross-checked against Linux's `include/uapi/linux/virtio_gpu.h` and QEMU's
//! `hw/display/virtio-gpu.c`):
//!
//! * the transport and the split virtqueue: [`virtio_mmio`](crate::virtio_mmio), which
//!   cites them;
//! * §5.7: the GPU is device ID 16; the control queue is queue 0; every request starts with
//!   the 24-byte `virtio_gpu_ctrl_hdr` (`type`, `flags`, `fence_id`, `ctx_id`, `ring_idx`,
//!   padding) and is answered with one (`RESP_OK_NODATA` = 0x1100, `RESP_OK_DISPLAY_INFO` =
//!   0x1101 followed by 16 `virtio_gpu_display_one`, errors from 0x1200); the 2D commands
//!   0x0100–0x0106 and their layouts (§5.7.6.8); `B8G8R8X8_UNORM` = 2 is the format whose
//!   bytes in memory are blue, green, red, pad: a little-endian XRGB8888 word, our scan-out
//!   format (Linux's virtio-gpu driver maps `DRM_FORMAT_XRGB8888` to it the same way).
//!
//! Everything the device reads or writes lives in one [`VirtioGpu`] value that the caller
//! keeps in a `static` (its address is what the device is told, so it never moves) in
//! identity-mapped RAM. The encoding of requests, the checking of responses and the ring
//! bookkeeping are plain code, unit-tested on the host against memory laid out like the
//! register block and a fake device that answers from the rings.
//!
//! Bounds: [`VirtioGpu::start`] waits for the device with a caller-given [`Deadline`] per
//! command and returns an error when it passes; [`VirtioGpu::frame`] never waits (see its
//! documentation for the worst case).

use crate::deadline::Deadline;
use crate::virtio_mmio::{
    self, AvailableRing, DESCRIPTOR_NEXT, DESCRIPTOR_WRITE, Descriptor, Registers, SplitQueue, TransportError, UsedRing,
};
use bulkhead_core::display::Rect;
use bulkhead_core::display::damage::DamageList;

/// `DeviceID` of a GPU (§5.7.1).
pub const GPU_DEVICE_ID: u32 = 16;

/// Descriptors of the control queue: two per command slot (request, response). Sized so
/// the whole [`VirtioGpu`] stays well under the coding standard's stack-frame limit even
/// where a const initialiser builds it (MLR-19).
pub const QUEUE_SIZE: usize = 16;
/// Commands in flight at most: one slot per descriptor pair.
pub const SLOTS: usize = QUEUE_SIZE / 2;
/// Damaged rectangles flushed per frame at most: a transfer and a flush each, so one frame
/// fits the slots; more rectangles collapse into their bounding box (never less redrawn).
pub const FLUSH_RECTS: usize = SLOTS / 2;

/// Control types (§5.7.6.7, `enum virtio_gpu_ctrl_type`).
pub mod command {
    /// `VIRTIO_GPU_CMD_GET_DISPLAY_INFO`.
    pub const GET_DISPLAY_INFO: u32 = 0x0100;
    /// `VIRTIO_GPU_CMD_RESOURCE_CREATE_2D`.
    pub const RESOURCE_CREATE_2D: u32 = 0x0101;
    /// `VIRTIO_GPU_CMD_SET_SCANOUT`.
    pub const SET_SCANOUT: u32 = 0x0103;
    /// `VIRTIO_GPU_CMD_RESOURCE_FLUSH`.
    pub const RESOURCE_FLUSH: u32 = 0x0104;
    /// `VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D`.
    pub const TRANSFER_TO_HOST_2D: u32 = 0x0105;
    /// `VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING`.
    pub const RESOURCE_ATTACH_BACKING: u32 = 0x0106;
    /// `VIRTIO_GPU_RESP_OK_NODATA`.
    pub const OK_NODATA: u32 = 0x1100;
    /// `VIRTIO_GPU_RESP_OK_DISPLAY_INFO`.
    pub const OK_DISPLAY_INFO: u32 = 0x1101;
}

/// `VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM` (§5.7.6.8): bytes B, G, R, X in memory, which is an
/// XRGB8888 word stored little-endian.
pub const FORMAT_B8G8R8X8: u32 = 2;
/// The one resource the backend creates.
pub const RESOURCE_ID: u32 = 1;
/// The scan-out the screen is shown on.
pub const SCANOUT: u32 = 0;

/// Bytes of `virtio_gpu_ctrl_hdr`.
const HEADER_BYTES: usize = 24;
/// Bytes of the largest request (`RESOURCE_ATTACH_BACKING` with one `virtio_gpu_mem_entry`:
/// 32 + 16; `TRANSFER_TO_HOST_2D` is 56).
pub const REQUEST_BYTES: usize = 64;
/// Bytes of the largest response (`virtio_gpu_resp_display_info`: the header and 16
/// 24-byte `virtio_gpu_display_one`), which only slot 0 receives.
pub const RESPONSE_BYTES: usize = HEADER_BYTES + 16 * 24;

/// What can go wrong with the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpuError {
    /// The transport is not a modern virtio-mmio GPU, refused the setup, or did not answer
    /// a command before the deadline.
    Transport(TransportError),
/// The device answered `command` with `response` instead of success.
    Refused {
        /// The request's control type.
        command: u32,
        /// The response's control type.
        response: u32,
    },
    /// Scan-out 0 is not enabled in the display information.
    NoScanout,
    /// The screen does not fit the device's 32-bit sizes or the buffer is too small.
    Size,
    /// More commands than free slots (a bug: frames only submit when the queue is idle).
    QueueFull,
}


/// Writes `value` little-endian at `offset` of `bytes` (out-of-range writes are dropped;
/// every caller writes inside [`REQUEST_BYTES`]).
fn put_u32(bytes: &mut [u8], offset: usize, value: u32) {
    if let Some(field) = bytes.get_mut(offset..offset.saturating_add(4)) {
        field.copy_from_slice(&value.to_le_bytes());
    }
}

/// Writes `value` little-endian at `offset` of `bytes`.
fn put_u64(bytes: &mut [u8], offset: usize, value: u64) {
    if let Some(field) = bytes.get_mut(offset..offset.saturating_add(8)) {
        field.copy_from_slice(&value.to_le_bytes());
    }
}

/// Reads the little-endian word at `offset` of `bytes` (0 past the end).
fn get_u32(bytes: &[u8], offset: usize) -> u32 {
    bytes
        .get(offset..offset.saturating_add(4))
        .and_then(|field| <[u8; 4]>::try_from(field).ok())
        .map_or(0, u32::from_le_bytes)
}

/// Writes a `virtio_gpu_rect` at `offset`.
fn put_rect(bytes: &mut [u8], offset: usize, rect: Rect) {
    for (index, value) in [rect.x, rect.y, rect.width, rect.height].into_iter().enumerate() {
        put_u32(bytes, offset.saturating_add(index.saturating_mul(4)), value);
    }
}

/// One encoded request: its bytes and how many of them the device reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// The request, little-endian as the device reads it (§5.7.6.7).
    pub bytes: [u8; REQUEST_BYTES],
    /// Bytes used.
    pub length: u32,
    /// The response type that means success.
    pub success: u32,
}

impl Request {
    /// A request of control type `kind`, `length` bytes, header zeroed but for the type.
    fn new(kind: u32, length: u32, success: u32) -> Self {
        let mut bytes = [0; REQUEST_BYTES];
        put_u32(&mut bytes, 0, kind);
        Self { bytes, length, success }
    }

    /// The control type.
    pub fn kind(&self) -> u32 {
        get_u32(&self.bytes, 0)
    }

    /// `GET_DISPLAY_INFO`: the header alone.
    pub fn get_display_info() -> Self {
        Self::new(command::GET_DISPLAY_INFO, 24, command::OK_DISPLAY_INFO)
    }

    /// `RESOURCE_CREATE_2D` (`resource_id`, `format`, `width`, `height`: 40 bytes).
    pub fn resource_create_2d(width: u32, height: u32) -> Self {
        let mut request = Self::new(command::RESOURCE_CREATE_2D, 40, command::OK_NODATA);
        put_u32(&mut request.bytes, 24, RESOURCE_ID);
        put_u32(&mut request.bytes, 28, FORMAT_B8G8R8X8);
        put_u32(&mut request.bytes, 32, width);
        put_u32(&mut request.bytes, 36, height);
        request
    }

    /// `RESOURCE_ATTACH_BACKING` with one `virtio_gpu_mem_entry` (`resource_id`,
    /// `nr_entries`, then `addr`, `length`, padding: 48 bytes).
    pub fn resource_attach_backing(address: u64, length: u32) -> Self {
        let mut request = Self::new(command::RESOURCE_ATTACH_BACKING, 48, command::OK_NODATA);
        put_u32(&mut request.bytes, 24, RESOURCE_ID);
        put_u32(&mut request.bytes, 28, 1);
        put_u64(&mut request.bytes, 32, address);
        put_u32(&mut request.bytes, 40, length);
        request
    }

    /// `SET_SCANOUT` (`r`, `scanout_id`, `resource_id`: 48 bytes).
    pub fn set_scanout(screen: Rect) -> Self {
        let mut request = Self::new(command::SET_SCANOUT, 48, command::OK_NODATA);
        put_rect(&mut request.bytes, 24, screen);
        put_u32(&mut request.bytes, 40, SCANOUT);
        put_u32(&mut request.bytes, 44, RESOURCE_ID);
        request
    }

    /// `TRANSFER_TO_HOST_2D` of `rect` (`r`, `offset` of its first byte in the backing,
    /// `resource_id`, padding: 56 bytes); `stride` is the backing's bytes per row.
    pub fn transfer_to_host_2d(rect: Rect, stride: u32) -> Self {
        let mut request = Self::new(command::TRANSFER_TO_HOST_2D, 56, command::OK_NODATA);
        put_rect(&mut request.bytes, 24, rect);
        let offset = u64::from(rect.y)
            .saturating_mul(u64::from(stride))
            .saturating_add(u64::from(rect.x).saturating_mul(4));
        put_u64(&mut request.bytes, 40, offset);
        put_u32(&mut request.bytes, 48, RESOURCE_ID);
        request
    }

    /// `RESOURCE_FLUSH` of `rect` (`r`, `resource_id`, padding: 48 bytes).
    pub fn resource_flush(rect: Rect) -> Self {
        let mut request = Self::new(command::RESOURCE_FLUSH, 48, command::OK_NODATA);
        put_rect(&mut request.bytes, 24, rect);
        put_u32(&mut request.bytes, 40, RESOURCE_ID);
        request
    }
}

/// Whether `response` answers `request` with success.
pub fn check_response(request: &Request, response: &[u8]) -> Result<(), GpuError> {
    let kind = get_u32(response, 0);
    if kind == request.success {
        Ok(())
    } else {
        Err(GpuError::Refused { command: request.kind(), response: kind })
    }
}

/// Scan-out 0 of a `virtio_gpu_resp_display_info` (`r` then `enabled`), if enabled.
pub fn first_scanout(response: &[u8]) -> Option<Rect> {
    let at = |index: usize| get_u32(response, HEADER_BYTES.saturating_add(index.saturating_mul(4)));
    (at(4) != 0).then(|| Rect::new(at(0), at(1), at(2), at(3)))
}

/// A response buffer, aligned for the header's word reads.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug)]
pub struct Response(pub [u8; HEADER_BYTES]);

/// Slot 0's response buffer, large enough for the display information (the boot commands
/// run one at a time, so always in slot 0; frame commands only need the header).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug)]
pub struct LargeResponse(pub [u8; RESPONSE_BYTES]);

/// Everything the device reads or writes: the rings and each slot's request and response.
/// Slot `n` is the chain of descriptors `2n` (request) and `2n + 1` (response).
#[repr(C, align(16))]
#[derive(Debug)]
pub struct QueueMemory {
    /// The split queue's rings.
    pub rings: SplitQueue<QUEUE_SIZE>,
    /// Requests, one per slot.
    pub requests: [[u8; REQUEST_BYTES]; SLOTS],
    /// Responses of slots 1 and up (slot 0's is `large_response`; entry 0 is unused).
    pub responses: [Response; SLOTS],
    /// Slot 0's response.
    pub large_response: LargeResponse,
}

/// The GPU, its control queue and the frame state; kept in a `static` (never moved: the
/// device holds its addresses).
pub struct VirtioGpu {
    /// The transport, once started.
    registers: Option<&'static Registers>,
    /// The control queue's memory.
    queue: QueueMemory,
    /// The requests of the commands in flight, by slot, to check their answers.
    in_flight: [Option<Request>; SLOTS],
    /// Chains offered so far (the available index we wrote last).
    offered: u16,
    /// Damage not yet sent to the device (this frame's and any carried from frames the
    /// device had not finished).
    pending: DamageList<FLUSH_RECTS>,
    /// Bytes per row of the scan-out buffer.
    stride: u32,
    /// The screen.
    screen: Rect,
}

// SAFETY: the register block is MMIO, reachable identically from every core, and the rest is
// plain memory; `VirtioGpu` methods take `&mut self`, so whoever holds it (the display
// backend, behind its lock) serialises every access to the transport and the queue.
unsafe impl Send for VirtioGpu {}

impl VirtioGpu {
    /// A GPU not started yet.
    pub const fn new() -> Self {
        const NO_REQUEST: Option<Request> = None;
        Self {
            registers: None,
            queue: QueueMemory {
                rings: SplitQueue::new(),
                requests: [[0; REQUEST_BYTES]; SLOTS],
                responses: [Response([0; HEADER_BYTES]); SLOTS],
                large_response: LargeResponse([0; RESPONSE_BYTES]),
            },
            in_flight: [NO_REQUEST; SLOTS],
            offered: 0,
            pending: DamageList::new(),
            stride: 0,
            screen: Rect::new(0, 0, 0, 0),
        }
    }

    /// Checks that `registers` is a modern virtio-mmio transport holding a GPU.
    pub fn identify(registers: &Registers) -> Result<(), GpuError> {
        virtio_mmio::identify(registers, GPU_DEVICE_ID).map_err(GpuError::Transport)
    }

    /// Initialises the GPU behind `registers` and shows `pixels` (XRGB8888, `width ×
    /// height`, rows of `width` pixels, identity-mapped: its address is the one the device
    /// reads, and it must stay in place for the rest of the program) on scan-out 0. Waits
    /// for each command at most until `deadline` passes. The whole screen is flushed with the
    /// first frame.
    pub fn start(
        &mut self,
        registers: &'static Registers,
        pixels: &[u32],
        width: u32,
        height: u32,
        deadline: &mut dyn Deadline,
    ) -> Result<(), GpuError> {
        Self::identify(registers)?;
        let stride = width.checked_mul(4).ok_or(GpuError::Size)?;
        let bytes = stride.checked_mul(height).ok_or(GpuError::Size)?;
        if usize::try_from(bytes).map_or(true, |needed| needed > core::mem::size_of_val(pixels)) {
            return Err(GpuError::Size);
        }
        let address = pixels.as_ptr() as u64;
        self.stride = stride;
        self.screen = Rect::new(0, 0, width, height);
        self.initialise_transport(registers, deadline)?;
        self.registers = Some(registers);
        let info = self.run(Request::get_display_info(), deadline)?;
        if first_scanout(&info).is_none() {
            return Err(GpuError::NoScanout);
        }
        for request in [
            Request::resource_create_2d(width, height),
            Request::resource_attach_backing(address, bytes),
            Request::set_scanout(self.screen),
        ] {
            self.run(request, deadline)?;
        }
        self.pending.clear();
        self.pending.add(self.screen);
        Ok(())
    }

    /// Prepares the control queue and initialises the transport with it.
    fn initialise_transport(&mut self, registers: &Registers, deadline: &mut dyn Deadline) -> Result<(), GpuError> {
        self.prepare_queue();
        virtio_mmio::initialise(registers, self.queue.rings.addresses(), deadline).map_err(GpuError::Transport)
    }

    /// Links each slot's two descriptors to its request and response buffers, once.
    fn prepare_queue(&mut self) {
        let queue = &mut self.queue;
        queue.rings.available = AvailableRing::new();
        queue.rings.used = UsedRing::new();
        self.offered = 0;
        self.in_flight = [None; SLOTS];
        for slot in 0..SLOTS {
            let request = queue.requests.get(slot).map_or(0, |request| request.as_ptr() as u64);
            let (response, response_length) = if slot == 0 {
                (queue.large_response.0.as_ptr() as u64, RESPONSE_BYTES)
            } else {
                (queue.responses.get(slot).map_or(0, |response| response.0.as_ptr() as u64), HEADER_BYTES)
            };
            let head = slot.saturating_mul(2);
            if let Some(descriptor) = queue.rings.descriptors.get_mut(head) {
                *descriptor = Descriptor {
                    address: request,
                    length: 0,
                    flags: DESCRIPTOR_NEXT,
                    next: u16::try_from(head.saturating_add(1)).unwrap_or(0),
                };
            }
            if let Some(descriptor) = queue.rings.descriptors.get_mut(head.saturating_add(1)) {
                *descriptor = Descriptor {
                    address: response,
                    length: u32::try_from(response_length).unwrap_or(0),
                    flags: DESCRIPTOR_WRITE,
                    next: 0,
                };
            }
        }
    }

    /// Whether every command offered has been answered.
    pub fn idle(&self) -> bool {
        self.queue.rings.used.device_index() == self.offered
    }

    /// Slot `slot`'s response buffer (slot 0's is the large one).
    fn response(&self, slot: usize) -> &[u8] {
        if slot == 0 {
            &self.queue.large_response.0
        } else {
            self.queue.responses.get(slot).map_or(&[], |response| &response.0)
        }
    }

    /// Places `request` in a free slot and offers it, without telling the device.
    fn offer(&mut self, request: Request) -> Result<(), GpuError> {
        let slot = self.in_flight.iter().position(Option::is_none).ok_or(GpuError::QueueFull)?;
        let head = slot.saturating_mul(2);
        let (Some(bytes), Some(descriptor)) = (self.queue.requests.get_mut(slot), self.queue.rings.descriptors.get_mut(head))
        else {
            return Err(GpuError::QueueFull);
        };
        *bytes = request.bytes;
        descriptor.length = request.length;
        // A stale success must not count for this command.
        let header = if slot == 0 {
            self.queue.large_response.0.get_mut(..HEADER_BYTES)
        } else {
            self.queue.responses.get_mut(slot).and_then(|response| response.0.get_mut(..HEADER_BYTES))
        };
        header.into_iter().for_each(|stale| stale.fill(0));
        let position = usize::from(self.offered) % QUEUE_SIZE;
        if let Some(entry) = self.queue.rings.available.ring.get_mut(position) {
            *entry = u16::try_from(head).unwrap_or(0);
        }
        self.offered = self.offered.wrapping_add(1);
        if let Some(flight) = self.in_flight.get_mut(slot) {
            *flight = Some(request);
        }
        Ok(())
    }

    /// Publishes the offered chains and notifies queue 0.
    fn kick(&mut self) {
        if let Some(registers) = self.registers {
            virtio_mmio::publish(registers, &mut self.queue.rings.available, self.offered);
        }
    }

    /// Checks the answers of every command in flight (call only when [`Self::idle`]) and
    /// frees their slots; the first failure is returned.
    fn collect(&mut self) -> Result<(), GpuError> {
        let mut result = Ok(());
        for slot in 0..SLOTS {
            let Some(request) = self.in_flight.get_mut(slot).and_then(Option::take) else {
                continue;
            };
            let mut header = [0u8; 4];
            for (byte, source) in header.iter_mut().zip(self.response(slot).iter()) {
                // SAFETY: `source` is a byte of the slot's response buffer in `self.queue`, a
                // valid reference; the device wrote it by DMA, so the read is volatile.
                *byte = unsafe { core::ptr::read_volatile(source) };
            }
            if result.is_ok() {
                result = check_response(&request, &header);
            }
        }
        result
    }

    /// Sends one command and waits for its answer until `deadline` (boot only); returns the
    /// response.
    fn run(&mut self, request: Request, deadline: &mut dyn Deadline) -> Result<[u8; RESPONSE_BYTES], GpuError> {
        self.offer(request)?;
        self.kick();
        // BOUND: until the deadline.
        while !self.idle() {
            if deadline.passed() {
                return Err(GpuError::Transport(TransportError::NoAnswerBeforeDeadline));
            }
        }
        let slot = self.in_flight.iter().position(Option::is_some).unwrap_or(0);
        let mut response = [0; RESPONSE_BYTES];
        for (byte, source) in response.iter_mut().zip(self.response(slot).iter()) {
            // SAFETY: `source` is a byte of the slot's response buffer in `self.queue`, a valid
            // reference; the device wrote it by DMA, so the read is volatile.
            *byte = unsafe { core::ptr::read_volatile(source) };
        }
        self.collect()?;
        Ok(response)
    }

    /// After a frame that changed `damage` (screen rectangles): if the device answered every
    /// command of earlier frames, sends a `TRANSFER_TO_HOST_2D` and a `RESOURCE_FLUSH` for
    /// each rectangle damaged since the last send; otherwise keeps the damage for the next
    /// frame and returns at once. Never waits for the device.
    ///
    /// Worst case per call: one damage insert per rectangle of `damage` (each O(
    /// [`FLUSH_RECTS`])), one pass over the [`SLOTS`] to check answers, and at most
    /// 2 × [`FLUSH_RECTS`] requests encoded and one notification (an MMIO write). A device
    /// that never answers costs the same every frame: its damage collapses into at most
    /// [`FLUSH_RECTS`] rectangles (their bounding box beyond that) and nothing more is sent
    /// until it answers. Returns the first refused answer of the previous batch, if any (the
    /// damage is sent all the same).
    pub fn frame(&mut self, damage: impl IntoIterator<Item = Rect>) -> Result<(), GpuError> {
        let screen = self.screen;
        for rect in damage {
            if let Some(inside) = rect.intersection(screen) {
                self.pending.add(inside);
            }
        }
        if self.registers.is_none() || self.pending.is_empty() || !self.idle() {
            return Ok(());
        }
        let answers = self.collect();
        let mut pending = DamageList::<FLUSH_RECTS>::new();
        core::mem::swap(&mut pending, &mut self.pending);
        for rect in pending.rects() {
            self.offer(Request::transfer_to_host_2d(*rect, self.stride))?;
            self.offer(Request::resource_flush(*rect))?;
        }
        self.kick();
        answers
    }

    /// Rectangles waiting for the device.
    pub fn pending(&self) -> &[Rect] {
        self.pending.rects()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_memory::RegisterMemory;
    use crate::virtio_mmio::tests::{AnsweringDeadline, Polls};
    use crate::virtio_mmio::{UsedElement, VERSION_1_HIGH_BIT};

    fn transport() -> (&'static RegisterMemory<{ 0x100 / 4 }>, &'static Registers) {
        crate::virtio_mmio::tests::transport(GPU_DEVICE_ID)
    }

    /// A fake device: answers every offered chain (success, or `refuse` for that control
    /// type), with a display-info answer showing 640×480 on scan-out 0; records requests.
    struct FakeDevice {
        seen: u16,
        requests: std::vec::Vec<std::vec::Vec<u8>>,
        refuse: Option<u32>,
    }

    impl FakeDevice {
        fn new() -> Self {
            Self { seen: 0, requests: std::vec::Vec::new(), refuse: None }
        }

        fn answer(&mut self, gpu: &mut VirtioGpu) {
            let queue = &mut gpu.queue;
            while self.seen != queue.rings.available.index {
                let head = usize::from(queue.rings.available.ring[usize::from(self.seen) % QUEUE_SIZE]);
                let request = queue.rings.descriptors[head];
                assert_eq!(request.flags, DESCRIPTOR_NEXT);
                let response = queue.rings.descriptors[usize::from(request.next)];
                assert_eq!(response.flags, DESCRIPTOR_WRITE);
                // SAFETY: (test) the descriptors point into `queue`, which lives in `gpu`.
                let bytes = unsafe { core::slice::from_raw_parts(request.address as *const u8, request.length as usize) };
                self.requests.push(bytes.to_vec());
                let kind = get_u32(bytes, 0);
                // SAFETY: (test) as above, the response buffer is as long as its descriptor says.
                let out = unsafe { core::slice::from_raw_parts_mut(response.address as *mut u8, response.length as usize) };
                let answer = if Some(kind) == self.refuse {
                    0x1205
                } else if kind == command::GET_DISPLAY_INFO {
                    put_rect(out, 24, Rect::new(0, 0, 640, 480));
                    put_u32(out, 40, 1);
                    command::OK_DISPLAY_INFO
                } else {
                    command::OK_NODATA
                };
                put_u32(out, 0, answer);
                let used = usize::from(queue.rings.used.index) % QUEUE_SIZE;
                queue.rings.used.ring[used] = UsedElement { id: head as u32, length: 24 };
                queue.rings.used.index = queue.rings.used.index.wrapping_add(1);
                self.seen = self.seen.wrapping_add(1);
            }
        }
    }

    /// A screen's worth of pixels that lives for the rest of the test process.
    fn screen_pixels() -> &'static [u32] {
        std::vec![0u32; 640 * 480].leak()
    }

    fn started(device: &mut FakeDevice) -> (&'static RegisterMemory<{ 0x100 / 4 }>, Box<VirtioGpu>) {
        let (memory, registers) = transport();
        let mut gpu = Box::new(VirtioGpu::new());
        let pointer: *mut VirtioGpu = &mut *gpu;
        let mut answer = |gpu: &mut VirtioGpu| device.answer(gpu);
        let mut deadline = AnsweringDeadline { driver: pointer, answer: &mut answer, polls: 100 };
        // SAFETY: (test) the same GPU, reached through the pointer the deadline also holds.
        let result = unsafe { &mut *pointer }.start(registers, screen_pixels(), 640, 480, &mut deadline);
        assert_eq!(result, Ok(()));
        (memory, gpu)
    }

    #[test]
    fn the_queue_memory_keeps_the_ring_alignments() {
        assert_eq!(core::mem::offset_of!(QueueMemory, rings) % 16, 0);
        assert_eq!(core::mem::align_of::<QueueMemory>() % 16, 0);
    }

    #[test]
    fn requests_are_encoded_little_endian_in_the_specs_field_order() {
        let transfer = Request::transfer_to_host_2d(Rect::new(320, 240, 16, 8), 2560);
        assert_eq!(transfer.length, 56);
        assert_eq!(get_u32(&transfer.bytes, 0), 0x0105);
        assert_eq!([24, 28, 32, 36].map(|at| get_u32(&transfer.bytes, at)), [320, 240, 16, 8]);
        assert_eq!(&transfer.bytes[40..48], &(240u64 * 2560 + 320 * 4).to_le_bytes());
        assert_eq!(get_u32(&transfer.bytes, 48), RESOURCE_ID);
        let create = Request::resource_create_2d(640, 480);
        assert_eq!((create.length, get_u32(&create.bytes, 0)), (40, 0x0101));
        assert_eq!([24, 28, 32, 36].map(|at| get_u32(&create.bytes, at)), [RESOURCE_ID, 2, 640, 480]);
        let backing = Request::resource_attach_backing(0x4100_0000, 640 * 480 * 4);
        assert_eq!((backing.length, get_u32(&backing.bytes, 0)), (48, 0x0106));
        assert_eq!([24, 28].map(|at| get_u32(&backing.bytes, at)), [RESOURCE_ID, 1]);
        assert_eq!(&backing.bytes[32..40], &0x4100_0000u64.to_le_bytes());
        assert_eq!(get_u32(&backing.bytes, 40), 640 * 480 * 4);
        let scanout = Request::set_scanout(Rect::new(0, 0, 640, 480));
        assert_eq!((scanout.length, get_u32(&scanout.bytes, 0)), (48, 0x0103));
        assert_eq!([32, 36, 40, 44].map(|at| get_u32(&scanout.bytes, at)), [640, 480, SCANOUT, RESOURCE_ID]);
        let flush = Request::resource_flush(Rect::new(1, 2, 3, 4));
        assert_eq!((flush.length, get_u32(&flush.bytes, 0)), (48, 0x0104));
        assert_eq!([24, 28, 32, 36, 40].map(|at| get_u32(&flush.bytes, at)), [1, 2, 3, 4, RESOURCE_ID]);
        assert_eq!(Request::get_display_info().length, 24);
    }

    #[test]
    fn a_response_of_another_type_is_a_refusal_naming_both() {
        let flush = Request::resource_flush(Rect::new(0, 0, 1, 1));
        assert_eq!(check_response(&flush, &0x1100u32.to_le_bytes()), Ok(()));
        assert_eq!(
            check_response(&flush, &0x1205u32.to_le_bytes()),
            Err(GpuError::Refused { command: 0x0104, response: 0x1205 })
        );
        assert_eq!(
            check_response(&Request::get_display_info(), &0x1100u32.to_le_bytes()),
            Err(GpuError::Refused { command: 0x0100, response: 0x1100 }),
            "display information needs its own success type"
        );
    }

    #[test]
    fn a_transport_holding_another_device_is_refused() {
        let (memory, registers) = transport();
        assert_eq!(VirtioGpu::identify(registers), Ok(()));
        memory.set(0x008, 0);
        assert_eq!(
            VirtioGpu::identify(registers),
            Err(GpuError::Transport(TransportError::WrongDevice { expected: GPU_DEVICE_ID, found: 0 }))
        );
    }

    #[test]
    fn start_negotiates_version_1_sets_up_queue_0_and_shows_the_buffer() {
        let mut device = FakeDevice::new();
        let (memory, gpu) = started(&mut device);
        assert_eq!(memory.get(0x070), 0xf, "ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK");
        assert_eq!((memory.get(0x024), memory.get(0x020)), (1, VERSION_1_HIGH_BIT), "the high word accepted last");
        assert_eq!(memory.get(0x038), QUEUE_SIZE as u32);
        assert_eq!(memory.get(0x044), 1, "queue ready");
        let descriptors = core::ptr::addr_of!(gpu.queue.rings.descriptors) as u64;
        let used = core::ptr::addr_of!(gpu.queue.rings.used) as u64;
        assert_eq!(u64::from(memory.get(0x084)) << 32 | u64::from(memory.get(0x080)), descriptors);
        assert_eq!(u64::from(memory.get(0x0a4)) << 32 | u64::from(memory.get(0x0a0)), used);
        let kinds: std::vec::Vec<u32> = device.requests.iter().map(|bytes| get_u32(bytes, 0)).collect();
        assert_eq!(kinds, [0x0100, 0x0101, 0x0106, 0x0103]);
        assert_eq!(gpu.pending(), [Rect::new(0, 0, 640, 480)], "the first frame flushes the whole screen");
    }

    #[test]
    fn a_device_that_never_answers_is_a_timeout_not_a_hang() {
        let (memory, registers) = transport();
        let mut gpu = Box::new(VirtioGpu::new());
        assert_eq!(gpu.start(registers, screen_pixels(), 640, 480, &mut Polls(1000)), Err(GpuError::Transport(TransportError::NoAnswerBeforeDeadline)));
        memory.set(0x010, 0);
        assert_eq!(gpu.start(registers, screen_pixels(), 640, 480, &mut Polls(1000)), Err(GpuError::Transport(TransportError::NoVersion1)));
        memory.set(0x010, VERSION_1_HIGH_BIT);
        memory.set(0x034, 8);
        assert_eq!(gpu.start(registers, screen_pixels(), 640, 480, &mut Polls(1000)), Err(GpuError::Transport(TransportError::Queue(8))));
    }

    #[test]
    fn each_damaged_rectangle_is_transferred_then_flushed() {
        let mut device = FakeDevice::new();
        let (_, mut gpu) = started(&mut device);
        device.requests.clear();
        assert_eq!(gpu.frame([Rect::new(0, 0, 10, 10)]), Ok(()));
        device.answer(&mut gpu);
        let kinds: std::vec::Vec<u32> = device.requests.iter().map(|bytes| get_u32(bytes, 0)).collect();
        assert_eq!(kinds, [0x0105, 0x0104], "the whole screen, damage included, once");
        assert_eq!([24, 28, 32, 36].map(|at| get_u32(&device.requests[1], at)), [0, 0, 640, 480]);
        device.requests.clear();
        assert_eq!(gpu.frame([Rect::new(0, 0, 10, 10), Rect::new(600, 400, 100, 100)]), Ok(()));
        device.answer(&mut gpu);
        let rects: std::vec::Vec<[u32; 5]> =
            device.requests.iter().map(|bytes| [0, 24, 28, 32, 36].map(|at| get_u32(bytes, at))).collect();
        assert_eq!(
            rects,
            [
                [0x0105, 0, 0, 10, 10],
                [0x0104, 0, 0, 10, 10],
                [0x0105, 600, 400, 40, 80],
                [0x0104, 600, 400, 40, 80],
            ],
            "clipped to the screen"
        );
    }

    #[test]
    fn a_busy_device_gets_the_damage_with_the_next_frame_it_can_take() {
        let mut device = FakeDevice::new();
        let (_, mut gpu) = started(&mut device);
        assert_eq!(gpu.frame([]), Ok(()));
        device.answer(&mut gpu);
        device.requests.clear();
        assert_eq!(gpu.frame([Rect::new(0, 0, 10, 10)]), Ok(()));
        let offered = gpu.queue.rings.available.index;
        // Not answered: the next frames must not send anything and must keep their damage.
        for frame in 0..100u32 {
            assert_eq!(gpu.frame([Rect::new(20 + frame, 20, 1, 1)]), Ok(()));
        }
        assert_eq!(gpu.queue.rings.available.index, offered, "nothing offered while the device is busy");
        assert!(gpu.pending().len() <= FLUSH_RECTS, "carried damage stays bounded");
        let carried = gpu.pending().iter().fold(Rect::new(20, 20, 1, 1), |all, rect| all.union(*rect));
        assert_eq!(carried, Rect::new(20, 20, 100, 1));
        device.answer(&mut gpu);
        device.requests.clear();
        assert_eq!(gpu.frame([]), Ok(()));
        device.answer(&mut gpu);
        let covered: std::vec::Vec<Rect> = device
            .requests
            .iter()
            .filter(|bytes| get_u32(bytes, 0) == 0x0104)
            .map(|bytes| Rect::new(get_u32(bytes, 24), get_u32(bytes, 28), get_u32(bytes, 32), get_u32(bytes, 36)))
            .collect();
        for x in 20..120 {
            assert!(covered.iter().any(|rect| rect.contains_point(x, 20)), "pixel ({x}, 20) never flushed");
        }
        assert!(gpu.pending().is_empty());
    }

    #[test]
    fn a_refused_command_is_reported_with_the_next_frame() {
        let mut device = FakeDevice::new();
        let (_, mut gpu) = started(&mut device);
        device.refuse = Some(command::RESOURCE_FLUSH);
        assert_eq!(gpu.frame([]), Ok(()));
        device.answer(&mut gpu);
        assert_eq!(
            gpu.frame([Rect::new(0, 0, 1, 1)]),
            Err(GpuError::Refused { command: 0x0104, response: 0x1205 })
        );
    }
}
