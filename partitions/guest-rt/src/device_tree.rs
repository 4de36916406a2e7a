//! What a guest learns from its device tree, read once at boot into [`BootInfo`].
//!
//! The hypervisor generates each partition's device tree from the system manifest; on bare
//! QEMU it is QEMU's own. Both describe the same kinds of devices at the same places (see
//! `hypervisor/core/src/layout.rs`), but a guest still reads every address from the tree so
//! that it runs unchanged wherever the tree says things are.
//!
//! Only the `fdt` crate's non-panicking calls are used: its `chosen()`, `cpus()`,
//! `root().model()` and `timebase_frequency()` helpers panic when a node or property is
//! absent, which is normal for a minimal partition tree.

use fdt::Fdt;
use fdt::node::FdtNode;
use heapless::Vec;

use crate::MAX_VCPUS;

/// The facts of the device tree that the runtime and the example guests use.
pub struct BootInfo {
    /// The whole device tree, for anything else a guest wants to look up.
    pub device_tree: Fdt<'static>,
    /// The root node's `model`: the partition name under Bulkhead, "linux,dummy-virt" on QEMU.
    pub model: &'static str,
    /// `/chosen/bootargs`, empty when absent.
    pub bootargs: &'static str,
    /// The PL011 named by `/chosen/stdout-path` (or the first PL011 when there is no path).
    pub console: Option<UartDescription>,
    /// The GICv3 (`arm,gic-v3`).
    pub gic: Option<GicDescription>,
    /// INTID of the EL1 virtual timer: the third interrupt of the `arm,armv8-timer` node.
    pub virtual_timer_intid: Option<u32>,
    /// INTID of the EL1 (non-secure) physical timer: the second interrupt of the
    /// `arm,armv8-timer` node.
    pub physical_timer_intid: Option<u32>,
    /// How to call PSCI (`/psci` `method`).
    pub psci: Option<Conduit>,
    /// `MPIDR_EL1` affinity of each vCPU (the `reg` of each `/cpus/cpu` node), in tree order:
    /// index `i` is vCPU `i`. At most [`MAX_VCPUS`] are kept.
    pub cpus: Vec<u64, MAX_VCPUS>,
    /// The ends of shared-memory channels this partition is on (`bulkhead,channel` nodes),
    /// in tree order. At most [`MAX_CHANNELS`] are kept.
    pub channels: Vec<ChannelDescription, MAX_CHANNELS>,
}

/// Most channel ends a guest keeps from its device tree: the example guests use one or two.
pub const MAX_CHANNELS: usize = 8;

/// This partition's end of a shared-memory channel, as the hypervisor's generated tree
/// describes it (`compatible = "bulkhead,channel"`, see `docs/manifest.md`, `[[channel]]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelDescription {
    /// The channel's name in the manifest (`bulkhead,name`; the node name when absent).
    pub name: &'static str,
    /// Guest physical address of the shared memory (the `reg` entry named `shared`).
    pub shared_memory: usize,
    /// Size of the shared memory in bytes.
    pub shared_memory_size: usize,
    /// What stage 2 lets this end do with the shared memory (`bulkhead,access`).
    pub access: ChannelAccess,
    /// The doorbell, when the channel has one.
    pub doorbell: Option<DoorbellDescription>,
}

/// A channel end's stage-2 permission on the shared memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelAccess {
    /// `"rw"`: this end may write.
    ReadWrite,
    /// `"ro"`: a store from this end is a stage-2 permission fault. Also assumed when the
    /// property is absent or unknown: believing a writable end read-only cannot cause a fault.
    ReadOnly,
}

/// A channel end's doorbell: a register that notifies the peers, and the interrupt by which
/// the peers notify this end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DoorbellDescription {
    /// Guest physical address of the doorbell register (the `reg` entry named `doorbell`). It
    /// is not mapped at stage 2: a store to it traps, and the hypervisor raises the doorbell
    /// interrupt in every other end of the channel.
    pub register: usize,
    /// INTID of the edge-triggered SPI raised when a peer rings.
    pub intid: u32,
}

/// Where a PL011 is and which interrupt it raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UartDescription {
    /// Base address of the register frame.
    pub base: usize,
    /// INTID of its interrupt, if the node has one.
    pub intid: Option<u32>,
}

