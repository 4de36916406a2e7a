//! *Resolve* for `[display]`: the screen and its layers as numbers, before the display checks
//! (`checks/display.rs`) decide whether they make a sound screen.
//!
//! Like [`super::draft`], this step reports nothing: a value out of range becomes `None`
//! and the check that owns it says why, so one run reports every problem.
//!
//! Design: [impl->dsn~display-config~1]

use std::ops::{Range, RangeInclusive};

use bulkhead_core::display::{Backend, FailSafe, LayerConfig, MAX_DIMENSION, PixelFormat, Rect};
use bulkhead_core::layout::{DTB_OFFSET_FROM_RAM_END, RAM_BASE};
use serde_spanned::Spanned;

use crate::board::Board;
use crate::manifest::{DisplayTable, LayerTable};
use crate::spec::DisplaySpec;
use crate::units::AddressRange;

use super::draft::Draft;

/// Default pixel operations per microsecond of the compose core (`compose_rate`): an
/// estimate for an EL2 loop converting one pixel in a few dozen instructions; a system that
/// needs more states what its board measured (`docs/display.md`).
pub const DEFAULT_COMPOSE_RATE: u64 = 40;

/// Shortest and longest frame period accepted, in microseconds (1 kHz to 1 Hz).
pub const FRAME_PERIOD_RANGE: Range<u64> = 1_000..1_000_001;

/// Frames one console statistics line may summarise (`statistics_every`): the hypervisor
/// keeps a window of at most `MAX_WINDOW` frames' samples.
pub const STATISTICS_EVERY_RANGE: RangeInclusive<u32> = 1..=(bulkhead_core::display::statistics::MAX_WINDOW as u32);

/// The display while it is checked.
pub(crate) struct DisplayDraft<'m> {
    pub table: &'m Spanned<DisplayTable>,
    /// The backend, when the name is known.
    pub backend: Option<Backend>,
    /// The screen, when both sizes are in `1..=MAX_DIMENSION`.
    pub screen: Option<Rect>,
    /// `compose_rate × frame_period_us`, when both are valid.
    pub budget: Option<u64>,
    pub layers: Vec<LayerDraft<'m>>,
}

/// One layer while it is checked.
pub(crate) struct LayerDraft<'m> {
    pub table: &'m Spanned<LayerTable>,
    /// Index of the partition it names, when one has that name.
    pub partition: Option<usize>,
    pub format: Option<PixelFormat>,
    /// Framebuffer size, when both are in `1..=MAX_DIMENSION`.
    pub size: Option<(u32, u32)>,
    /// Bytes per row (written or derived), when it is a positive `u32`.
    pub stride: Option<u32>,
    /// Guest-physical range of the framebuffer (`stride × height` bytes).
    pub buffer: Option<AddressRange>,
    /// Destination on the screen, when every field is a `u32`.
    pub destination: Option<Rect>,
    pub z: Option<u32>,
    pub critical: bool,
    pub freeze_threshold: Option<u32>,
}

impl LayerDraft<'_> {
    pub fn layer(&self) -> &LayerTable {
        self.table.get_ref()
    }

    pub fn partition_name(&self) -> &str {
        self.layer().partition.get_ref()
    }
}

/// A `u32` in `1..=MAX_DIMENSION`.
pub(crate) fn dimension(value: &Spanned<i64>) -> Option<u32> {
    u32::try_from(*value.get_ref())
        .ok()
        .filter(|value| (1..=MAX_DIMENSION).contains(value))
}

/// A non-negative `u32`.
pub(crate) fn unsigned(value: &Spanned<i64>) -> Option<u32> {
    u32::try_from(*value.get_ref()).ok()
}

/// The backend a manifest names.
pub(crate) fn backend(name: &str) -> Option<Backend> {
    match name {
        "ram-capture" => Some(Backend::RamCapture),
        "ramfb" => Some(Backend::Ramfb),
        "virtio-gpu" => Some(Backend::VirtioGpu),
        "rpi4-mailbox" => Some(Backend::Rpi4Mailbox),
        _ => None,
    }
}

/// The backend's manifest name.
pub fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::RamCapture => "ram-capture",
        Backend::Ramfb => "ramfb",
        Backend::VirtioGpu => "virtio-gpu",
        Backend::Rpi4Mailbox => "rpi4-mailbox",
    }
}

