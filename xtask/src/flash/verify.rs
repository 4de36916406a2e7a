//! Checks on the files `cargo xtask flash` made, read back the way a board would read them.
//!
//! Every `cargo xtask flash` runs them before it reports success, and the flash tests run
//! them on the real board images: the kernel file is the flat image of the ELF that was
//! built; on the ZCU102, `mkimage -l` lists a kernel that loads and enters at
//! `[hypervisor] base` and a device tree, the kernel inside the FIT (`dumpimage`) is
//! byte-identical to the flat image, and `boot.scr` decodes to the commands planned; on the
//! Raspberry Pi 4, `config.txt` names the kernel file and `kernel_address` = base; and the SD
//! card image holds exactly the boot folder's files with the same bytes (`mdir`, `mcopy`).
//! The parsers are pure functions so their tests run on captured tool output.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::fat::{self, CardFile};
use super::tools::{FlashTools, REFERENCE_OBJCOPIES};
use super::uimage;

/// One image of a FIT, as `mkimage -l` lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FitImage {
    /// The node name (`hypervisor`).
    pub name: String,
    /// `Type:` (`Kernel Image`, `Flat Device Tree`).
    pub kind: String,
    /// `Architecture:`.
    pub architecture: String,
    /// `OS:`, when listed.
    pub os: Option<String>,
    /// `Load Address:`, when listed.
    pub load: Option<u64>,
    /// `Entry Point:`, when listed.
    pub entry: Option<u64>,
    /// `Hash value:`, when listed.
    pub hash: Option<String>,
}

/// A FIT as `mkimage -l` lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FitListing {
    /// The images in order.
    pub images: Vec<FitImage>,
    /// The default configuration's name.
    pub default_configuration: Option<String>,
}

fn parse_address(text: &str) -> Option<u64> {
    let digits = text.trim();
    u64::from_str_radix(digits.strip_prefix("0x").unwrap_or(digits), 16).ok()
}

/// Parses `mkimage -l` output of a FIT image.
pub fn parse_fit_listing(text: &str) -> FitListing {
    let mut listing = FitListing::default();
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("Image ") {
            if let Some((_, name)) = rest.split_once('(') {
                listing.images.push(FitImage { name: name.trim_end_matches(')').to_owned(), ..FitImage::default() });
            }
            continue;
        }
        if let Some(name) = trimmed.strip_prefix("Default Configuration:") {
            listing.default_configuration = Some(name.trim().trim_matches('\'').to_owned());
            continue;
        }
        if trimmed.starts_with("Configuration ") {
            // Configuration blocks repeat keys (`Kernel:`) that are not image fields.
            break;
        }
        let (Some(image), Some((key, value))) = (listing.images.last_mut(), trimmed.split_once(':')) else {
            continue;
        };
        let value = value.trim();
        match key {
            "Type" => image.kind = value.to_owned(),
            "Architecture" => image.architecture = value.to_owned(),
            "OS" => image.os = Some(value.to_owned()),
            "Load Address" => image.load = parse_address(value),
            "Entry Point" => image.entry = parse_address(value),
            "Hash value" => image.hash = Some(value.to_owned()),
            _ => {}
        }
    }
    listing
}

/// A check that failed, with what was expected and found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckFailure(pub String);

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for CheckFailure {}

fn failure(text: impl Into<String>) -> CheckFailure {
    CheckFailure(text.into())
}

/// The FIT lists an AArch64 Linux-type kernel named `kernel` that loads and enters at
/// `base`, hashed, and a device tree, and boots them by default.
pub fn check_fit_listing(listing: &FitListing, kernel: &str, base: u64, configuration: &str) -> Result<(), CheckFailure> {
    let image = listing
        .images
        .iter()
        .find(|image| image.name == kernel)
        .ok_or_else(|| failure(format!("the FIT has no image `{kernel}` (images: {:?})", listing.images)))?;
    if image.kind != "Kernel Image" || image.architecture != "AArch64" || image.os.as_deref() != Some("Linux") {
        return Err(failure(format!(
            "image `{kernel}` is `{}` for `{}` ({:?}), not an AArch64 Linux-type kernel",
            image.kind, image.architecture, image.os
        )));
    }
    if image.load != Some(base) || image.entry != Some(base) {
        return Err(failure(format!(
            "image `{kernel}` loads at {:?} and enters at {:?}; [hypervisor] base is {base:#x}",
            image.load.map(|address| format!("{address:#x}")),
            image.entry.map(|address| format!("{address:#x}"))
        )));
    }
    if image.hash.is_none() {
        return Err(failure(format!("image `{kernel}` has no hash: U-Boot would not check it")));
    }
    if !listing.images.iter().any(|image| image.kind == "Flat Device Tree") {
        return Err(failure("the FIT has no device tree: bootm on arm64 hangs without one"));
    }
    if listing.default_configuration.as_deref() != Some(configuration) {
        return Err(failure(format!(
            "the default configuration is {:?}, not `{configuration}`",
            listing.default_configuration
        )));
    }
    Ok(())
}

