//! The device tree each partition boots with, describing the virtual machine the hypervisor
//! presents rather than the board.
//!
//! Every partition sees the same QEMU-`virt`-like map from `bulkhead_core::layout` (vGICv3,
//! virtual PL011, RAM at `RAM_BASE`), whatever board it runs on, so guests need no per-board
//! builds. On top of that it sees what the manifest gives it:
//! * pass-through devices, copied from the board's tree to the root of the guest's: `reg`
//!   rewritten to CPU physical addresses (= IPAs, identity-mapped), `interrupts` renumbered
//!   to the guest INTIDs (see [`crate::validate::layout`]), `status = "okay"`. Properties
//!   that point at nodes the guest does not have (`clocks`, `resets`, `power-domains`,
//!   `pinctrl-*`, `dmas`, `iommus`, `*-gpios`, `*-supply`, …) are dropped and listed in the
//!   report — except `clocks` whose providers are all `fixed-clock`s, which are copied too;
//! * `bulkhead,channel` nodes for channel ends, `bulkhead,memory-region` nodes for regions,
//!   a `bulkhead,forwarded-interrupts` node for the extra interrupts, and
//!   `linux,initrd-start`/`-end` in `/chosen`;
//! * `/chosen/kaslr-seed` and `/chosen/rng-seed`, zero here: the hypervisor fills them at
//!   every (re)start (`bulkhead_core::boot_seed`), so Linux randomises its layout and seeds
//!   its random pool per boot although the blob is a build-time constant.
//!
//! The blob is written with `vm-fdt` directly (no `dtc`): byte-for-byte deterministic, and
//! the layout follows the Linux bindings (`arm,gic-v3.yaml`, `arm,arch_timer.yaml`,
//! `arm,pl011.yaml`, `arm,psci.yaml`, `chosen.yaml`) so a Linux partition boots with it.
//!
//! Design: [impl->dsn~config-guest-dtb~1]

use std::collections::BTreeMap;
use std::fmt;

use bulkhead_core::boot_seed::RNG_SEED_BYTES;
use bulkhead_core::display::hypercall::VBLANK_INTID;
use bulkhead_core::layout::{
    DTB_MAX_SIZE, RAM_BASE, VGICC_BASE, VGICC_SIZE, VGICD_BASE, VGICD_SIZE, VGICD_V2_SIZE,
    VGICR_BASE, VGICR_STRIDE, VUART_BASE, VUART_INTID, VUART_SIZE, timer_intid,
};
use bulkhead_core::system::{Access, Trigger};
use vm_fdt::FdtWriter;

use crate::board::Board;
use crate::board::devicetree::{DeviceTree, Node};
use crate::board::gic_intid;
use crate::spec::{ConsoleSpec, InterruptSource, PartitionSpec, SystemSpec};
use crate::validate::layout::DOORBELL_PAGE_SIZE;

/// Root `compatible`: ours first, then the QEMU machine whose map the partition mirrors.
pub const ROOT_COMPATIBLE: [&str; 2] = ["bulkhead,partition", "linux,dummy-virt"];
/// Frequency of the fixed APB clock feeding the virtual PL011 (as on QEMU `virt`).
pub const APB_CLOCK_HZ: u32 = 24_000_000;

const GIC_PHANDLE: u32 = 1;
const CLOCK_PHANDLE: u32 = 2;
/// First phandle given to copied clock providers.
const FIRST_COPIED_PHANDLE: u32 = 3;
/// GIC binding interrupt specifier types.
const GIC_SPI: u32 = 0;
const GIC_PPI: u32 = 1;
/// `IRQ_TYPE_*` in the interrupt specifier's flags cell.
const IRQ_TYPE_EDGE_RISING: u32 = 1;
const IRQ_TYPE_LEVEL_HIGH: u32 = 4;
/// First INTIDs of the PPI and SPI ranges (GICv3 spec §2.2.1).
const FIRST_PPI: u32 = 16;
const FIRST_SPI: u32 = 32;

