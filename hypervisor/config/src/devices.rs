//! Pass-through devices: what one node of the board's device tree gives a partition.
//!
//! A device is named in the manifest by path, alias or label; everything else — its MMIO
//! registers, its interrupts, whether it can master the bus — is read here from the tree,
//! never retyped by the integrator. Stage 2 maps whole 4 KiB pages, so a device's registers
//! are widened to pages, and any other device whose registers fall in the same page would be
//! handed over too: [`MmioMap`] finds those neighbours.
//!
//! Design: [impl->dsn~config-devices~1]

use std::fmt;

use bulkhead_core::system::Trigger;

use crate::board::devicetree::{DeviceTree, Node};
use crate::board::{Board, gic_intid};
use crate::units::{AddressRange, GRANULE_4KIB, align_up};

/// One interrupt of a device, as the board's GIC numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceInterrupt {
    /// Physical INTID (an SPI).
    pub intid: u32,
    /// The specifier's flags cell (trigger type in bits 3:0, `IRQ_TYPE_*`).
    pub flags: u32,
}

impl DeviceInterrupt {
    /// Edge when the flags say rising or falling edge (`IRQ_TYPE_EDGE_*` = 1, 2), else level.
    pub fn trigger(self) -> Trigger {
        if self.flags & 0x3 != 0 {
            Trigger::Edge
        } else {
            Trigger::Level
        }
    }
}

/// What a device node gives a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Node path.
    pub path: String,
    /// Register ranges as the tree states them, in CPU physical addresses.
    pub registers: Vec<AddressRange>,
    /// The registers widened to whole 4 KiB pages, sorted and merged.
    pub pages: Vec<AddressRange>,
    /// Interrupts in specifier order, each INTID once.
    pub interrupts: Vec<DeviceInterrupt>,
    /// Why the device is taken to be able to master the bus (DMA), if it is.
    pub dma: Option<String>,
    /// Whether the node's `status` is okay.
    pub enabled: bool,
}

/// Why a node cannot be passed through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// Neither registers nor interrupts.
    NoResources,
    /// A `reg` that has no CPU physical address (behind a bus without `ranges`).
    NotMemoryMapped,
    /// Interrupts routed through another controller than the GIC.
    InterruptParent {
        /// The controller's path, when known.
        controller: String,
    },
    /// A private interrupt (SGI/PPI), which belongs to each core, not to a device.
    PrivateInterrupt {
        /// The INTID.
        intid: u32,
    },
    /// An `interrupt-map` (PCI-style nexus): its routes would need rewriting.
    InterruptMap,
    /// An interrupt specifier that is not three GIC cells.
    MalformedInterrupts,
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoResources => f.write_str("the node has neither `reg` nor interrupts"),
            Self::NotMemoryMapped => f.write_str(
                "its `reg` has no CPU physical address (a bus between it and the root has no `ranges`)",
            ),
            Self::InterruptParent { controller } => write!(
                f,
                "its interrupts go to {controller}, not to the GIC; only GIC interrupts can be forwarded"
            ),
            Self::PrivateInterrupt { intid } => write!(
                f,
                "it uses private interrupt INTID {intid} (SGI/PPI), which belongs to each core and cannot be handed to a partition"
            ),
            Self::InterruptMap => f.write_str(
                "it has an `interrupt-map` (PCI-style routing), which the compiler cannot renumber",
            ),
            Self::MalformedInterrupts => {
                f.write_str("its `interrupts` are not three-cell GIC specifiers")
            }
        }
    }
}

/// Generic node names (Devicetree Specification v0.4 §2.2.2) of device classes that master
/// the bus.
const BUS_MASTER_NAMES: &[&str] = &[
    "dma",
    "dma-controller",
    "ethernet",
    "usb",
    "mmc",
    "sdhci",
    "pcie",
    "pci",
    "sata",
    "gpu",
    "display",
    "nand-controller",
    "video-codec",
    "crypto",
    "dsp",
];

