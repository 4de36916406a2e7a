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
use std::path::{Path, PathBuf};

use bulkhead_config::units::{AddressRange, align_up, hex};

use super::FlashError;
use super::tools::FlashTools;

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
pub const DTB_FILE: &str = "board.dtb";

/// The FIT configuration `bootm` selects by default.
pub const CONFIGURATION: &str = "bulkhead";

/// Where Xilinx's ZynqMP U-Boot loads `boot.scr` (`scriptaddr`, `include/configs/xilinx_zynqmp.h`)
/// and the most it reads (`script_size_f`): neither the FIT nor the hypervisor's copy may be
/// put over the running script.
pub const ZYNQMP_SCRIPT_ADDRESS: AddressRange = match AddressRange::new(0x2000_0000, 0x8_0000) {
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
    /// Where U-Boot runs `boot.scr` from.
    pub script: AddressRange,
}

/// Why no plan fits the board.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// The FIT would not fit in the RAM bank after the reservation.
    OutsideRam(AddressRange),
    /// The FIT would overwrite the running boot script.
    OverScript(AddressRange),
    /// `bootm`'s copy of the hypervisor would overwrite the running boot script.
    KernelOverScript(AddressRange),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutsideRam(range) => write!(f, "the FIT image would be loaded at {range}, outside the board's RAM"),
            Self::OverScript(range) => write!(
                f,
                "the FIT image would be loaded at {range}, over boot.scr (U-Boot's scriptaddr); lower [hypervisor] base or shrink the image"
            ),
            Self::KernelOverScript(range) => write!(
                f,
                "bootm would copy the hypervisor to {range}, over boot.scr (U-Boot's scriptaddr) while it runs"
            ),
        }
    }
}

impl std::error::Error for PlanError {}