/// Properties that hold phandles of nodes the guest does not have (or describe what those
/// nodes do), dropped from copied device nodes. Names ending in `-gpios`, `-gpio` or
/// `-supply`, and `pinctrl-<n>`, are dropped too.
const DROPPED_PROPERTIES: &[&str] = &[
    "phandle",
    "linux,phandle",
    "interrupt-parent",
    "interrupts-extended",
    "assigned-clocks",
    "assigned-clock-parents",
    "assigned-clock-rates",
    "resets",
    "reset-names",
    "power-domains",
    "power-domain-names",
    "pinctrl-names",
    "dmas",
    "dma-names",
    "phys",
    "phy-names",
    "phy-handle",
    "iommus",
    "gpios",
    "nvmem-cells",
    "nvmem-cell-names",
    "operating-points-v2",
    "syscon",
    "mboxes",
    "mbox-names",
    "memory-region",
    "interconnects",
    "interconnect-names",
    "msi-parent",
    "fpga-mgr",
];

/// Why no device tree was produced.
#[derive(Debug)]
pub enum GuestDtbError {
    /// `vm-fdt` refused a node or property (e.g. bootargs containing NUL, two nodes of one
    /// name).
    Writer(vm_fdt::Error),
    /// The blob exceeds the slot the hypervisor reserves for it.
    TooLarge {
        /// Blob size in bytes.
        size: usize,
    },
    /// A pass-through device's node vanished from the board tree (cannot happen after
    /// validation; reported rather than panicking).
    MissingNode(String),
}

impl fmt::Display for GuestDtbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Writer(error) => write!(f, "device tree writer: {error}"),
            Self::TooLarge { size } => write!(
                f,
                "the device tree is {size} bytes, more than {DTB_MAX_SIZE}"
            ),
            Self::MissingNode(path) => write!(f, "{path} is not in the board's device tree"),
        }
    }
}

impl From<vm_fdt::Error> for GuestDtbError {
    fn from(error: vm_fdt::Error) -> Self {
        Self::Writer(error)
    }
}

/// A generated guest device tree and what the copy left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestDeviceTree {
    /// The blob.
    pub blob: Vec<u8>,
    /// Per copied device: the properties dropped (they named nodes the guest lacks).
    pub dropped: Vec<(String, Vec<String>)>,
    /// Guest path of each copied device node, by board path.
    pub copied: Vec<(String, String)>,
}

/// Path of the virtual console node.
pub fn console_path() -> String {
    format!("/pl011@{:x}", VUART_BASE.raw())
}

/// Builds the guest device tree of partition `index` of `spec`.
pub fn build(spec: &SystemSpec, index: usize) -> Result<GuestDeviceTree, GuestDtbError> {
    let partition = &spec.partitions()[index];
    let board = spec.board();
    let mut fdt = FdtWriter::new()?;
    let root = fdt.begin_node("")?;
    fdt.property_string_list(
        "compatible",
        ROOT_COMPATIBLE
            .iter()
            .map(|entry| (*entry).to_owned())
            .collect(),
    )?;
    fdt.property_string("model", &partition.name)?;
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 2)?;
    fdt.property_u32("interrupt-parent", GIC_PHANDLE)?;

    let copied: Vec<(String, String)> = partition
        .devices
        .iter()
        .map(|device| {
            let name = guest_node_name(
                &board.tree,
                &device.info.path,
                device.info.registers.first().map(|range| range.base()),
            );
            (device.info.path.clone(), format!("/{name}"))
        })
        .collect();
    let console = match &partition.console {
        ConsoleSpec::Virtual => console_path(),
        ConsoleSpec::Passthrough(path) => copied
            .iter()
            .find(|(board_path, _)| board_path == path)
            .map_or_else(console_path, |(_, guest)| guest.clone()),
    };
    let chosen = fdt.begin_node("chosen")?;
    fdt.property_string("bootargs", partition.bootargs.as_deref().unwrap_or(""))?;
    fdt.property_string("stdout-path", &console)?;
    if let (Some(start), Some((_, size))) = (partition.initrd_ipa(), &partition.initrd) {
        fdt.property_u64("linux,initrd-start", start)?;
        fdt.property_u64("linux,initrd-end", start + size)?;
    }
    // Placeholders the hypervisor fills at every (re)start (`bulkhead_core::boot_seed`);
    // zero here, so the blob stays deterministic.
    fdt.property_u64("kaslr-seed", 0)?;
    fdt.property("rng-seed", &[0u8; RNG_SEED_BYTES])?;
    fdt.end_node(chosen)?;

    let aliases = fdt.begin_node("aliases")?;
    fdt.property_string("serial0", &console)?;
    fdt.end_node(aliases)?;

    let memory = fdt.begin_node(&format!("memory@{:x}", RAM_BASE.raw()))?;
    fdt.property_string("device_type", "memory")?;
    fdt.property_array_u64("reg", &[RAM_BASE.raw(), partition.ram.size()])?;
    fdt.end_node(memory)?;

    write_cpus(&mut fdt, partition, board)?;
    write_virtual_devices(&mut fdt, partition, &board.gic)?;

    let mut copier = Copier {
        tree: &board.tree,
        partition,
        next_phandle: FIRST_COPIED_PHANDLE,
        clocks: BTreeMap::new(),
        dropped: Vec::new(),
    };
    for (device, (_, guest_path)) in partition.devices.iter().zip(&copied) {
        copier.copy_device(&mut fdt, &device.info.path, &guest_path[1..])?;
    }
    copier.write_clocks(&mut fdt)?;
    write_regions(&mut fdt, partition)?;
    write_channels(&mut fdt, spec, partition)?;
    write_forwarded_interrupts(&mut fdt, partition)?;
    write_framebuffer(&mut fdt, spec, index)?;

    fdt.end_node(root)?;
    let blob = fdt.finish()?;
    if blob.len() as u64 > DTB_MAX_SIZE {
        return Err(GuestDtbError::TooLarge { size: blob.len() });
    }
    Ok(GuestDeviceTree {
        blob,
        dropped: copier.dropped,
        copied,
    })
}