/// Why `node` is taken to be able to master the bus, if it is. The rule (documented in
/// `docs/manifest.md`): an `iommus`, `#dma-cells`, `dma-coherent` or `dma-ranges` property,
/// a `virtio,mmio` compatible, or a generic name of a bus-master class.
pub fn dma_capability(node: &Node) -> Option<String> {
    for (property, reason) in [
        (
            "iommus",
            "has `iommus` (it masters the bus behind an IOMMU)",
        ),
        ("#dma-cells", "is a DMA controller (`#dma-cells`)"),
        ("dma-coherent", "is `dma-coherent` (it masters the bus)"),
        ("dma-ranges", "has `dma-ranges` (it masters the bus)"),
    ] {
        if node.property(property).is_some() {
            return Some(reason.to_owned());
        }
    }
    if node.is_compatible(&["virtio,mmio"]) {
        return Some("is a virtio device (it reads and writes guest memory)".to_owned());
    }
    let generic = node.name().split('@').next().unwrap_or_default();
    BUS_MASTER_NAMES
        .contains(&generic)
        .then(|| format!("its generic name `{generic}` is a bus-master class"))
}

/// Reads `node` as a pass-through device of `board`.
pub fn describe(board: &Board, node: &Node) -> Result<DeviceInfo, DeviceError> {
    if node.property("interrupt-map").is_some() {
        return Err(DeviceError::InterruptMap);
    }
    let registers: Vec<AddressRange> = match &node.physical_reg {
        Some(regs) => regs
            .iter()
            .filter(|reg| reg.size != 0)
            .filter_map(|reg| AddressRange::new(reg.address, reg.size))
            .collect(),
        None => return Err(DeviceError::NotMemoryMapped),
    };
    let interrupts = interrupts(board, node)?;
    if registers.is_empty() && interrupts.is_empty() {
        return Err(DeviceError::NoResources);
    }
    Ok(DeviceInfo {
        path: node.path.clone(),
        pages: pages(&registers),
        registers,
        interrupts,
        dma: dma_capability(node),
        enabled: node.is_enabled(),
    })
}

/// The node's GIC interrupts, from `interrupts` (with its interrupt parent) or
/// `interrupts-extended`, each INTID once.
fn interrupts(board: &Board, node: &Node) -> Result<Vec<DeviceInterrupt>, DeviceError> {
    let mut specifiers: Vec<[u32; 3]> = Vec::new();
    if let Some(cells) = node.cells("interrupts-extended") {
        // <phandle type number flags>... with every parent a three-cell GIC.
        let mut rest = cells.as_slice();
        while let [phandle, tail @ ..] = rest {
            if Some(*phandle) != board.gic_phandle {
                return Err(DeviceError::InterruptParent {
                    controller: controller_name(&board.tree, *phandle),
                });
            }
            let [kind, number, flags, after @ ..] = tail else {
                return Err(DeviceError::MalformedInterrupts);
            };
            specifiers.push([*kind, *number, *flags]);
            rest = after;
        }
    } else if let Some(cells) = node.cells("interrupts") {
        match node.interrupt_parent {
            parent if parent == board.gic_phandle && parent.is_some() => {}
            Some(parent) => {
                return Err(DeviceError::InterruptParent {
                    controller: controller_name(&board.tree, parent),
                });
            }
            None => {
                return Err(DeviceError::InterruptParent {
                    controller: "no interrupt parent".to_owned(),
                });
            }
        }
        if cells.len() % 3 != 0 {
            return Err(DeviceError::MalformedInterrupts);
        }
        specifiers.extend(
            cells
                .chunks_exact(3)
                .map(|chunk| [chunk[0], chunk[1], chunk[2]]),
        );
    }
    let mut out: Vec<DeviceInterrupt> = Vec::new();
    for specifier in specifiers {
        let intid = gic_intid(&specifier).ok_or(DeviceError::MalformedInterrupts)?;
        if intid < FIRST_SPI {
            return Err(DeviceError::PrivateInterrupt { intid });
        }
        if !out.iter().any(|known| known.intid == intid) {
            out.push(DeviceInterrupt {
                intid,
                flags: specifier[2],
            });
        }
    }
    Ok(out)
}

/// First SPI INTID (GICv3 spec §2.2.1): lower INTIDs are per-core SGIs and PPIs.
pub const FIRST_SPI: u32 = 32;

fn controller_name(tree: &DeviceTree, phandle: u32) -> String {
    tree.by_phandle(phandle)
        .map_or_else(|| format!("phandle {phandle:#x}"), |node| node.path.clone())
}

