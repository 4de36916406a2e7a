//! Display backends: what shows the scan-out buffer. One trait, one implementation per
//! device; the manifest's `backend` picks one ([`for_kind`]).
//!
//! A backend is told once at boot where the buffer is ([`ScanOutBackend::start`]) and after
//! every composed frame what changed ([`ScanOutBackend::frame_composed`]): scanning-out
//! devices (ramfb) need nothing per frame, a copying device (virtio-gpu) transfers and
//! flushes the plan's rectangles there. `frame_composed` runs on the composing core, after
//! composition, with no lock held but the plan's (which serialises frames).

use bulkhead_core::display::schedule::FramePlan;
use bulkhead_core::display::{Backend, DisplayConfig};
use bulkhead_drivers::fw_cfg::{self, DmaAccess, FwCfg, FwCfgError};
use crate::deadline::CounterDeadline;
use bulkhead_drivers::virtio_gpu::{GpuError, VirtioGpu};
use bulkhead_drivers::virtio_mmio;
use core::sync::atomic::{AtomicBool, Ordering};
use crate::lock::Mutex;

mod rpi4_mailbox;

/// Why a backend could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendError {
    /// The backend's register block address does not fit the address space.
    Registers,
    /// fw_cfg refused or lacks `etc/ramfb` (QEMU started without `-device ramfb`).
    FwCfg(FwCfgError),
    /// The screen's sizes do not fit the device's configuration.
    Size,
    /// The virtio-gpu transport holds no modern GPU, or the GPU refused or never answered.
    VirtioGpu(GpuError),
    /// The VideoCore mailbox call failed or its answer was refused.
    Mailbox(bulkhead_drivers::videocore_mailbox::MailboxError),
    /// The firmware's framebuffer (at this address) is not inside the board's
    /// `firmware_framebuffer` window.
    OutsideWindow(u64),
}

/// A device that shows the scan-out buffer.
pub trait ScanOutBackend: Sync {
    /// Its manifest name, for `[hv]` lines.
    fn name(&self) -> &'static str;

    /// Points the device at `pixels` (XRGB8888, `display.width × display.height`), once, at
    /// boot.
    fn start(&self, display: &DisplayConfig, pixels: &[u32]) -> Result<(), BackendError>;

    /// Called after each composed frame with its plan.
    fn frame_composed(&self, _plan: &FramePlan) {}

    /// Called after each composed frame with its plan and the scan-out buffer (what a
    /// copying backend copies from); by default [`ScanOutBackend::frame_composed`].
    fn frame_composed_from(&self, plan: &FramePlan, _pixels: &[u32]) {
        self.frame_composed(plan);
    }
}

/// The buffer in RAM is the output: tests and debuggers read it there.
struct RamCapture;

impl ScanOutBackend for RamCapture {
    fn name(&self) -> &'static str {
        "ram-capture"
    }

    fn start(&self, _display: &DisplayConfig, _pixels: &[u32]) -> Result<(), BackendError> {
        Ok(())
    }
}

/// QEMU's ramfb: configured through fw_cfg DMA (`etc/ramfb`), then it reads the buffer
/// itself at every display refresh.
struct Ramfb;

/// The DMA descriptor and the configuration the device reads: statics, so their
/// identity-mapped addresses are valid for the device.
static RAMFB_DMA: Mutex<(DmaAccess, [u8; 28])> = Mutex::new((DmaAccess::new(), [0; 28]));

impl ScanOutBackend for Ramfb {
    fn name(&self) -> &'static str {
        "ramfb"
    }

    fn start(&self, display: &DisplayConfig, pixels: &[u32]) -> Result<(), BackendError> {
        let base = usize::try_from(display.backend_registers).map_err(|_| BackendError::Registers)?;
        // SAFETY: `backend_registers` is the board's fw_cfg register block, which the compiler
        // added to the hypervisor's EL2 device map and keeps from every partition (BH0703);
        // only this boot-time call drives it.
        #[expect(unsafe_code, reason = "the one constructor of the fw_cfg driver")]
        let fw_cfg = unsafe { FwCfg::new(base) };
        let (select, _) = fw_cfg.find_file(b"etc/ramfb").map_err(BackendError::FwCfg)?;
        let mut dma = RAMFB_DMA.lock();
        let (access, configuration) = &mut *dma;
        *configuration = fw_cfg::ramfb_configuration_of(pixels, display.width, display.height).ok_or(BackendError::Size)?;
        fw_cfg.write_file(select, configuration, access).map_err(BackendError::FwCfg)
    }
}

/// A virtio-gpu 2D device (`bulkhead_drivers::virtio_gpu`): at boot its one resource is
/// backed by the scan-out buffer and shown; after every frame the plan's rectangles are
/// transferred to the device and flushed, unless the device is still busy with the last
/// ones, in which case they wait for the next frame (never for the device).
struct VirtioGpuBackend;

/// The GPU, its control queue (the device holds its addresses: a `static`, never moved) and
/// the damage not yet flushed. Taken at boot by [`ScanOutBackend::start`] and then only by
/// the core composing a frame, which holds `PLAN`: never contended.
static VIRTIO_GPU: Mutex<VirtioGpu> = Mutex::new(VirtioGpu::new());

/// Whether a refused frame command was reported (once: the console is not flooded).
static VIRTIO_GPU_REFUSAL_REPORTED: AtomicBool = AtomicBool::new(false);

/// Milliseconds the boot waits for the GPU in all (reset and four commands); QEMU answers
/// in well under one.
const VIRTIO_GPU_BOOT_WAIT_MS: u64 = 1_000;


impl ScanOutBackend for VirtioGpuBackend {
    fn name(&self) -> &'static str {
        "virtio-gpu"
    }

    fn start(&self, display: &DisplayConfig, pixels: &[u32]) -> Result<(), BackendError> {
        let base = usize::try_from(display.backend_registers).map_err(|_| BackendError::Registers)?;
        // SAFETY: `backend_registers` is the virtio-mmio transport the compiler chose for the
        // GPU: it added the transport's page to the hypervisor's EL2 device map and keeps it
        // from every partition (BH0703); only this backend drives it.
        #[expect(unsafe_code, reason = "the one constructor of the virtio-gpu driver")]
        let registers = unsafe { virtio_mmio::registers_at(base) };
        let mut deadline = CounterDeadline::after_ms(VIRTIO_GPU_BOOT_WAIT_MS);
        VIRTIO_GPU
            .lock()
            .start(registers, pixels, display.width, display.height, &mut deadline)
            .map_err(BackendError::VirtioGpu)
    }

    fn frame_composed(&self, plan: &FramePlan) {
        let result = VIRTIO_GPU.lock().frame(plan.items.iter().map(|item| item.clip));
        if let Err(error) = result
            && !VIRTIO_GPU_REFUSAL_REPORTED.swap(true, Ordering::Relaxed)
        {
            crate::hv_println!("display: virtio-gpu refused a frame command ({:?}); later refusals not reported", error);
        }
    }
}

/// The backend of kind `kind`.
pub fn for_kind(kind: Backend) -> &'static dyn ScanOutBackend {
    match kind {
        Backend::RamCapture => &RamCapture,
        Backend::Ramfb => &Ramfb,
        Backend::VirtioGpu => &VirtioGpuBackend,
        Backend::Rpi4Mailbox => &rpi4_mailbox::Rpi4Mailbox,
    }
}