/// A copied device's node name: its generic name with the CPU physical address of its first
/// register as unit address (the board's may be a bus-local address).
fn guest_node_name(tree: &DeviceTree, path: &str, address: Option<u64>) -> String {
    let name = tree.node(path).map_or("device", Node::name);
    let generic = name.split('@').next().unwrap_or(name);
    match address {
        Some(address) => format!("{generic}@{address:x}"),
        None => generic.to_owned(),
    }
}

/// `/cpus`: one node per vCPU. `reg` is the vCPU index, which is the affinity the hypervisor
/// presents in `VMPIDR_EL2` (Aff0 = vCPU, upper levels zero).
fn write_cpus(
    fdt: &mut FdtWriter,
    partition: &PartitionSpec,
    board: &Board,
) -> Result<(), GuestDtbError> {
    let cpus = fdt.begin_node("cpus")?;
    fdt.property_u32("#address-cells", 1)?;
    fdt.property_u32("#size-cells", 0)?;
    for (vcpu, core) in partition.cpus.iter().take(partition.vcpus).enumerate() {
        let compatible = board
            .cores
            .get(*core)
            .map(|core| core.compatible.clone())
            .filter(|compatible| !compatible.is_empty())
            .unwrap_or_else(|| vec!["arm,armv8".to_owned()]);
        let node = fdt.begin_node(&format!("cpu@{vcpu:x}"))?;
        fdt.property_string("device_type", "cpu")?;
        fdt.property_string_list("compatible", compatible)?;
        fdt.property_u32("reg", vcpu as u32)?;
        fdt.property_string("enable-method", "psci")?;
        fdt.end_node(node)?;
    }
    fdt.end_node(cpus)?;
    Ok(())
}