/// `registers` widened to 4 KiB pages, sorted and merged.
pub fn pages(registers: &[AddressRange]) -> Vec<AddressRange> {
    let mut widened: Vec<AddressRange> = registers
        .iter()
        .filter_map(|range| {
            let base = range.base() & !(GRANULE_4KIB - 1);
            let end = align_up(range.end(), GRANULE_4KIB)?;
            AddressRange::new(base, end - base)
        })
        .collect();
    merge(&mut widened);
    widened
}

/// Sorts `ranges` and merges the overlapping or adjacent ones.
pub fn merge(ranges: &mut Vec<AddressRange>) {
    ranges.sort();
    let mut merged: Vec<AddressRange> = Vec::with_capacity(ranges.len());
    for range in ranges.drain(..) {
        match merged.last_mut() {
            Some(last) if range.base() <= last.end() => {
                let end = last.end().max(range.end());
                if let Some(joined) = AddressRange::new(last.base(), end - last.base()) {
                    *last = joined;
                }
            }
            _ => merged.push(range),
        }
    }
    *ranges = merged;
}

/// Every memory-mapped register range of the board that belongs to a device (not RAM, not
/// reserved memory, not cores), sorted by address: the neighbours a page may share.
#[derive(Clone, Debug, Default)]
pub struct MmioMap {
    entries: Vec<(AddressRange, usize)>,
    paths: Vec<String>,
}

impl MmioMap {
    /// Collects the device register ranges of `tree`.
    pub fn new(tree: &DeviceTree) -> Self {
        let mut map = Self::default();
        for node in tree.nodes() {
            let excluded = node.string("device_type") == Some("memory")
                || DeviceTree::is_within(&node.path, "/reserved-memory")
                || DeviceTree::is_within(&node.path, "/cpus")
                || node.path == "/";
            let Some(regs) = node.physical_reg.as_ref().filter(|_| !excluded) else {
                continue;
            };
            let index = map.paths.len();
            let mut any = false;
            for reg in regs.iter().filter(|reg| reg.size != 0) {
                if let Some(range) = AddressRange::new(reg.address, reg.size) {
                    map.entries.push((range, index));
                    any = true;
                }
            }
            if any {
                map.paths.push(node.path.clone());
            }
        }
        map.entries.sort();
        map
    }

    /// Paths of the devices with registers overlapping `range`, in address order, each once.
    pub fn overlapping(&self, range: AddressRange) -> Vec<&str> {
        let mut found: Vec<&str> = Vec::new();
        // Sorted by base: a long entry starting earlier may still overlap, so the scan starts
        // at the beginning and stops at the first entry starting past the range.
        for (entry, index) in self.entries.iter() {
            if entry.base() >= range.end() {
                break;
            }
            if entry.overlaps(range) && !found.contains(&self.paths[*index].as_str()) {
                found.push(&self.paths[*index]);
            }
        }
        found
    }

    /// Every (range, path) pair, sorted by address.
    pub fn iter(&self) -> impl Iterator<Item = (AddressRange, &str)> {
        self.entries
            .iter()
            .map(|(range, index)| (*range, self.paths[*index].as_str()))
    }
}

// [utest->dsn~config-devices~1]
#[cfg(test)]
mod tests {
    use super::*;

    fn range(base: u64, size: u64) -> AddressRange {
        AddressRange::new(base, size).unwrap()
    }

    #[test]
    fn registers_widen_to_merged_pages() {
        assert_eq!(
            pages(&[
                range(0xfe21_5040, 0x40),
                range(0xfe21_5000, 8),
                range(0x1000, 0x2000)
            ]),
            [range(0x1000, 0x2000), range(0xfe21_5000, 0x1000)]
        );
    }

    #[test]
    fn edge_flags_are_edge_and_the_rest_level() {
        let interrupt = |flags| DeviceInterrupt { intid: 40, flags };
        assert_eq!(interrupt(1).trigger(), Trigger::Edge);
        assert_eq!(interrupt(2).trigger(), Trigger::Edge);
        assert_eq!(interrupt(4).trigger(), Trigger::Level);
        assert_eq!(interrupt(0xf04).trigger(), Trigger::Level);
    }
}