/// `boot.scr` is a valid script image whose text is `expected`.
pub fn check_boot_script(bytes: &[u8], expected: &str) -> Result<(), CheckFailure> {
    let text = uimage::script_text(bytes).map_err(|error| failure(format!("boot.scr: {error}")))?;
    if text != expected {
        return Err(failure(format!("boot.scr says\n{text}\nbut the plan is\n{expected}")));
    }
    Ok(())
}

/// `config.txt` names `kernel_file` at `base` in 64-bit mode, with the GIC and UART enabled.
pub fn check_config_txt(text: &str, kernel_file: &str, base: u64) -> Result<(), CheckFailure> {
    let value = |key: &str| {
        // The firmware takes the last setting of a key.
        text.lines()
            .rev()
            .map(str::trim)
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.split_once('='))
            .find(|(name, _)| name.trim() == key)
            .map(|(_, value)| value.trim().to_owned())
    };
    for (key, wanted) in [("arm_64bit", "1"), ("enable_gic", "1"), ("enable_uart", "1"), ("kernel", kernel_file)] {
        if value(key).as_deref() != Some(wanted) {
            return Err(failure(format!("config.txt: {key} is {:?}, expected {wanted}", value(key))));
        }
    }
    let address = value("kernel_address").and_then(|text| parse_address(&text));
    if address != Some(base) {
        return Err(failure(format!(
            "config.txt: kernel_address is {:?}; the image is linked at {base:#x}",
            value("kernel_address")
        )));
    }
    Ok(())
}

/// Runs a tool, returning stdout; a failure carries stderr.
fn output(command: &mut Command) -> Result<String, CheckFailure> {
    let shown = format!("{command:?}");
    let result = command.output().map_err(|error| failure(format!("{shown}: {error}")))?;
    if !result.status.success() {
        return Err(failure(format!("{shown} failed: {}", String::from_utf8_lossy(&result.stderr).trim())));
    }
    Ok(String::from_utf8_lossy(&result.stdout).into_owned())
}

/// `mkimage -l` of `fit`, parsed.
pub fn list_fit(tools: &FlashTools, fit: &Path) -> Result<FitListing, CheckFailure> {
    Ok(parse_fit_listing(&output(Command::new(&tools.mkimage).arg("-l").arg(fit))?))
}

/// The bytes of image `index` of `fit`, extracted with `dumpimage -T flat_dt -p`.
pub fn fit_image_bytes(tools: &FlashTools, fit: &Path, index: usize, scratch: &Path) -> Result<Vec<u8>, CheckFailure> {
    output(
        Command::new(&tools.dumpimage)
            .args(["-T", "flat_dt", "-p"])
            .arg(index.to_string())
            .arg("-o")
            .arg(scratch)
            .arg(fit),
    )?;
    std::fs::read(scratch).map_err(|error| failure(format!("{}: {error}", scratch.display())))
}

/// The card image holds exactly `files`, each with its bytes.
pub fn check_card_image(tools: &FlashTools, image: &Path, files: &[CardFile]) -> Result<(), CheckFailure> {
    let listed = fat::list(tools, image).map_err(|error| failure(error.to_string()))?;
    let mut expected: Vec<String> = files.iter().map(|file| file.name.clone()).collect();
    expected.sort();
    if listed != expected {
        return Err(failure(format!("{} holds {listed:?}, expected {expected:?}", image.display())));
    }
    for file in files {
        let on_card = fat::read(tools, image, &file.name).map_err(|error| failure(error.to_string()))?;
        let source = std::fs::read(&file.source).map_err(|error| failure(format!("{}: {error}", file.source.display())))?;
        if on_card != source {
            return Err(failure(format!("{} on the card differs from {}", file.name, file.source.display())));
        }
    }
    Ok(())
}

