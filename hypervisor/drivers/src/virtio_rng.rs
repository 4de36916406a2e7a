//! A virtio entropy device (virtio-rng) on a virtio-mmio transport: where the hypervisor
//! draws its boot seed on QEMU `virt` (`-device virtio-rng-device`), once, on the boot core.
//!
//! VIRTIO 1.2 §5.4: the entropy device is device ID 4, has one queue (`requestq`, queue 0),
//! no feature bits and no configuration space. The driver offers device-writable buffers;
//! the device fills each with random bytes, at least one, possibly fewer than the buffer
//! holds (§5.4.6.1), and reports how many in the used element's `len`. The transport and the
//! ring layout are [`virtio_mmio`](crate::virtio_mmio)'s.
//!
//! One request is in flight at a time, through one descriptor; the device is reset when the
//! seed is complete (or the wait gave up), so it never writes into the driver's memory
//! afterwards. Bound: [`VirtioRng::fill`] polls until the caller's [`Deadline`]; each poll
//! is one volatile read of the used index.

use crate::deadline::Deadline;
use crate::virtio_mmio::{self, DESCRIPTOR_WRITE, Descriptor, Registers, SplitQueue, TransportError};

/// `DeviceID` of an entropy source (§5.4.1).
pub const RNG_DEVICE_ID: u32 = 4;
/// Entries of `requestq`: the smallest power of 2 (one request is in flight at a time).
pub const QUEUE_SIZE: usize = 1;
/// Bytes the device is asked for per request.
pub const REQUEST_BYTES: usize = 64;

/// Everything the device reads or writes.
#[repr(C, align(16))]
#[derive(Debug)]
pub struct QueueMemory {
    /// The split queue's rings.
    pub rings: SplitQueue<QUEUE_SIZE>,
    /// The buffer the device fills.
    pub buffer: [u8; REQUEST_BYTES],
}

/// The entropy device's queue; kept in a `static` (never moved: the device holds its
/// addresses while a request is in flight).
#[derive(Debug)]
pub struct VirtioRng {
    /// The queue's memory.
    queue: QueueMemory,
}

impl VirtioRng {
    /// A device not started yet.
    pub const fn new() -> Self {
        Self {
            queue: QueueMemory {
                rings: SplitQueue::new(),
                buffer: [0; REQUEST_BYTES],
            },
        }
    }

    /// Fills `out` with bytes from the entropy device behind `registers`, asking for up to
    /// [`REQUEST_BYTES`] at a time and polling until `deadline` passes. The device is reset
    /// afterwards, whatever the outcome. On an error, `out` may be partly written and must
    /// not be used.
    pub fn fill(&mut self, registers: &Registers, out: &mut [u8], deadline: &mut dyn Deadline) -> Result<(), TransportError> {
        let result = self.draw(registers, out, deadline);
        virtio_mmio::reset(registers);
        result
    }

    /// [`Self::fill`] without the final reset.
    fn draw(&mut self, registers: &Registers, out: &mut [u8], deadline: &mut dyn Deadline) -> Result<(), TransportError> {
        virtio_mmio::identify(registers, RNG_DEVICE_ID)?;
        self.queue.rings = SplitQueue::new();
        virtio_mmio::initialise(registers, self.queue.rings.addresses(), deadline)?;
        let mut filled = 0usize;
        let mut offered = 0u16;
        // BOUND: each turn either adds at least one byte to `filled` (at most `out.len()`
        // turns) or gives up when the deadline passes.
        while filled < out.len() {
            offered = self.request(registers, offered);
            // BOUND: until the deadline.
            while self.queue.rings.used.device_index() != offered {
                if deadline.passed() {
                    return Err(TransportError::NoAnswerBeforeDeadline);
                }
            }
            let reported = self.queue.rings.used.element(offered.wrapping_sub(1)).map_or(0, |element| element.length);
            let written = usize::try_from(reported).unwrap_or(0).min(REQUEST_BYTES);
            let target = out.get_mut(filled..).unwrap_or_default();
            for (byte, source) in target.iter_mut().zip(self.queue.buffer.iter().take(written)) {
                // SAFETY: `source` is a byte of the buffer in `self.queue`, a valid
                // reference; the device wrote it by DMA, so the read is volatile.
                *byte = unsafe { core::ptr::read_volatile(source) };
            }
            filled = filled.saturating_add(written);
            if written == 0 && deadline.passed() {
                return Err(TransportError::NoAnswerBeforeDeadline);
            }
        }
        Ok(())
    }