/// The virtual GIC's node: the board's GIC architecture, since the guest's CPU interface is
/// the hardware's virtual one. GICv3 (`arm,gic-v3.yaml`): distributor and one redistributor
/// region. GICv2 (`arm,gic.yaml`): `arm,cortex-a15-gic` (the compatible QEMU `virt` and KVM
/// give GICv2 guests; a GIC-400 is register-compatible with it) with the distributor and the
/// CPU interface (GICC = the board's GICV frame, [`VGICC_BASE`]); no GICH/GICV and no
/// maintenance interrupt, which belong to the hypervisor.
fn write_gic(
    fdt: &mut FdtWriter,
    partition: &PartitionSpec,
    board_gic: &bulkhead_core::system::Gic,
) -> Result<(), GuestDtbError> {
    let gic = fdt.begin_node(&format!("intc@{:x}", VGICD_BASE.raw()))?;
    // GICv3: distributor and redistributors; GICv2: distributor and the CPU interface (the
    // board's GICV frame, mapped by stage 2).
    let (compatible, reg) = match board_gic {
        bulkhead_core::system::Gic::V3 { .. } => (
            "arm,gic-v3",
            [VGICD_BASE.raw(), VGICD_SIZE, VGICR_BASE.raw(), VGICR_STRIDE * partition.vcpus as u64],
        ),
        bulkhead_core::system::Gic::V2 { .. } => {
            ("arm,cortex-a15-gic", [VGICD_BASE.raw(), VGICD_V2_SIZE, VGICC_BASE.raw(), VGICC_SIZE])
        }
    };
    fdt.property_string("compatible", compatible)?;
    fdt.property_u32("#interrupt-cells", 3)?;
    // No child nodes; the explicit zero lets `interrupt-map` users parse specifiers.
    fdt.property_u32("#address-cells", 0)?;
    fdt.property_null("interrupt-controller")?;
    fdt.property_array_u64("reg", &reg)?;
    if matches!(board_gic, bulkhead_core::system::Gic::V3 { .. }) {
        fdt.property_u32("#redistributor-regions", 1)?;
    }
    fdt.property_phandle(GIC_PHANDLE)?;
    fdt.end_node(gic)?;
    Ok(())
}

/// PSCI, the virtual GIC, the timer, the PL011's clock and the PL011.
fn write_virtual_devices(
    fdt: &mut FdtWriter,
    partition: &PartitionSpec,
    board_gic: &bulkhead_core::system::Gic,
) -> Result<(), GuestDtbError> {
    let psci = fdt.begin_node("psci")?;
    fdt.property_string_list(
        "compatible",
        vec![
            "arm,psci-1.0".into(),
            "arm,psci-0.2".into(),
            "arm,psci".into(),
        ],
    )?;
    // Guests call PSCI with HVC: the hypervisor owns EL2 and emulates PSCI for its partitions.
    fdt.property_string("method", "hvc")?;
    fdt.end_node(psci)?;

    write_gic(fdt, partition, board_gic)?;

    let timer = fdt.begin_node("timer")?;
    fdt.property_string("compatible", "arm,armv8-timer")?;
    // Binding order: secure physical, non-secure physical, virtual, hypervisor physical.
    let mut interrupts = Vec::with_capacity(12);
    for intid in [
        timer_intid::SECURE_PHYSICAL,
        timer_intid::PHYSICAL,
        timer_intid::VIRTUAL,
        timer_intid::HYP_PHYSICAL,
    ] {
        interrupts.extend_from_slice(&[GIC_PPI, intid - FIRST_PPI, IRQ_TYPE_LEVEL_HIGH]);
    }
    fdt.property_array_u32("interrupts", &interrupts)?;
    fdt.property_null("always-on")?;
    fdt.end_node(timer)?;

    let clock = fdt.begin_node("apb-pclk")?;
    fdt.property_string("compatible", "fixed-clock")?;
    fdt.property_u32("#clock-cells", 0)?;
    fdt.property_u32("clock-frequency", APB_CLOCK_HZ)?;
    fdt.property_string("clock-output-names", "clk24mhz")?;
    fdt.property_phandle(CLOCK_PHANDLE)?;
    fdt.end_node(clock)?;

    let uart = fdt.begin_node(&console_path()[1..])?;
    fdt.property_string_list(
        "compatible",
        vec!["arm,pl011".into(), "arm,primecell".into()],
    )?;
    fdt.property_array_u64("reg", &[VUART_BASE.raw(), VUART_SIZE])?;
    fdt.property_array_u32(
        "interrupts",
        &[GIC_SPI, VUART_INTID - FIRST_SPI, IRQ_TYPE_LEVEL_HIGH],
    )?;
    fdt.property_array_u32("clocks", &[CLOCK_PHANDLE, CLOCK_PHANDLE])?;
    fdt.property_string_list("clock-names", vec!["uartclk".into(), "apb_pclk".into()])?;
    fdt.end_node(uart)?;
    Ok(())
}

