//! `board-configs/<board>/board.toml` as written, with spans.
//!
//! Only what the device tree cannot say lives here: where the hypervisor sits, which UARTs it
//! owns, how secondary cores start, and how QEMU emulates the board. RAM, cores and the GIC
//! come from the device tree so that there is one source of truth for each fact. Every key
//! is documented in `board-configs/README.md`.
//!
//! Design: [impl->dsn~config-board~1]

use serde::Deserialize;
use serde_spanned::Spanned;

use crate::units::SizeValue;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardToml {
    /// Must equal the directory name.
    pub name: Spanned<String>,
    /// Device tree source file, relative to the board directory (compiled with `dtc`).
    /// Exactly one of `dts` and `[dtb]` is given.
    #[serde(default)]
    pub dts: Option<Spanned<String>>,
    /// A device tree blob taken from a Debian package (for trees that may not be committed).
    #[serde(default)]
    pub dtb: Option<Spanned<DtbTable>>,
    /// RAM ranges, only for device trees whose memory nodes are left for firmware to fill.
    #[serde(default)]
    pub ram: Option<Spanned<Vec<RamTable>>>,
    /// Number of last-level cache colours, when the device tree does not describe the cache.
    #[serde(default)]
    pub cache_colours: Option<Spanned<u32>>,
    /// Where the firmware may place a framebuffer it hands out (the Raspberry Pi's VideoCore
    /// share of RAM): no partition memory goes there, and the `rpi4-mailbox` display backend
    /// accepts only a framebuffer inside it.
    #[serde(default)]
    pub firmware_framebuffer: Option<Spanned<RamTable>>,
    /// Device tree path or alias of the console UART.
    pub console: Spanned<String>,
    /// Device tree path or alias of the `defmt` log UART.
    #[serde(default)]
    pub log: Option<Spanned<String>>,
    /// How secondary cores are started.
    pub secondary_boot: Spanned<SecondaryBootMethod>,
    /// The hypervisor's RAM reservation.
    pub hypervisor: Spanned<HypervisorTable>,
    /// How `cargo xtask run` starts QEMU for this board.
    pub qemu: Spanned<QemuSettings>,
    /// The random-number generator the hypervisor owns for the partitions' boot seeds.
    #[serde(default)]
    pub entropy: Option<Spanned<EntropyTable>>,
}

/// `[entropy]`: the board's random-number generator, which the hypervisor keeps for itself.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntropyTable {
    /// What kind of device it is.
    pub source: Spanned<EntropySourceName>,
    /// Device-tree path or alias of its node (for `virtio-rng`: the virtio-mmio transport
    /// the device is plugged into).
    pub node: Spanned<String>,
}

/// `[entropy] source`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntropySourceName {
    /// A virtio entropy device on a virtio-mmio transport (QEMU `virt`).
    VirtioRng,
    /// Broadcom's `iproc-rng200` (Raspberry Pi 4).
    IprocRng200,
}

/// `[dtb]`: where the board's device tree blob comes from.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DtbTable {
    /// Debian binary package holding the blob (arm64 architecture).
    pub debian_package: String,
    /// The package version the checksum was taken from (documentation and error messages).
    pub debian_version: String,
    /// Path of the blob inside the package, without the leading `/`.
    pub path: String,
    /// SHA-256 of the blob, lowercase hex.
    pub sha256: String,
}

/// One `ram = [{ base = ..., size = ... }]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RamTable {
    /// First byte.
    pub base: Spanned<SizeValue>,
    /// Length.
    pub size: Spanned<SizeValue>,
}

/// `[hypervisor]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HypervisorTable {
    /// Host-physical base of the reservation.
    pub base: Spanned<SizeValue>,
    /// Bytes reserved for the image, stacks and translation tables.
    pub size: Spanned<SizeValue>,
    /// How the board's boot path loads the EL2 image (default: one flat image).
    #[serde(default)]
    pub loader: HypervisorLoader,
}

/// `[hypervisor] loader`: what the board's boot path does with the EL2 image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HypervisorLoader {
    /// The image is loaded as one contiguous block (a raw binary the Raspberry Pi firmware
    /// loads at its kernel address, a FIT's flat `kernel`): nothing may lie outside the
    /// hypervisor's reservation, so the hypervisor copies every partition's first image.
    #[default]
    FlatImage,
    /// Every `PT_LOAD` segment of the ELF is placed at its physical address (QEMU
    /// `-kernel`), so the ELF can carry each partition's first image at its place in the
    /// partition's RAM and the hypervisor need not copy it at the first start.
    ElfSegments,
}

/// `secondary_boot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecondaryBootMethod {
    /// PSCI `CPU_ON`, through the conduit named by the device tree's `/psci` `method`.
    Psci,
    /// Firmware releases every core into the image at once.
    AllCoresEnter,
    /// Firmware parks the secondaries in a spin table at their cpu nodes' `cpu-release-addr`.
    SpinTable,
}

/// `[qemu]`: how QEMU emulates this board.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QemuSettings {
    /// `-machine` value.
    pub machine: String,
    /// `-cpu` value.
    pub cpu: String,
    /// `-smp` value (should equal the device tree's core count).
    pub smp: usize,
    /// `-m` value.
    pub memory: String,
    /// Further arguments, passed as given.
    #[serde(default)]
    pub extra_args: Vec<String>,
    /// How many `-serial` ports to create (console first, then the log UART).
    #[serde(default = "one")]
    pub serial_ports: usize,
}

const fn one() -> usize {
    1
}