/// Whether `board` has the device `backend` drives: ramfb and virtio-gpu exist only on
/// QEMU's `virt` machine (`-device ramfb`, `-device virtio-gpu-device`); ramfb is configured
/// through the machine's fw_cfg device, virtio-gpu sits on one of its virtio-mmio transports.
/// The Raspberry Pi 4's mailbox framebuffer needs the VideoCore mailbox in the tree and
/// `board.toml`'s `firmware_framebuffer` (where the firmware's buffer may lie).
pub(crate) fn board_has(board: &Board, backend: Backend) -> bool {
    match backend {
        Backend::RamCapture => true,
        Backend::Rpi4Mailbox => board.firmware_framebuffer.is_some() && backend_registers(board, backend).is_some(),
        Backend::Ramfb | Backend::VirtioGpu => {
            board.qemu.machine.split(',').next() == Some("virt")
                && backend_registers(board, backend).is_some()
        }
    }
}

/// The virtio-mmio transport a virtio-gpu backend uses on `board`: the lowest-addressed
/// enabled `virtio,mmio` node, so `virtio-mmio-bus.0` (`board::virtio_mmio_transports`), where
/// `cargo xtask run` plugs the GPU (`-device virtio-gpu-device,bus=virtio-mmio-bus.0`);
/// QEMU fills the transports from the top down for devices given without a bus, so a
/// partition's pass-through disk (`[qemu] virtio_blk`) lands at the other end. The choice is
/// made here, at build time, rather than by probing at EL2: the hypervisor must not read the
/// registers of transports that belong to partitions.
pub(crate) fn virtio_gpu_transport(board: &Board) -> Option<AddressRange> {
    crate::board::virtio_mmio_transports(&board.tree).first().copied()
}

/// The register block `backend` drives on `board` (ramfb: the fw_cfg device; virtio-gpu: its
/// virtio-mmio transport; rpi4-mailbox: the VideoCore mailbox, which starts 0x880 into its
/// page). Its pages ([`register_pages`]) are what the hypervisor maps at EL2.
pub(crate) fn backend_registers(board: &Board, backend: Backend) -> Option<AddressRange> {
    let compatible = match backend {
        Backend::RamCapture => return None,
        Backend::VirtioGpu => return virtio_gpu_transport(board),
        Backend::Ramfb => "qemu,fw-cfg-mmio",
        Backend::Rpi4Mailbox => "brcm,bcm2835-mbox",
    };
    let node = board.tree.find_compatible(&[compatible])?;
    let reg = node.physical_reg.as_ref()?.first()?;
    AddressRange::new(reg.address, reg.size)
}

/// The pages holding `registers`: what the hypervisor maps at EL2 and no partition may take
/// (a virtio-gpu transport's page holds its neighbours too: QEMU packs eight 512-byte
/// transports in a page, and none of them may then go to a partition).
pub(crate) fn register_pages(registers: AddressRange) -> Option<AddressRange> {
    let base = registers.base() & !(crate::units::GRANULE_4KIB - 1);
    let end = crate::units::align_up(registers.end(), crate::units::GRANULE_4KIB)?;
    AddressRange::new(base, end.checked_sub(base)?)
}

/// Where the firmware of `backend` places its framebuffer on `board` (rpi4-mailbox:
/// `firmware_framebuffer`), which the hypervisor checks the buffer it is handed against.
pub(crate) fn firmware_framebuffer(board: &Board, backend: Backend) -> Option<AddressRange> {
    match backend {
        Backend::Rpi4Mailbox => board.firmware_framebuffer,
        Backend::RamCapture | Backend::Ramfb | Backend::VirtioGpu => None,
    }
}