fn access_name(access: Access) -> &'static str {
    match access {
        Access::ReadWrite => "rw",
        Access::ReadOnly => "ro",
    }
}

/// A GIC SPI specifier for guest INTID `intid`.
fn spi(intid: u32, trigger: Trigger) -> [u32; 3] {
    let flags = match trigger {
        Trigger::Level => IRQ_TYPE_LEVEL_HIGH,
        Trigger::Edge => IRQ_TYPE_EDGE_RISING,
    };
    [GIC_SPI, intid - FIRST_SPI, flags]
}

fn write_regions(fdt: &mut FdtWriter, partition: &PartitionSpec) -> Result<(), GuestDtbError> {
    for region in &partition.regions {
        let node = fdt.begin_node(&format!("region@{:x}", region.ipa))?;
        fdt.property_string("compatible", "bulkhead,memory-region")?;
        fdt.property_array_u64("reg", &[region.ipa, region.host.size()])?;
        fdt.property_string("bulkhead,name", &region.name)?;
        fdt.property_string("bulkhead,access", access_name(region.access))?;
        fdt.end_node(node)?;
    }
    Ok(())
}

/// The partition's display layer, if it has one: a Linux `simple-framebuffer` node (so an
/// unmodified kernel draws with simpledrm) carrying the layer's index for the present call,
/// and a `/reserved-memory` entry with `no-map` so the guest's allocator keeps off the
/// pixels (`Documentation/devicetree/bindings/display/simple-framebuffer.yaml`,
/// `.../reserved-memory/reserved-memory.yaml`).
fn write_framebuffer(
    fdt: &mut FdtWriter,
    spec: &SystemSpec,
    partition: usize,
) -> Result<(), GuestDtbError> {
    let Some(display) = spec.display() else {
        return Ok(());
    };
    let Some((index, layer)) = display
        .layers
        .iter()
        .enumerate()
        .find(|(_, layer)| layer.partition == partition)
    else {
        return Ok(());
    };
    let reg = [layer.framebuffer_ipa, layer.framebuffer_bytes()];
    let reserved = fdt.begin_node("reserved-memory")?;
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 2)?;
    fdt.property_null("ranges")?;
    let pixels = fdt.begin_node(&format!("framebuffer@{:x}", layer.framebuffer_ipa))?;
    fdt.property_array_u64("reg", &reg)?;
    fdt.property_null("no-map")?;
    fdt.end_node(pixels)?;
    fdt.end_node(reserved)?;
    let node = fdt.begin_node(&format!("framebuffer@{:x}", layer.framebuffer_ipa))?;
    fdt.property_string("compatible", "simple-framebuffer")?;
    fdt.property_array_u64("reg", &reg)?;
    fdt.property_u32("width", layer.width)?;
    fdt.property_u32("height", layer.height)?;
    fdt.property_u32("stride", layer.stride)?;
    fdt.property_string("format", layer.format.simple_framebuffer_name())?;
    fdt.property_string("status", "okay")?;
    // The virtual vblank (`DISPLAY_VBLANK`), a PPI of vCPU 0 the guest turns on with the call.
    fdt.property_array_u32(
        "interrupts",
        &[GIC_PPI, VBLANK_INTID - FIRST_PPI, IRQ_TYPE_EDGE_RISING],
    )?;
    fdt.property_u32("bulkhead,layer", u32::try_from(index).unwrap_or(u32::MAX))?;
    if layer.critical {
        fdt.property_u32("bulkhead,freeze-threshold", layer.freeze_threshold)?;
    }
    fdt.end_node(node)?;
    Ok(())
}