/// The flat file `objcopy -O binary` makes of `elf`, with the first of
/// [`REFERENCE_OBJCOPIES`] that works; `None` when none is installed. The flash tests compare
/// it with xtask's own flattening.
pub fn objcopy_binary(elf: &Path, scratch: &Path) -> Option<Vec<u8>> {
    REFERENCE_OBJCOPIES.iter().find_map(|program| {
        let status = Command::new(program).args(["-O", "binary"]).arg(elf).arg(scratch).output().ok()?;
        status.status.success().then(|| std::fs::read(scratch).ok()).flatten()
    })
}

/// Where a check's scratch files go.
pub fn scratch_path(directory: &Path, name: &str) -> PathBuf {
    directory.join(format!(".check-{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `mkimage -l` of a FIT made by `cargo xtask flash --board zcu102` (u-boot-tools 2023.01).
    const LISTING: &str = "FIT description: Bulkhead hypervisor, system example, for the ZCU102\n\
Created:         Mon Dec  7 14:20:14 2026\n Image 0 (hypervisor)\n  Description:  Bulkhead EL2 image\n\
  Created:      Mon Dec  7 14:20:14 2026\n  Type:         Kernel Image\n  Compression:  uncompressed\n\
  Data Size:    1000 Bytes = 0.98 KiB = 0.00 MiB\n  Architecture: AArch64\n  OS:           Linux\n\
  Load Address: 0x10000000\n  Entry Point:  0x10000000\n  Hash algo:    sha256\n\
  Hash value:   e9e71845957577f3eab43c5fe9cdc6881d7db2dcb7fd500e15fbb32c274d0834\n Image 1 (fdt)\n\
  Description:  dt\n  Type:         Flat Device Tree\n  Compression:  uncompressed\n  Architecture: AArch64\n\
  Hash algo:    sha256\n  Hash value:   4ee48e5ae650ede0b5a3548a1fd60e8aea0e71750ea43f8276ceafcd7cb091e0\n\
 Default Configuration: 'bulkhead'\n Configuration 0 (bulkhead)\n  Description:  x\n  Kernel:       hypervisor\n  FDT:          fdt\n";

    #[test]
    fn a_fit_listing_parses_into_its_images() {
        let listing = parse_fit_listing(LISTING);
        assert_eq!(listing.images.len(), 2);
        assert_eq!(listing.images[0].name, "hypervisor");
        assert_eq!(listing.images[0].load, Some(0x1000_0000));
        assert_eq!(listing.images[0].entry, Some(0x1000_0000));
        assert_eq!(listing.images[1].kind, "Flat Device Tree");
        assert_eq!(listing.default_configuration.as_deref(), Some("bulkhead"));
        assert_eq!(check_fit_listing(&listing, "hypervisor", 0x1000_0000, "bulkhead"), Ok(()));
    }

    #[test]
    fn a_kernel_at_the_wrong_load_address_fails_the_fit_check() {
        let listing = parse_fit_listing(&LISTING.replace("Load Address: 0x10000000", "Load Address: 0x10080000"));
        let error = check_fit_listing(&listing, "hypervisor", 0x1000_0000, "bulkhead").expect_err("wrong load");
        assert!(error.0.contains("loads at Some(\"0x10080000\")"), "{error}");
        let no_tree = parse_fit_listing(&LISTING.replace("Flat Device Tree", "Ramdisk"));
        assert!(check_fit_listing(&no_tree, "hypervisor", 0x1000_0000, "bulkhead").is_err());
        let unhashed = parse_fit_listing(&LISTING.replacen("Hash value", "Hash valu", 1));
        assert!(check_fit_listing(&unhashed, "hypervisor", 0x1000_0000, "bulkhead").is_err());
    }

    #[test]
    fn config_txt_must_name_the_kernel_at_the_image_base() {
        let good = "arm_64bit=1\nkernel=bulkhead.bin\nkernel_address=0x200000\nenable_gic=1\nenable_uart=1\n";
        assert_eq!(check_config_txt(good, "bulkhead.bin", 0x20_0000), Ok(()));
        let moved = good.replace("0x200000", "0x80000");
        assert!(check_config_txt(&moved, "bulkhead.bin", 0x20_0000).expect_err("moved").0.contains("kernel_address"));
        let commented = good.replace("arm_64bit=1", "#arm_64bit=1");
        assert!(check_config_txt(&commented, "bulkhead.bin", 0x20_0000).is_err());
        assert!(check_config_txt(good, "kernel8.img", 0x20_0000).is_err());
    }
}