/// Resolves `[display]` against the partitions.
pub(crate) fn resolve<'m>(table: &'m Spanned<DisplayTable>, drafts: &[Draft<'_>]) -> DisplayDraft<'m> {
    let display = table.get_ref();
    let resolution = display.resolution.get_ref();
    let screen = match (dimension(&resolution.width), dimension(&resolution.height)) {
        (Some(width), Some(height)) => Some(Rect::new(0, 0, width, height)),
        _ => None,
    };
    let period = u64::try_from(*display.frame_period_us.get_ref())
        .ok()
        .filter(|period| FRAME_PERIOD_RANGE.contains(period));
    let rate = match &display.compose_rate {
        Some(rate) => u64::try_from(*rate.get_ref()).ok().filter(|rate| *rate > 0),
        None => Some(DEFAULT_COMPOSE_RATE),
    };
    let budget = period.zip(rate).and_then(|(period, rate)| period.checked_mul(rate));
    let layers = display
        .layers
        .iter()
        .map(|layer| resolve_layer(layer, drafts))
        .collect();
    DisplayDraft {
        table,
        backend: backend(display.backend.get_ref()),
        screen,
        budget,
        layers,
    }
}

fn resolve_layer<'m>(table: &'m Spanned<LayerTable>, drafts: &[Draft<'_>]) -> LayerDraft<'m> {
    let layer = table.get_ref();
    let framebuffer = layer.framebuffer.get_ref();
    let format = PixelFormat::from_name(framebuffer.format.get_ref());
    let size = dimension(&framebuffer.width).zip(dimension(&framebuffer.height));
    let stride = match &framebuffer.stride {
        Some(stride) => unsigned(stride).filter(|stride| *stride > 0),
        None => size
            .zip(format)
            .and_then(|((width, _), format)| width.checked_mul(format.bytes_per_pixel())),
    };
    let buffer = match (framebuffer.ipa.get_ref().bytes(), stride, size) {
        (Ok(ipa), Some(stride), Some((_, height))) => {
            AddressRange::new(ipa, u64::from(stride) * u64::from(height))
        }
        _ => None,
    };
    let destination = layer.destination.get_ref();
    let destination = match (
        unsigned(&destination.x),
        unsigned(&destination.y),
        unsigned(&destination.width),
        unsigned(&destination.height),
    ) {
        (Some(x), Some(y), Some(width), Some(height)) => Some(Rect::new(x, y, width, height)),
        _ => None,
    };
    LayerDraft {
        table,
        partition: drafts
            .iter()
            .position(|draft| draft.name() == layer.partition.get_ref()),
        format,
        size,
        stride,
        buffer,
        destination,
        z: layer.z.as_ref().map_or(Some(0), unsigned),
        critical: layer.critical.as_ref().is_some_and(|critical| *critical.get_ref()),
        freeze_threshold: layer.freeze_threshold.as_ref().map_or(Some(0), unsigned),
    }
}

/// The guest-physical memory a partition may hold a framebuffer in, with the host address
/// of each range's first byte: its RAM below the device tree slot and its read-write
/// regions.
pub(crate) fn private_memory(draft: &Draft<'_>) -> Vec<(AddressRange, u64)> {
    let mut ranges = Vec::new();
    if let Some(ram) = draft.ram {
        let usable = ram.size().saturating_sub(DTB_OFFSET_FROM_RAM_END);
        if let Some(range) = AddressRange::new(RAM_BASE.raw(), usable) {
            ranges.push((range, ram.base()));
        }
    }
    for region in &draft.regions {
        if region.access() != bulkhead_core::system::Access::ReadWrite {
            continue;
        }
        if let (Some(ipa), Some(host)) = (region.ipa, region.host)
            && let Some(range) = AddressRange::new(ipa, host.size())
        {
            ranges.push((range, host.base()));
        }
    }
    ranges
}

/// The host-physical address of a framebuffer at `buffer` in `draft`'s private memory.
pub(crate) fn host_address(draft: &Draft<'_>, buffer: AddressRange) -> Option<u64> {
    private_memory(draft)
        .into_iter()
        .find(|(range, _)| range.contains(buffer))
        .map(|(range, host)| host + (buffer.base() - range.base()))
}

/// Span of a layer's framebuffer `ipa`, for diagnostics.
pub(crate) fn ipa_span(layer: &LayerDraft<'_>) -> Range<usize> {
    layer.layer().framebuffer.get_ref().ipa.span()
}

/// The validated display, once every check passed (`None` only if a check missed a value it
/// should have rejected).
pub(crate) fn finish(
    display: &DisplayDraft<'_>,
    drafts: &[Draft<'_>],
    board: &Board,
) -> Option<DisplaySpec> {
    let table = display.table.get_ref();
    let colour = |value: &Spanned<i64>| u32::try_from(*value.get_ref()).ok();
    let layers = display
        .layers
        .iter()
        .map(|layer| {
            let partition = layer.partition?;
            let buffer = layer.buffer?;
            let (width, height) = layer.size?;
            Some(LayerConfig {
                partition,
                framebuffer_ipa: buffer.base(),
                framebuffer_phys: host_address(drafts.get(partition)?, buffer)?,
                width,
                height,
                stride: layer.stride?,
                format: layer.format?,
                destination: layer.destination?,
                z: layer.z?,
                critical: layer.critical,
                freeze_threshold: layer.freeze_threshold?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let screen = display.screen?;
    let backend = display.backend?;
    let board_registers = |board: &Board| backend_registers(board, backend);
    Some(DisplaySpec {
        backend,
        backend_registers: board_registers(board),
        firmware_framebuffer: firmware_framebuffer(board, backend),
        width: screen.width,
        height: screen.height,
        frame_period_us: u32::try_from(*table.frame_period_us.get_ref()).ok()?,
        budget: display.budget?,
        compose_core: usize::try_from(*table.compose_core.get_ref()).ok()?,
        background: table.background.as_ref().map_or(Some(0), colour)?,
        fail_safe: FailSafe::Colour(colour(&table.fail_safe.get_ref().colour)?),
        statistics_every: match &table.statistics_every {
            Some(every) => u32::try_from(*every.get_ref()).ok().filter(|every| STATISTICS_EVERY_RANGE.contains(every))?,
            None => 0,
        },
        layers,
    })
}