fn write_channels(
    fdt: &mut FdtWriter,
    spec: &SystemSpec,
    partition: &PartitionSpec,
) -> Result<(), GuestDtbError> {
    let me = spec
        .partitions()
        .iter()
        .position(|other| std::ptr::eq(other, partition));
    for endpoint in &partition.endpoints {
        let Some(channel) = spec.channels().get(endpoint.channel) else {
            continue;
        };
        let size = channel.memory.size();
        let node = fdt.begin_node(&format!("channel@{:x}", endpoint.ipa))?;
        fdt.property_string("compatible", "bulkhead,channel")?;
        match endpoint.doorbell {
            Some(doorbell) => {
                fdt.property_array_u64(
                    "reg",
                    &[endpoint.ipa, size, doorbell.register, DOORBELL_PAGE_SIZE],
                )?;
                fdt.property_string_list("reg-names", vec!["shared".into(), "doorbell".into()])?;
                fdt.property_array_u32("interrupts", &spi(doorbell.intid, Trigger::Edge))?;
            }
            None => {
                fdt.property_array_u64("reg", &[endpoint.ipa, size])?;
                fdt.property_string_list("reg-names", vec!["shared".into()])?;
            }
        }
        fdt.property_string("bulkhead,name", &channel.name)?;
        fdt.property_u32("bulkhead,id", endpoint.channel as u32)?;
        fdt.property_string("bulkhead,access", access_name(endpoint.access))?;
        let peers: Vec<String> = channel
            .endpoints
            .iter()
            .filter(|(index, _)| Some(*index) != me)
            .filter_map(|(index, _)| spec.partitions().get(*index))
            .map(|peer| peer.name.clone())
            .collect();
        fdt.property_string_list("bulkhead,peers", peers)?;
        fdt.end_node(node)?;
    }
    Ok(())
}

fn write_forwarded_interrupts(
    fdt: &mut FdtWriter,
    partition: &PartitionSpec,
) -> Result<(), GuestDtbError> {
    let extras: Vec<_> = partition
        .interrupts
        .iter()
        .filter(|interrupt| interrupt.source == InterruptSource::Extra)
        .collect();
    if extras.is_empty() {
        return Ok(());
    }
    let node = fdt.begin_node("forwarded-interrupts")?;
    fdt.property_string("compatible", "bulkhead,forwarded-interrupts")?;
    let specifiers: Vec<u32> = extras
        .iter()
        .flat_map(|interrupt| spi(interrupt.guest, interrupt.trigger))
        .collect();
    fdt.property_array_u32("interrupts", &specifiers)?;
    let physical: Vec<u32> = extras.iter().map(|interrupt| interrupt.physical).collect();
    fdt.property_array_u32("bulkhead,physical-intids", &physical)?;
    fdt.end_node(node)?;
    Ok(())
}

/// Copies device subtrees from the board tree, collecting fixed clocks and dropped
/// properties.
struct Copier<'a> {
    tree: &'a DeviceTree,
    partition: &'a PartitionSpec,
    next_phandle: u32,
    /// Board phandle of a copied fixed clock → its guest phandle.
    clocks: BTreeMap<u32, u32>,
    dropped: Vec<(String, Vec<String>)>,
}

fn is_dropped(name: &str) -> bool {
    DROPPED_PROPERTIES.contains(&name)
        || name.ends_with("-gpios")
        || name.ends_with("-gpio")
        || name.ends_with("-supply")
        || name
            .strip_prefix("pinctrl-")
            .is_some_and(|index| index.chars().all(|c| c.is_ascii_digit()))
}

