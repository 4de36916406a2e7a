//! The ZCU102's boot files: a U-Boot FIT image holding the hypervisor and the board's device
//! tree, and the `boot.scr` that loads and starts it.
//!
//! The boot chain is the vendor's: the boot ROM loads `BOOT.BIN` from the SD card's first FAT
//! partition (FSBL, PMU firmware, TF-A at EL3, U-Boot at EL2); U-Boot's distro boot finds
//! `boot.scr` on that partition, loads it at `scriptaddr` (0x2000_0000 in Xilinx's ZynqMP
//! configuration) and runs it. Ours loads `bulkhead.itb` just above the hypervisor's
//! reservation and runs `bootm`, which checks the SHA-256 of each part, copies the hypervisor
//! to its load address (`[hypervisor] base`), hands over the device tree and jumps to the
//! entry at EL2 with the MMU and caches off, `x0` = the tree: the arm64 boot protocol, which
//! the image's entry expects (secondary cores are started later with PSCI through TF-A).
//!
//! Why `os = "linux"`: it is the FIT OS type whose `bootm` path on arm64 enters the image at
//! EL2 in that state; `go` would jump with U-Boot's MMU and caches still on. `bootm` on arm64
//! insists on a device tree for that path (without one it prints "FDT and ATAGS support not
//! compiled in" and hangs), so the FIT carries the board tree the image was compiled against.

use std::fmt;

use bulkhead_config::units::{AddressRange, align_up, hex};

/// The FIT image's file name on the card.
pub const FIT_FILE: &str = "bulkhead.itb";

/// The boot script's file name (what U-Boot's distro boot looks for).
pub const SCRIPT_FILE: &str = "boot.scr";

/// The boot script's source, kept beside it for reading.
pub const SCRIPT_SOURCE_FILE: &str = "boot.cmd";

/// The FIT source `mkimage -f` compiles.
pub const ITS_FILE: &str = "bulkhead.its";

/// The hypervisor's flat image inside the FIT.
pub const KERNEL_FILE: &str = "bulkhead.bin";

/// The board device tree inside the FIT.
pub const DTB_FILE: &str = "zcu102.dtb";

/// The FIT configuration `bootm` selects by default.
pub const CONFIGURATION: &str = "bulkhead";

/// Where Xilinx's ZynqMP U-Boot loads `boot.scr` (`scriptaddr`, `include/configs/xilinx_zynqmp.h`)
/// and the most it reads (`script_size_f`): the FIT must not be loaded over the running script.
pub const SCRIPT_ADDRESS: AddressRange = match AddressRange::new(0x2000_0000, 0x8_0000) {
    Some(range) => range,
    None => panic!("script range overflows"),
};

/// Where everything goes in RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootPlan {
    /// The hypervisor's reservation (`[hypervisor] base` and `size`).
    pub hypervisor: AddressRange,
    /// Where `boot.scr` loads the FIT: the first 2 MiB boundary after the reservation.
    pub fit: AddressRange,
}

/// Why no plan fits the board.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// The FIT would not fit in the RAM bank after the reservation.
    OutsideRam(AddressRange),
    /// The FIT would overwrite the running boot script.
    OverScript(AddressRange),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutsideRam(range) => write!(f, "the FIT image would be loaded at {range}, outside the board's RAM"),
            Self::OverScript(range) => write!(
                f,
                "the FIT image would be loaded at {range}, over boot.scr at {} (U-Boot's scriptaddr); lower [hypervisor] base or shrink the image",
                SCRIPT_ADDRESS
            ),
        }
    }
}

impl std::error::Error for PlanError {}

impl BootPlan {
    /// Places a FIT of `fit_size` bytes after `hypervisor`, inside one range of `ram`, and
    /// clear of the boot script. The area is free while U-Boot runs; once `bootm` has copied
    /// the hypervisor out of it, the hypervisor may give it to a partition.
    pub fn new(hypervisor: AddressRange, ram: &[AddressRange], fit_size: u64) -> Result<Self, PlanError> {
        let start = align_up(hypervisor.end(), 2 << 20).unwrap_or(u64::MAX);
        let fit = AddressRange::new(start, fit_size.max(1))
            .ok_or(PlanError::OutsideRam(AddressRange::new(start, 0).unwrap_or(hypervisor)))?;
        if !ram.iter().any(|bank| bank.contains(fit)) {
            return Err(PlanError::OutsideRam(fit));
        }
        if fit.overlaps(SCRIPT_ADDRESS) {
            return Err(PlanError::OverScript(fit));
        }
        Ok(Self { hypervisor, fit })
    }

    /// The hypervisor's load and entry address.
    pub fn load_address(&self) -> u64 {
        self.hypervisor.base()
    }
}

/// A FIT `load`/`entry` value: one cell when it fits 32 bits (what `#address-cells = <1>`
/// says), else two (U-Boot reads either length).
fn cells(value: u64) -> String {
    match u32::try_from(value) {
        Ok(low) => format!("<{low:#x}>"),
        Err(_) => format!("<{:#x} {:#x}>", value >> 32, value & 0xffff_ffff),
    }
}

