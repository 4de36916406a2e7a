//! The device tree each partition boots with, describing the virtual machine the hypervisor
//! emulates rather than the board.
//!
//! Every partition sees the same QEMU-`virt`-like map from `bulkhead_core::layout` (vGICv3,
//! virtual PL011, RAM at `RAM_BASE`), whatever board it runs on, so guests need no per-board
//! builds. The blob is written with `vm-fdt` directly (no `dtc`): the output is byte-for-byte
//! deterministic and the property layout follows the Linux bindings (`arm,gic-v3.yaml`,
//! `arm,arch_timer.yaml`, `arm,pl011.yaml`, `arm,psci.yaml`) so a later Linux partition boots
//! with the same tree.

use std::fmt;

use bulkhead_core::layout::{
    DTB_MAX_SIZE, RAM_BASE, VGICD_BASE, VGICD_SIZE, VGICR_BASE, VGICR_STRIDE, VUART_BASE,
    VUART_INTID, VUART_SIZE, timer_intid,
};
use vm_fdt::FdtWriter;

use crate::board::Board;
use crate::spec::PartitionSpec;

/// Root `compatible`: ours first, then the QEMU machine whose map the partition mirrors.
pub const ROOT_COMPATIBLE: [&str; 2] = ["bulkhead,partition", "linux,dummy-virt"];
/// Frequency of the fixed APB clock feeding the virtual PL011 (as on QEMU `virt`).
pub const APB_CLOCK_HZ: u32 = 24_000_000;

const GIC_PHANDLE: u32 = 1;
const CLOCK_PHANDLE: u32 = 2;
/// GIC binding interrupt specifier types.
const GIC_SPI: u32 = 0;
const GIC_PPI: u32 = 1;
/// `IRQ_TYPE_LEVEL_HIGH` in the interrupt specifier's flags cell.
const IRQ_TYPE_LEVEL_HIGH: u32 = 4;
/// First INTIDs of the PPI and SPI ranges (GICv3 spec §2.2.1).
const FIRST_PPI: u32 = 16;
const FIRST_SPI: u32 = 32;

/// Why no device tree was produced.
#[derive(Debug)]
pub enum GuestDtbError {
    /// `vm-fdt` refused a node or property (e.g. bootargs containing NUL).
    Writer(vm_fdt::Error),
    /// The blob exceeds the slot the hypervisor reserves for it.
    TooLarge {
        /// Blob size in bytes.
        size: usize,
    },
}

impl fmt::Display for GuestDtbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Writer(error) => write!(f, "device tree writer: {error}"),
            Self::TooLarge { size } => write!(
                f,
                "the device tree is {size} bytes, more than {DTB_MAX_SIZE}"
            ),
        }
    }
}

impl From<vm_fdt::Error> for GuestDtbError {
    fn from(error: vm_fdt::Error) -> Self {
        Self::Writer(error)
    }
}

/// Path of the virtual console node (also `stdout-path` and alias `serial0`).
pub fn console_path() -> String {
    format!("/pl011@{:x}", VUART_BASE.raw())
}

/// Builds the guest device tree for `partition`.
pub fn build(partition: &PartitionSpec, board: &Board) -> Result<Vec<u8>, GuestDtbError> {
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

    let chosen = fdt.begin_node("chosen")?;
    fdt.property_string("bootargs", partition.bootargs.as_deref().unwrap_or(""))?;
    fdt.property_string("stdout-path", &console_path())?;
    fdt.end_node(chosen)?;

    let aliases = fdt.begin_node("aliases")?;
    fdt.property_string("serial0", &console_path())?;
    fdt.end_node(aliases)?;

    let memory = fdt.begin_node(&format!("memory@{:x}", RAM_BASE.raw()))?;
    fdt.property_string("device_type", "memory")?;
    fdt.property_array_u64("reg", &[RAM_BASE.raw(), partition.ram.size()])?;
    fdt.end_node(memory)?;

    write_cpus(&mut fdt, partition, board)?;

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

    let redistributors_size = VGICR_STRIDE * partition.cpus.len() as u64;
    let gic = fdt.begin_node(&format!("intc@{:x}", VGICD_BASE.raw()))?;
    fdt.property_string("compatible", "arm,gic-v3")?;
    fdt.property_u32("#interrupt-cells", 3)?;
    // No child nodes; the explicit zero lets `interrupt-map` users parse specifiers.
    fdt.property_u32("#address-cells", 0)?;
    fdt.property_null("interrupt-controller")?;
    fdt.property_array_u64(
        "reg",
        &[
            VGICD_BASE.raw(),
            VGICD_SIZE,
            VGICR_BASE.raw(),
            redistributors_size,
        ],
    )?;
    fdt.property_u32("#redistributor-regions", 1)?;
    fdt.property_phandle(GIC_PHANDLE)?;
    fdt.end_node(gic)?;

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

    fdt.end_node(root)?;
    let blob = fdt.finish()?;
    if blob.len() as u64 > DTB_MAX_SIZE {
        return Err(GuestDtbError::TooLarge { size: blob.len() });
    }
    Ok(blob)
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
    for (vcpu, core) in partition.cpus.iter().enumerate() {
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