    /// Offers the buffer as request number `offered` (free-running) and notifies the device;
    /// returns the next number.
    fn request(&mut self, registers: &Registers, offered: u16) -> u16 {
        let buffer = self.queue.buffer.as_ptr() as u64;
        if let Some(descriptor) = self.queue.rings.descriptors.first_mut() {
            *descriptor = Descriptor {
                address: buffer,
                length: u32::try_from(REQUEST_BYTES).unwrap_or(0),
                flags: DESCRIPTOR_WRITE,
                next: 0,
            };
        }
        // One entry: every request goes through it, pointing at descriptor 0.
        if let Some(entry) = self.queue.rings.available.ring.first_mut() {
            *entry = 0;
        }
        let next = offered.wrapping_add(1);
        virtio_mmio::publish(registers, &mut self.queue.rings.available, next);
        next
    }
}

impl Default for VirtioRng {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::virtio_mmio::UsedElement;
    use crate::virtio_mmio::tests::{AnsweringDeadline, Polls, transport};

    /// A fake entropy device: answers each offered request with the next bytes of
    /// `stream`, at most `per_answer` of them (0: it answers with no bytes).
    struct FakeDevice {
        seen: u16,
        stream: core::ops::RangeFrom<u8>,
        per_answer: usize,
        answers: u32,
    }

    impl FakeDevice {
        fn answer(&mut self, rng: &mut VirtioRng) {
            let queue = &mut rng.queue;
            while self.seen != queue.rings.available.index {
                let head = usize::from(queue.rings.available.ring[0]);
                let descriptor = queue.rings.descriptors[head];
                assert_eq!(descriptor.flags, DESCRIPTOR_WRITE);
                assert_eq!(descriptor.address, queue.buffer.as_ptr() as u64);
                let count = self.per_answer.min(descriptor.length as usize);
                for byte in queue.buffer.iter_mut().take(count) {
                    *byte = self.stream.next().unwrap();
                }
                queue.rings.used.ring[0] = UsedElement { id: head as u32, length: count as u32 };
                queue.rings.used.index = queue.rings.used.index.wrapping_add(1);
                self.seen = self.seen.wrapping_add(1);
                self.answers += 1;
            }
        }
    }

    fn draw(length: usize, per_answer: usize) -> (Result<std::vec::Vec<u8>, TransportError>, u32, u32) {
        let (memory, registers) = transport(RNG_DEVICE_ID);
        let mut rng = Box::new(VirtioRng::new());
        let pointer: *mut VirtioRng = &mut *rng;
        let mut device = FakeDevice { seen: 0, stream: 1.., per_answer, answers: 0 };
        let mut answer = |rng: &mut VirtioRng| device.answer(rng);
        let mut deadline = AnsweringDeadline { driver: pointer, answer: &mut answer, polls: 100 };
        let mut out = std::vec![0u8; length];
        // SAFETY: (test) the same driver, reached through the pointer the deadline also holds.
        let result = unsafe { &mut *pointer }.fill(registers, &mut out, &mut deadline).map(|()| out);
        (result, device.answers, memory.get(0x070))
    }

    #[test]
    fn the_seed_is_the_devices_bytes_in_order_across_requests() {
        let (result, answers, status) = draw(72, 64);
        let expected: std::vec::Vec<u8> = (1..=72).collect();
        assert_eq!(result, Ok(expected));
        assert_eq!(answers, 2, "64 bytes, then the rest from a second request");
        assert_eq!(status, 0, "the device is reset once the seed is drawn");
    }

    #[test]
    fn short_answers_are_taken_as_far_as_they_go() {
        let (result, answers, _) = draw(32, 5);
        assert_eq!(result, Ok((1..=32).collect::<std::vec::Vec<u8>>()));
        assert_eq!(answers, 7, "ceil(32 / 5) requests");
    }

    #[test]
    fn a_device_that_never_answers_or_answers_nothing_is_a_timeout_not_a_hang() {
        let (memory, registers) = transport(RNG_DEVICE_ID);
        let mut rng = VirtioRng::new();
        let mut out = [0u8; 32];
        assert_eq!(rng.fill(registers, &mut out, &mut Polls(1000)), Err(TransportError::NoAnswerBeforeDeadline));
        assert_eq!(memory.get(0x070), 0, "reset after giving up");
        let (result, answers, status) = draw(32, 0);
        assert_eq!(result, Err(TransportError::NoAnswerBeforeDeadline));
        assert!(answers <= 100, "bounded by the deadline's polls: {answers}");
        assert_eq!(status, 0);
    }

    #[test]
    fn another_device_on_the_transport_is_refused_before_anything_is_written() {
        let (memory, registers) = transport(16);
        let mut out = [0u8; 8];
        assert_eq!(
            VirtioRng::new().fill(registers, &mut out, &mut Polls(10)),
            Err(TransportError::WrongDevice { expected: RNG_DEVICE_ID, found: 16 })
        );
        assert_eq!(memory.get(0x038), 0, "no queue handed over");
    }
}