/// The FIT source for `mkimage -f`; `system` names the manifest it was built from.
pub fn its(plan: &BootPlan, system: &str) -> String {
    let load = cells(plan.load_address());
    format!(
        r#"/*
 * Bulkhead for the Xilinx ZCU102, system `{system}`: generated by `cargo xtask flash --board zcu102`.
 * Compile with `mkimage -f {ITS_FILE} {FIT_FILE}`; `mkimage -l {FIT_FILE}` lists it.
 */
/dts-v1/;

/ {{
    description = "Bulkhead hypervisor, system {system}, for the ZCU102";
    #address-cells = <1>;

    images {{
        hypervisor {{
            description = "Bulkhead EL2 image (flat binary, entry at its first byte)";
            data = /incbin/("{KERNEL_FILE}");
            type = "kernel";
            arch = "arm64";
            os = "linux";
            compression = "none";
            load = {load};
            entry = {load};
            hash-1 {{
                algo = "sha256";
            }};
        }};
        fdt {{
            description = "ZCU102 device tree the image was compiled against";
            data = /incbin/("{DTB_FILE}");
            type = "flat_dt";
            arch = "arm64";
            compression = "none";
            hash-1 {{
                algo = "sha256";
            }};
        }};
    }};

    configurations {{
        default = "{CONFIGURATION}";
        {CONFIGURATION} {{
            description = "Bulkhead at {base}";
            kernel = "hypervisor";
            fdt = "fdt";
        }};
    }};
}};
"#,
        base = hex(plan.load_address()),
    )
}

/// The U-Boot commands of `boot.scr`. Distro boot sets `devtype`, `devnum` and
/// `distro_bootpart` to where it found the script; run by hand (`source`), the SD card
/// (`mmc 0:1` on the ZCU102, whose only SD slot is SD1) is assumed.
pub fn boot_commands(plan: &BootPlan) -> String {
    let fit = hex(plan.fit.base()).replace('_', "");
    let base = hex(plan.load_address()).replace('_', "");
    format!(
        "# Bulkhead on the ZCU102: generated by `cargo xtask flash --board zcu102`.\n\
         # Loads {FIT_FILE} at {fit}, after the hypervisor's reservation; bootm copies the\n\
         # hypervisor to {base} and enters it at EL2 with x0 = the device tree.\n\
         if test -z \"${{devtype}}\"; then setenv devtype mmc; fi\n\
         if test -z \"${{devnum}}\"; then setenv devnum 0; fi\n\
         if test -z \"${{distro_bootpart}}\"; then setenv distro_bootpart 1; fi\n\
         echo \"Bulkhead: loading {FIT_FILE} from ${{devtype}} ${{devnum}}:${{distro_bootpart}} to {fit}\"\n\
         load ${{devtype}} ${{devnum}}:${{distro_bootpart}} {fit} {FIT_FILE}\n\
         bootm {fit}#{CONFIGURATION}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(base: u64, size: u64) -> AddressRange {
        AddressRange::new(base, size).expect("valid range")
    }

    /// The ZCU102's low DDR bank and its board.toml reservation.
    fn zcu102_plan(fit_size: u64) -> Result<BootPlan, PlanError> {
        BootPlan::new(range(0x1000_0000, 32 << 20), &[range(0, 0x8000_0000), range(0x8_0000_0000, 0x8000_0000)], fit_size)
    }

    #[test]
    fn the_fit_is_loaded_right_after_the_reservation() {
        let plan = zcu102_plan(3 << 20).expect("fits");
        assert_eq!(plan.fit.base(), 0x1200_0000);
        assert_eq!(plan.load_address(), 0x1000_0000);
    }

    #[test]
    fn a_fit_reaching_the_boot_script_is_refused() {
        assert!(matches!(zcu102_plan(0x0e00_0001), Err(PlanError::OverScript(_))));
        assert!(zcu102_plan(0x0e00_0000).is_ok());
    }

    #[test]
    fn a_fit_past_the_end_of_ram_is_refused() {
        let plan = BootPlan::new(range(0x7c00_0000, 32 << 20), &[range(0, 0x8000_0000)], 64 << 20);
        assert!(matches!(plan, Err(PlanError::OutsideRam(_))));
    }

    #[test]
    fn the_its_loads_and_enters_the_hypervisor_at_its_base() {
        let plan = zcu102_plan(1 << 20).expect("fits");
        let source = its(&plan, "demo-zcu102");
        assert!(source.contains("load = <0x10000000>;"), "{source}");
        assert!(source.contains("entry = <0x10000000>;"), "{source}");
        assert!(source.contains("os = \"linux\";"));
        assert!(source.contains("data = /incbin/(\"bulkhead.bin\");"));
        assert!(source.contains("fdt = \"fdt\";"));
        assert_eq!(cells(0x8_0000_0000), "<0x8 0x0>");
    }

    #[test]
    fn the_script_loads_the_fit_where_the_plan_says_and_boots_it() {
        let plan = zcu102_plan(1 << 20).expect("fits");
        let script = boot_commands(&plan);
        let commands: Vec<&str> = script.lines().filter(|line| !line.starts_with('#')).collect();
        assert_eq!(commands[4], "load ${devtype} ${devnum}:${distro_bootpart} 0x12000000 bulkhead.itb");
        assert_eq!(commands[5], "bootm 0x12000000#bulkhead");
        assert_eq!(commands.len(), 6);
    }
}