/// Where the GIC's frames are: a GICv3 (`arm,gic-v3`: distributor and redistributors) or a
/// GICv2 (`arm,cortex-a15-gic`, `arm,gic-400`: distributor and a memory-mapped CPU interface,
/// [`GicDescription::cpu_interface`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GicDescription {
    /// Distributor (GICD) base.
    pub distributor: usize,
    /// GICv2 only: the CPU interface (GICC) base, the second `reg` entry. `None` on a GICv3,
    /// whose CPU interface is reached through system registers.
    pub cpu_interface: Option<usize>,
    /// First redistributor (GICR) frame (GICv3; 0 on a GICv2).
    pub redistributors: usize,
    /// Size of the redistributor region.
    pub redistributors_size: usize,
    /// Distance between two redistributors (`redistributor-stride`, else 128 KiB: an RD_base
    /// and an SGI_base frame of 64 KiB each).
    pub redistributor_stride: usize,
}

/// The instruction that reaches the PSCI implementation (`/psci` `method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    /// Hypervisor call: PSCI is implemented at EL2.
    Hvc,
    /// Secure monitor call: PSCI is implemented at EL3.
    Smc,
}

/// Why the runtime could not use the device tree it was given.
#[derive(Clone, Copy, Debug)]
pub enum DeviceTreeError {
    /// `x0` did not point at a valid flattened device tree.
    Invalid(fdt::FdtError),
}

/// Redistributor stride of a GICv3 without virtual LPIs (GICv3 spec, "The GIC Redistributor").
const DEFAULT_REDISTRIBUTOR_STRIDE: usize = 0x2_0000;
/// `compatible` values of the GICv2 binding (`arm,gic.yaml`) whose CPU interface the
/// runtime drives: what Bulkhead gives guests on GIC-400 boards, and what a GIC-400 is.
const GICV2_COMPATIBLE: [&str; 2] = ["arm,cortex-a15-gic", "arm,gic-400"];
/// `#interrupt-cells` of the GICv3 binding when the node does not say.
const DEFAULT_INTERRUPT_CELLS: usize = 3;

impl BootInfo {
    /// Reads the device tree at `address`.
    ///
    /// # Safety
    ///
    /// `address` must point at a flattened device tree (or at least at readable memory the
    /// size of its header) that stays valid and unchanged for the rest of the program.
    pub unsafe fn read(address: usize) -> Result<Self, DeviceTreeError> {
        // SAFETY: the caller guarantees the tree is readable and lives for the whole program;
        // `from_ptr` reads the header first and then no more than the size it states.
        let device_tree =
            unsafe { Fdt::from_ptr(address as *const u8) }.map_err(DeviceTreeError::Invalid)?;
        Ok(Self::from_device_tree(device_tree))
    }

    /// Reads the facts out of a parsed device tree. Absent nodes and properties become `None`
    /// (or empty); nothing here panics.
    pub fn from_device_tree(device_tree: Fdt<'static>) -> Self {
        let gic_node = device_tree
            .find_compatible(&["arm,gic-v3"])
            .or_else(|| device_tree.find_compatible(&GICV2_COMPATIBLE));
        let interrupt_cells = gic_node
            .and_then(|node| node.interrupt_cells())
            .unwrap_or(DEFAULT_INTERRUPT_CELLS);
        Self {
            model: node_string(&device_tree, "/", "model").unwrap_or("unnamed"),
            bootargs: node_string(&device_tree, "/chosen", "bootargs").unwrap_or(""),
            console: console(&device_tree, interrupt_cells),
            gic: gic_node.and_then(gic),
            virtual_timer_intid: device_tree
                .find_compatible(&["arm,armv8-timer"])
                // Interrupts in binding order: secure physical, non-secure physical, virtual,
                // hypervisor physical.
                .and_then(|timer| interrupt_ids(timer, interrupt_cells).nth(2)),
            physical_timer_intid: device_tree
                .find_compatible(&["arm,armv8-timer"])
                .and_then(|timer| interrupt_ids(timer, interrupt_cells).nth(1)),
            psci: psci_conduit(&device_tree),
            cpus: cpus(&device_tree),
            channels: channels(&device_tree, interrupt_cells),
            device_tree,
        }
    }