impl Copier<'_> {
    fn copy_device(
        &mut self,
        fdt: &mut FdtWriter,
        board_path: &str,
        guest_name: &str,
    ) -> Result<(), GuestDtbError> {
        let node = self
            .tree
            .node(board_path)
            .ok_or_else(|| GuestDtbError::MissingNode(board_path.to_owned()))?;
        let mut dropped = Vec::new();
        let handle = fdt.begin_node(guest_name)?;
        let registers: Vec<u64> = node
            .physical_reg
            .iter()
            .flatten()
            .flat_map(|reg| [reg.address, reg.size])
            .collect();
        if !registers.is_empty() {
            fdt.property_array_u64("reg", &registers)?;
        }
        let interrupts = self.renumbered_interrupts(node);
        if !interrupts.is_empty() {
            fdt.property_array_u32("interrupts", &interrupts)?;
        }
        fdt.property_string("status", "okay")?;
        if node.property("interrupt-controller").is_some()
            && node.property("#address-cells").is_none()
        {
            // The copy is an interrupt provider for the guest's own nodes: state that its
            // specifiers carry no parent address (dtc's `interrupt_provider` check).
            fdt.property_u32("#address-cells", 0)?;
        }
        let clocks = self.copyable_clocks(node);
        for (name, value) in node.properties() {
            match name {
                "reg" | "interrupts" | "status" => {}
                "clocks" => match &clocks {
                    Some(cells) => fdt.property_array_u32("clocks", cells)?,
                    None => dropped.push(name.to_owned()),
                },
                "clock-names" if clocks.is_none() => dropped.push(name.to_owned()),
                // Structural properties the copy restates: not worth reporting as lost.
                "phandle" | "linux,phandle" | "interrupt-parent" => {}
                _ if is_dropped(name) => dropped.push(name.to_owned()),
                _ => fdt.property(name, value)?,
            }
        }
        self.copy_children(fdt, board_path, &mut dropped)?;
        fdt.end_node(handle)?;
        if !dropped.is_empty() {
            dropped.sort();
            dropped.dedup();
            self.dropped.push((board_path.to_owned(), dropped));
        }
        Ok(())
    }

    fn copy_children(
        &mut self,
        fdt: &mut FdtWriter,
        path: &str,
        dropped: &mut Vec<String>,
    ) -> Result<(), GuestDtbError> {
        let children: Vec<&Node> = self.tree.children(path).collect();
        for child in children {
            let handle = fdt.begin_node(child.name())?;
            for (name, value) in child.properties() {
                if matches!(name, "phandle" | "linux,phandle" | "interrupt-parent") {
                    continue;
                }
                // A child's interrupts would name physical SPIs: they are not forwarded.
                if is_dropped(name)
                    || name == "clocks"
                    || name == "interrupts"
                    || name == "interrupt-names"
                {
                    dropped.push(format!("{}: {name}", child.name()));
                } else {
                    fdt.property(name, value)?;
                }
            }
            self.copy_children(fdt, &child.path, dropped)?;
            fdt.end_node(handle)?;
        }
        Ok(())
    }

    /// The node's interrupt specifiers in order, each physical INTID replaced by the guest's.
    fn renumbered_interrupts(&self, node: &Node) -> Vec<u32> {
        let cells = match node.cells("interrupts-extended") {
            // <phandle type number flags>: the parent was checked to be the GIC.
            Some(cells) => cells
                .chunks_exact(4)
                .flat_map(|chunk| [chunk[1], chunk[2], chunk[3]])
                .collect(),
            None => node.cells("interrupts").unwrap_or_default(),
        };
        cells
            .chunks_exact(3)
            .filter_map(|specifier| {
                let physical = gic_intid(specifier)?;
                let guest = self
                    .partition
                    .interrupts
                    .iter()
                    .find(|interrupt| interrupt.physical == physical)?
                    .guest;
                Some([GIC_SPI, guest - FIRST_SPI, specifier[2]])
            })
            .flatten()
            .collect()
    }

    /// `clocks` rewritten to copied fixed clocks, when every provider is a `fixed-clock`
    /// with `#clock-cells = <0>`.
    fn copyable_clocks(&mut self, node: &Node) -> Option<Vec<u32>> {
        let cells = node.cells("clocks")?;
        let mut rewritten = Vec::with_capacity(cells.len());
        for phandle in &cells {
            let provider = self.tree.by_phandle(*phandle)?;
            if !provider.is_compatible(&["fixed-clock"])
                || provider.number("#clock-cells") != Some(0)
            {
                return None;
            }
        }
        for phandle in cells {
            let next = self.next_phandle;
            let guest = *self.clocks.entry(phandle).or_insert(next);
            if guest == next {
                self.next_phandle += 1;
            }
            rewritten.push(guest);
        }
        Some(rewritten)
    }

    /// The fixed clocks copied devices refer to.
    fn write_clocks(&self, fdt: &mut FdtWriter) -> Result<(), GuestDtbError> {
        for (board_phandle, guest_phandle) in &self.clocks {
            let Some(provider) = self.tree.by_phandle(*board_phandle) else {
                continue;
            };
            let handle = fdt.begin_node(&format!("passthrough-clock-{guest_phandle}"))?;
            for (name, value) in provider.properties() {
                if name != "phandle" && name != "linux,phandle" {
                    fdt.property(name, value)?;
                }
            }
            fdt.property_phandle(*guest_phandle)?;
            fdt.end_node(handle)?;
        }
        Ok(())
    }
}