impl BootPlan {
    /// Places a FIT of `fit_size` bytes after `hypervisor`, inside one range of `ram`, and
    /// clear of the boot script at `script`, which the `kernel_size` bytes `bootm` copies to
    /// the base must not reach either. The FIT's area is free while U-Boot runs; once `bootm`
    /// has copied the hypervisor out of it, the hypervisor may give it to a partition.
    pub fn new(
        hypervisor: AddressRange,
        ram: &[AddressRange],
        kernel_size: u64,
        fit_size: u64,
        script: AddressRange,
    ) -> Result<Self, PlanError> {
        let start = align_up(hypervisor.end(), 2 << 20).unwrap_or(u64::MAX);
        let fit = AddressRange::new(start, fit_size.max(1))
            .ok_or(PlanError::OutsideRam(AddressRange::new(start, 0).unwrap_or(hypervisor)))?;
        if !ram.iter().any(|bank| bank.contains(fit)) {
            return Err(PlanError::OutsideRam(fit));
        }
        if fit.overlaps(script) {
            return Err(PlanError::OverScript(fit));
        }
        let kernel = AddressRange::new(hypervisor.base(), kernel_size.max(1)).unwrap_or(hypervisor);
        if kernel.overlaps(script) {
            return Err(PlanError::KernelOverScript(kernel));
        }
        Ok(Self { hypervisor, fit, script })
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

/// The FIT source for `mkimage -f`; `system` names the manifest it was built from, `board`
/// the board (`ZCU102`).
pub fn its(plan: &BootPlan, system: &str, board: &str) -> String {
    let load = cells(plan.load_address());
    format!(
        r#"/*
 * Bulkhead for the {board}, system `{system}`: generated by `cargo xtask flash`.
 * Compile with `mkimage -f {ITS_FILE} {FIT_FILE}`; `mkimage -l {FIT_FILE}` lists it.
 */
/dts-v1/;

/ {{
    description = "Bulkhead hypervisor, system {system}, for the {board}";
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
            description = "{board} device tree the image was compiled against";
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

/// What goes into the FIT.
#[derive(Clone, Copy, Debug)]
pub struct FitContents<'a> {
    /// The flat hypervisor image.
    pub kernel: &'a [u8],
    /// The board's device tree blob.
    pub dtb: &'a [u8],
    /// The system's name, for the descriptions.
    pub system: &'a str,
    /// The board's name, for the descriptions (`ZCU102`).
    pub board: &'a str,
}

/// Writes `bulkhead.its`, the flat kernel and the tree to `build`, and `bulkhead.itb` and
/// `boot.scr` (with its source `boot.cmd` in `build`) to `boot`; returns the FIT and script.
pub fn write_boot_files(
    tools: &FlashTools,
    build: &Path,
    boot: &Path,
    plan: &BootPlan,
    contents: FitContents<'_>,
) -> Result<(PathBuf, PathBuf), FlashError> {
    super::write(&build.join(KERNEL_FILE), contents.kernel)?;
    super::write(&build.join(DTB_FILE), contents.dtb)?;
    super::write(&build.join(ITS_FILE), its(plan, contents.system, contents.board))?;
    let fit = boot.join(FIT_FILE);
    let fit_argument = fit.to_string_lossy().into_owned();
    super::mkimage(tools, build, &["-f", ITS_FILE, &fit_argument])?;
    let fit_size = std::fs::metadata(&fit).map_err(super::io_error(&fit))?.len();
    if fit_size > plan.fit.size() {
        return Err(FlashError::Plan(PlanError::OutsideRam(plan.fit)));
    }
    super::write(&build.join(SCRIPT_SOURCE_FILE), boot_commands(plan))?;
    let script = boot.join(SCRIPT_FILE);
    let script_argument = script.to_string_lossy().into_owned();
    super::mkimage(
        tools,
        build,
        &["-A", "arm64", "-O", "linux", "-T", "script", "-C", "none", "-n", "Bulkhead boot", "-d", SCRIPT_SOURCE_FILE, &script_argument],
    )?;
    Ok((fit, script))
}

/// The U-Boot commands of `boot.scr`. Distro boot sets `devtype`, `devnum` and
/// `distro_bootpart` to where it found the script; run by hand (`source`), the SD card
/// (`mmc 0:1` on the ZCU102, whose only SD slot is SD1) is assumed.
pub fn boot_commands(plan: &BootPlan) -> String {
    let fit = hex(plan.fit.base()).replace('_', "");
    let base = hex(plan.load_address()).replace('_', "");
    format!(
        "# Bulkhead: generated by `cargo xtask flash` (boot flow of the ZCU102).\n\
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
        BootPlan::new(
            range(0x1000_0000, 32 << 20),
            &[range(0, 0x8000_0000), range(0x8_0000_0000, 0x8000_0000)],
            1 << 20,
            fit_size,
            ZYNQMP_SCRIPT_ADDRESS,
        )
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
        let plan = BootPlan::new(range(0x7c00_0000, 32 << 20), &[range(0, 0x8000_0000)], 1 << 20, 64 << 20, ZYNQMP_SCRIPT_ADDRESS);
        assert!(matches!(plan, Err(PlanError::OutsideRam(_))));
    }

    #[test]
    fn a_hypervisor_copied_over_the_boot_script_is_refused() {
        // U-Boot for QEMU `virt` runs boot.scr from 0x4020_0000, inside a reservation at
        // 0x4000_0000: fine for a small image, refused for one reaching the script.
        let script = range(0x4020_0000, 0x8_0000);
        let ram = [range(0x4000_0000, 1 << 30)];
        assert!(BootPlan::new(range(0x4000_0000, 32 << 20), &ram, 1 << 20, 1 << 20, script).is_ok());
        let plan = BootPlan::new(range(0x4000_0000, 32 << 20), &ram, 3 << 20, 4 << 20, script);
        assert!(matches!(plan, Err(PlanError::KernelOverScript(_))));
    }

    #[test]
    fn the_its_loads_and_enters_the_hypervisor_at_its_base() {
        let plan = zcu102_plan(1 << 20).expect("fits");
        let source = its(&plan, "demo-zcu102", "ZCU102");
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