    /// The value of the `key=value` token in [`BootInfo::bootargs`], if present.
    pub fn bootarg(&self, key: &str) -> Option<&'static str> {
        self.bootargs
            .split_ascii_whitespace()
            .find_map(|token| token.strip_prefix(key)?.strip_prefix('='))
    }
}

/// A string property, without its terminating NUL.
fn string(value: &[u8]) -> Option<&str> {
    let text = value.strip_suffix(&[0]).unwrap_or(value);
    core::str::from_utf8(text).ok()
}

fn node_string(device_tree: &Fdt<'static>, path: &str, property: &str) -> Option<&'static str> {
    string(device_tree.find_node(path)?.property(property)?.value)
}

fn is_pl011(node: &FdtNode<'_, 'static>) -> bool {
    node.compatible()
        .is_some_and(|compatible| compatible.all().any(|c| c == "arm,pl011"))
}

fn console(device_tree: &Fdt<'static>, interrupt_cells: usize) -> Option<UartDescription> {
    // stdout-path may carry options after a colon ("serial0:115200n8") and may be an alias,
    // which `find_node` resolves.
    let stdout = node_string(device_tree, "/chosen", "stdout-path")
        .and_then(|path| device_tree.find_node(path.split(':').next()?))
        .filter(is_pl011);
    let node = stdout.or_else(|| device_tree.find_compatible(&["arm,pl011"]))?;
    Some(UartDescription {
        base: node.reg()?.next()?.starting_address as usize,
        intid: interrupt_ids(node, interrupt_cells).next(),
    })
}

fn gic(node: FdtNode<'_, 'static>) -> Option<GicDescription> {
    let mut regions = node.reg()?;
    let distributor = regions.next()?;
    let version_2 = node
        .compatible()
        .is_some_and(|compatible| compatible.all().any(|entry| GICV2_COMPATIBLE.contains(&entry)));
    if version_2 {
        let cpu_interface = regions.next()?;
        return Some(GicDescription {
            distributor: distributor.starting_address as usize,
            cpu_interface: Some(cpu_interface.starting_address as usize),
            redistributors: 0,
            redistributors_size: 0,
            redistributor_stride: DEFAULT_REDISTRIBUTOR_STRIDE,
        });
    }
    let redistributors = regions.next()?;
    let redistributor_stride = node
        .property("redistributor-stride")
        .and_then(|property| big_endian_number(property.value))
        .unwrap_or(DEFAULT_REDISTRIBUTOR_STRIDE as u64) as usize;
    Some(GicDescription {
        distributor: distributor.starting_address as usize,
        cpu_interface: None,
        redistributors: redistributors.starting_address as usize,
        redistributors_size: redistributors.size.unwrap_or(redistributor_stride),
        redistributor_stride,
    })
}

fn psci_conduit(device_tree: &Fdt<'static>) -> Option<Conduit> {
    let psci = device_tree.find_compatible(&["arm,psci-1.0", "arm,psci-0.2", "arm,psci"])?;
    match string(psci.property("method")?.value)? {
        "hvc" => Some(Conduit::Hvc),
        "smc" => Some(Conduit::Smc),
        _ => None,
    }
}

fn cpus(device_tree: &Fdt<'static>) -> Vec<u64, MAX_VCPUS> {
    let mut cpus = Vec::new();
    let Some(cpus_node) = device_tree.find_node("/cpus") else {
        return cpus;
    };
    let address_bytes = cpus_node.cell_sizes().address_cells * 4;
    let mpidrs = cpus_node
        .children()
        .filter(|node| node.property("device_type").and_then(|p| string(p.value)) == Some("cpu"))
        .filter_map(|node| big_endian_number(node.property("reg")?.value.get(..address_bytes)?));
    for mpidr in mpidrs {
        // A vCPU past MAX_VCPUS would have no stack; it is never started.
        if cpus.push(mpidr).is_err() {
            break;
        }
    }
    cpus
}

fn channels(
    device_tree: &Fdt<'static>,
    interrupt_cells: usize,
) -> Vec<ChannelDescription, MAX_CHANNELS> {
    let mut found = Vec::new();
    let descriptions = device_tree
        .all_nodes()
        .filter(|node| {
            node.compatible()
                .is_some_and(|compatible| compatible.all().any(|c| c == "bulkhead,channel"))
        })
        .filter_map(|node| channel(node, interrupt_cells));
    for description in descriptions {
        // Channels past MAX_CHANNELS are not used; the hypervisor still maps them.
        if found.push(description).is_err() {
            break;
        }
    }
    found
}

/// One `bulkhead,channel` node; `None` when it names no shared memory.
fn channel(node: FdtNode<'_, 'static>, interrupt_cells: usize) -> Option<ChannelDescription> {
    // `reg-names` says which entry is which; without it the binding's order holds: the
    // shared memory, then the doorbell register.
    let names = node.property("reg-names").map(|property| property.value);
    let position = |wanted: &str, default: usize| match names {
        Some(list) => list
            .split(|byte| *byte == 0)
            .position(|entry| entry == wanted.as_bytes()),
        None => Some(default),
    };
    let entry = |index: usize| node.reg()?.nth(index);
    let shared = entry(position("shared", 0)?)?;
    let doorbell_register = position("doorbell", 1).and_then(entry);
    let doorbell_intid = interrupt_ids(node, interrupt_cells).next();
    let access = match node
        .property("bulkhead,access")
        .and_then(|p| string(p.value))
    {
        Some("rw") => ChannelAccess::ReadWrite,
        _ => ChannelAccess::ReadOnly,
    };
    Some(ChannelDescription {
        name: node
            .property("bulkhead,name")
            .and_then(|property| string(property.value))
            .unwrap_or(node.name),
        shared_memory: shared.starting_address as usize,
        shared_memory_size: shared.size.unwrap_or(0),
        access,
        doorbell: doorbell_register
            .zip(doorbell_intid)
            .map(|(register, intid)| DoorbellDescription {
                register: register.starting_address as usize,
                intid,
            }),
    })
}

/// A one- or two-cell big-endian number.
fn big_endian_number(bytes: &[u8]) -> Option<u64> {
    match *bytes {
        [a, b, c, d] => Some(u64::from(u32::from_be_bytes([a, b, c, d]))),
        [a, b, c, d, e, f, g, h] => Some(u64::from_be_bytes([a, b, c, d, e, f, g, h])),
        _ => None,
    }
}

/// The INTIDs of a node's `interrupts`, decoded per the GIC binding: the first cell is 0 for
/// an SPI (INTID = number + 32) or 1 for a PPI (INTID = number + 16), the second the number.
/// Other kinds (extended ranges) are skipped.
fn interrupt_ids(node: FdtNode<'_, 'static>, interrupt_cells: usize) -> impl Iterator<Item = u32> {
    const SPI: u32 = 0;
    const PPI: u32 = 1;
    let value = node
        .property("interrupts")
        .map_or(&[][..], |property| property.value);
    value
        .chunks_exact(interrupt_cells.max(2) * 4)
        .filter_map(|specifier| {
            let cell = |index: usize| {
                let bytes = specifier.get(index * 4..index * 4 + 4)?;
                Some(u32::from_be_bytes(bytes.try_into().ok()?))
            };
            match cell(0)? {
                SPI => Some(cell(1)? + 32),
                PPI => Some(cell(1)? + 16),
                _ => None,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_fdt::{FdtWriter, FdtWriterResult};

    const GIC_PHANDLE: u32 = 1;

    /// Parses a device tree whose root node `write` fills in (after the cell sizes).
    fn boot_info(write: impl FnOnce(&mut FdtWriter) -> FdtWriterResult<()>) -> BootInfo {
        let mut writer = FdtWriter::new().unwrap();
        let root = writer.begin_node("").unwrap();
        writer.property_u32("#address-cells", 2).unwrap();
        writer.property_u32("#size-cells", 2).unwrap();
        write(&mut writer).unwrap();
        writer.end_node(root).unwrap();
        let blob: &'static [u8] = writer.finish().unwrap().leak();
        BootInfo::from_device_tree(Fdt::new(blob).unwrap())
    }

    fn cpus_node(writer: &mut FdtWriter, count: u32) -> FdtWriterResult<()> {
        let cpus = writer.begin_node("cpus")?;
        writer.property_u32("#address-cells", 1)?;
        writer.property_u32("#size-cells", 0)?;
        for index in 0..count {
            let cpu = writer.begin_node(&format!("cpu@{index}"))?;
            writer.property_string("device_type", "cpu")?;
            writer.property_string("enable-method", "psci")?;
            writer.property_u32("reg", index)?;
            writer.end_node(cpu)?;
        }
        // QEMU adds a topology node under /cpus; it is not a CPU.
        let cpu_map = writer.begin_node("cpu-map")?;
        writer.end_node(cpu_map)?;
        writer.end_node(cpus)
    }

    fn pl011_node(writer: &mut FdtWriter) -> FdtWriterResult<()> {
        let uart = writer.begin_node("pl011@9000000")?;
        writer.property_string_list(
            "compatible",
            vec!["arm,pl011".into(), "arm,primecell".into()],
        )?;
        writer.property_array_u64("reg", &[0x0900_0000, 0x1000])?;
        // SPI 1, level-high: INTID 33.
        writer.property_array_u32("interrupts", &[0, 1, 4])?;
        writer.end_node(uart)
    }

    #[test]
    fn a_gicv2_node_names_its_cpu_interface() {
        let boot = boot_info(|writer| {
            let gic = writer.begin_node("intc@8000000")?;
            writer.property_string("compatible", "arm,cortex-a15-gic")?;
            writer.property_null("interrupt-controller")?;
            writer.property_u32("#interrupt-cells", 3)?;
            writer.property_array_u64("reg", &[0x0800_0000, 0x1000, 0x0801_0000, 0x2000])?;
            writer.property_phandle(GIC_PHANDLE)?;
            writer.end_node(gic)
        });
        let gic = boot.gic.expect("a GICv2 is described");
        assert_eq!(gic.distributor, 0x0800_0000);
        assert_eq!(gic.cpu_interface, Some(0x0801_0000));
        assert_eq!(gic.redistributors_size, 0);
    }

    fn gic_node(writer: &mut FdtWriter, stride: Option<u64>) -> FdtWriterResult<()> {
        let gic = writer.begin_node("intc@8000000")?;
        writer.property_string("compatible", "arm,gic-v3")?;
        writer.property_null("interrupt-controller")?;
        writer.property_u32("#interrupt-cells", 3)?;
        writer.property_array_u64("reg", &[0x0800_0000, 0x1_0000, 0x080a_0000, 0x4_0000])?;
        if let Some(stride) = stride {
            writer.property_u64("redistributor-stride", stride)?;
        }
        writer.property_phandle(GIC_PHANDLE)?;
        writer.end_node(gic)
    }

    /// A tree shaped like the one generated for a two-vCPU partition (the address map of
    /// `hypervisor/core/src/layout.rs`, which mirrors QEMU `virt`).
    fn partition(writer: &mut FdtWriter) -> FdtWriterResult<()> {
        writer.property_string("compatible", "linux,dummy-virt")?;
        writer.property_string("model", "heartbeat")?;
        writer.property_u32("interrupt-parent", GIC_PHANDLE)?;
        let chosen = writer.begin_node("chosen")?;
        writer.property_string("bootargs", "heartbeats=5 fault-after=2")?;
        writer.property_string("stdout-path", "/pl011@9000000")?;
        writer.end_node(chosen)?;
        let memory = writer.begin_node("memory@40000000")?;
        writer.property_string("device_type", "memory")?;
        writer.property_array_u64("reg", &[0x4000_0000, 0x0100_0000])?;
        writer.end_node(memory)?;
        cpus_node(writer, 2)?;
        let psci = writer.begin_node("psci")?;
        writer.property_string_list(
            "compatible",
            vec!["arm,psci-1.0".into(), "arm,psci-0.2".into()],
        )?;
        writer.property_string("method", "hvc")?;
        writer.end_node(psci)?;
        gic_node(writer, None)?;
        pl011_node(writer)?;
        let timer = writer.begin_node("timer")?;
        writer.property_string("compatible", "arm,armv8-timer")?;
        // Secure physical, non-secure physical, virtual, hypervisor: PPIs 13, 14, 11, 10.
        let ppi = |number| [1, number, 0xf04];
        writer.property_array_u32("interrupts", &[ppi(13), ppi(14), ppi(11), ppi(10)].concat())?;
        writer.end_node(timer)
    }

    #[test]
    fn reads_every_fact_of_a_partition_device_tree() {
        let boot = boot_info(partition);
        assert_eq!(boot.model, "heartbeat");
        assert_eq!(boot.bootargs, "heartbeats=5 fault-after=2");
        assert_eq!(
            boot.console,
            Some(UartDescription {
                base: 0x0900_0000,
                intid: Some(33)
            })
        );
        assert_eq!(
            boot.gic,
            Some(GicDescription {
                distributor: 0x0800_0000,
                cpu_interface: None,
                redistributors: 0x080a_0000,
                redistributors_size: 0x4_0000,
                redistributor_stride: 0x2_0000,
            })
        );
        assert_eq!(boot.virtual_timer_intid, Some(27));
        assert_eq!(boot.physical_timer_intid, Some(30));
        assert_eq!(boot.psci, Some(Conduit::Hvc));
        assert_eq!(boot.cpus.as_slice(), &[0, 1]);
    }

    #[test]
    fn stdout_path_may_be_an_alias_with_options() {
        let boot = boot_info(|writer| {
            let aliases = writer.begin_node("aliases")?;
            writer.property_string("serial0", "/pl011@9000000")?;
            writer.end_node(aliases)?;
            let chosen = writer.begin_node("chosen")?;
            writer.property_string("stdout-path", "serial0:115200n8")?;
            writer.end_node(chosen)?;
            // Without a GIC node the interrupt cells default to the GICv3 binding's three.
            pl011_node(writer)
        });
        assert_eq!(
            boot.console,
            Some(UartDescription {
                base: 0x0900_0000,
                intid: Some(33)
            })
        );
    }

    #[test]
    fn absent_nodes_give_none_instead_of_panicking() {
        let boot = boot_info(|_| Ok(()));
        assert_eq!(boot.model, "unnamed");
        assert_eq!(boot.bootargs, "");
        assert_eq!(boot.console, None);
        assert_eq!(boot.gic, None);
        assert_eq!(boot.virtual_timer_intid, None);
        assert_eq!(boot.psci, None);
        assert!(boot.cpus.is_empty());
        assert!(boot.channels.is_empty());
    }

    #[test]
    fn redistributor_stride_property_overrides_the_default() {
        let boot = boot_info(|writer| gic_node(writer, Some(0x4_0000)));
        assert_eq!(boot.gic.map(|gic| gic.redistributor_stride), Some(0x4_0000));
    }

    #[test]
    fn cpus_beyond_max_vcpus_are_not_kept() {
        let boot = boot_info(|writer| cpus_node(writer, MAX_VCPUS as u32 + 2));
        assert_eq!(boot.cpus.len(), MAX_VCPUS);
        assert_eq!(boot.cpus.last(), Some(&(MAX_VCPUS as u64 - 1)));
    }

    #[test]
    fn bootarg_matches_whole_keys_only() {
        let boot = boot_info(|writer| {
            let chosen = writer.begin_node("chosen")?;
            writer.property_string(
                "bootargs",
                "quiet heartbeats-max=9  heartbeats=5 fault-after=",
            )?;
            writer.end_node(chosen)
        });
        assert_eq!(boot.bootarg("heartbeats"), Some("5"));
        assert_eq!(boot.bootarg("fault-after"), Some(""));
        assert_eq!(boot.bootarg("quiet"), None);
        assert_eq!(boot.bootarg("heart"), None);
    }

    /// A channel node as the hypervisor writes it (`hypervisor/config/src/guest_dtb.rs`):
    /// shared memory at `ipa`, and with `doorbell` the register page right after it and SPI 17
    /// (INTID 49).
    fn channel_node(
        writer: &mut FdtWriter,
        name: &str,
        ipa: u64,
        access: &str,
        doorbell: bool,
    ) -> FdtWriterResult<()> {
        const SIZE: u64 = 0x1_0000;
        let node = writer.begin_node(&format!("channel@{ipa:x}"))?;
        writer.property_string("compatible", "bulkhead,channel")?;
        if doorbell {
            writer.property_array_u64("reg", &[ipa, SIZE, ipa + SIZE, 0x1000])?;
            writer.property_string_list("reg-names", vec!["shared".into(), "doorbell".into()])?;
            // SPI 17, edge rising.
            writer.property_array_u32("interrupts", &[0, 17, 1])?;
        } else {
            writer.property_array_u64("reg", &[ipa, SIZE])?;
            writer.property_string_list("reg-names", vec!["shared".into()])?;
        }
        writer.property_string("bulkhead,name", name)?;
        writer.property_u32("bulkhead,id", 0)?;
        writer.property_string("bulkhead,access", access)?;
        writer.property_string_list("bulkhead,peers", vec!["infotainment".into()])?;
        writer.end_node(node)
    }

    #[test]
    fn channel_ends_are_read_with_their_doorbells() {
        let boot = boot_info(|writer| {
            gic_node(writer, None)?;
            channel_node(writer, "telemetry", 0x4401_0000, "rw", true)?;
            channel_node(writer, "status", 0x4403_0000, "ro", false)
        });
        assert_eq!(
            boot.channels.as_slice(),
            &[
                ChannelDescription {
                    name: "telemetry",
                    shared_memory: 0x4401_0000,
                    shared_memory_size: 0x1_0000,
                    access: ChannelAccess::ReadWrite,
                    doorbell: Some(DoorbellDescription {
                        register: 0x4402_0000,
                        intid: 49,
                    }),
                },
                ChannelDescription {
                    name: "status",
                    shared_memory: 0x4403_0000,
                    shared_memory_size: 0x1_0000,
                    access: ChannelAccess::ReadOnly,
                    doorbell: None,
                },
            ]
        );
    }

    #[test]
    fn reg_names_say_which_channel_region_is_the_doorbell() {
        let boot = boot_info(|writer| {
            let node = writer.begin_node("channel@44020000")?;
            writer.property_string("compatible", "bulkhead,channel")?;
            writer.property_array_u64("reg", &[0x4402_0000, 0x1000, 0x4401_0000, 0x1_0000])?;
            writer.property_string_list("reg-names", vec!["doorbell".into(), "shared".into()])?;
            writer.property_array_u32("interrupts", &[0, 18, 1])?;
            writer.end_node(node)
        });
        let channel = boot.channels.first().expect("one channel node");
        assert_eq!(channel.shared_memory, 0x4401_0000);
        assert_eq!(channel.shared_memory_size, 0x1_0000);
        assert_eq!(
            channel.doorbell,
            Some(DoorbellDescription {
                register: 0x4402_0000,
                intid: 50,
            })
        );
        // Neither `bulkhead,name` nor `bulkhead,access`: the node name, and the access that
        // cannot fault.
        assert_eq!(channel.name, "channel@44020000");
        assert_eq!(channel.access, ChannelAccess::ReadOnly);
    }

    #[test]
    fn a_doorbell_register_without_an_interrupt_is_no_doorbell() {
        let boot = boot_info(|writer| {
            let node = writer.begin_node("channel@44010000")?;
            writer.property_string("compatible", "bulkhead,channel")?;
            writer.property_array_u64("reg", &[0x4401_0000, 0x1_0000, 0x4402_0000, 0x1000])?;
            writer.end_node(node)
        });
        let channel = boot.channels.first().expect("one channel node");
        assert_eq!(channel.shared_memory, 0x4401_0000);
        assert_eq!(channel.doorbell, None);
    }

    #[test]
    fn channels_beyond_max_channels_are_not_kept() {
        let boot = boot_info(|writer| {
            for index in 0..MAX_CHANNELS as u64 + 1 {
                channel_node(writer, "c", 0x4400_0000 + index * 0x2_0000, "rw", false)?;
            }
            Ok(())
        });
        assert_eq!(boot.channels.len(), MAX_CHANNELS);
    }

    #[test]
    fn memory_without_a_device_tree_is_rejected() {
        let not_a_device_tree: &'static [u8] = vec![0_u8; 64].leak();
        // SAFETY: the buffer is readable, 64 bytes (more than a header) and never freed.
        let result = unsafe { BootInfo::read(not_a_device_tree.as_ptr() as usize) };
        assert!(
            matches!(result, Err(DeviceTreeError::Invalid(_))),
            "zeros parsed as a device tree"
        );
    }
}
