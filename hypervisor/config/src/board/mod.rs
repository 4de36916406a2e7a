//! The board model: `board.toml` plus the facts read from the board's device tree.
//!
//! A [`Board`] is what the rest of the compiler knows about the hardware: RAM ranges, cores
//! (in device-tree order, which defines the hypervisor's core numbering), the GIC, the UARTs
//! the hypervisor owns, how secondary cores start, and how QEMU emulates it. Loading checks
//! that the two files agree (the console exists and is a supported UART, the hypervisor
//! reservation is inside RAM and 2 MiB aligned) and reports problems against `board.toml`.
//!
//! Design: [impl->dsn~config-board~1]

pub mod board_toml;
pub mod debian_dtb;
pub mod devicetree;
pub mod dtc;

use std::path::{Path, PathBuf};

use bulkhead_core::addr::PhysAddr;
use bulkhead_core::system::{EntropyDevice, Gic, SecondaryBoot, Uart, UartKind};
use serde_spanned::Spanned;

pub use board_toml::{HypervisorLoader, QemuSettings};
use board_toml::{BoardToml, EntropySourceName, EntropyTable, RamTable, SecondaryBootMethod};
use devicetree::{DeviceTree, Node};

use crate::diagnostic::{self, Code, Diagnostic, Diagnostics, Source};
use crate::units::{AddressRange, BLOCK_2MIB, GRANULE_4KIB, align_up, hex, human_size};

/// Directory under the repository root holding one directory per board.
pub const BOARDS_DIRECTORY: &str = "board-configs";

/// GICv3 redistributor stride without VLPI frames: RD_base + SGI_base, 64 KiB each
/// (GICv3/v4 architecture specification IHI 0069, §12.10).
const GICV3_REDISTRIBUTOR_STRIDE: u64 = 0x2_0000;

/// A physical core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreInfo {
    /// `MPIDR_EL1` affinity from the cpu node's `reg`.
    pub mpidr: u64,
    /// Device tree path of the cpu node.
    pub path: String,
    /// The cpu node's `compatible` (copied into guest device trees).
    pub compatible: Vec<String>,
    /// The cpu node's `cpu-release-addr` (spin-table boards), if it has one.
    pub release_address: Option<u64>,
}

/// A UART the hypervisor drives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UartInfo {
    /// Register model, base and interrupt, as the EL2 image receives them.
    pub uart: Uart,
    /// Device tree path.
    pub path: String,
    /// The register frame (mapped by the hypervisor at EL2), rounded to 4 KiB.
    pub registers: AddressRange,
}

/// A range of RAM the device tree reserves (`/memreserve/` or `/reserved-memory` with a
/// `reg`): nothing is placed there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReservedRange {
    /// The range.
    pub range: AddressRange,
    /// Where it is stated (`/memreserve/` or the node path).
    pub source: String,
}

/// How many last-level cache colours the board has, and where that number comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheColours {
    /// Colours: the cache's way size divided by the 4 KiB page.
    pub count: u32,
    /// The device tree node or `board.toml` key it was derived from.
    pub source: String,
}

/// The generic timer's four PPIs as the board's device tree states them (INTIDs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerInterrupts {
    /// Secure EL1 physical timer.
    pub secure_physical: u32,
    /// Non-secure EL1 physical timer.
    pub physical: u32,
    /// Virtual timer.
    pub virtual_timer: u32,
    /// EL2 physical timer.
    pub hypervisor_physical: u32,
}

/// Where the board's device tree came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceTreeOrigin {
    /// A DTS next to `board.toml`, compiled with `dtc`.
    Source(PathBuf),
    /// A blob fetched from a Debian package and verified against its checksum.
    Debian {
        /// The package, its version and the path inside it.
        dtb: debian_dtb::DebianDtb,
        /// The verified cached blob.
        cached: PathBuf,
    },
}

/// Everything known about one board.
#[derive(Clone, Debug)]
pub struct Board {
    /// Board name (the directory name under `board-configs/`).
    pub name: String,
    /// The board directory.
    pub directory: PathBuf,
    /// The device tree file: the DTS, or the cached blob of a Debian-packaged tree.
    pub dts: PathBuf,
    /// Where the device tree came from.
    pub origin: DeviceTreeOrigin,
    /// The parsed device tree (every node, for device pass-through).
    pub tree: DeviceTree,
    /// Whether RAM came from `board.toml` (`ram`) because the tree leaves it to firmware.
    pub ram_from_board_toml: bool,
    /// RAM the device tree reserves.
    pub reserved: Vec<ReservedRange>,
    /// Paths of the enabled IOMMUs (SMMUs) in the device tree.
    pub iommus: Vec<String>,
    /// Last-level cache colours, when known.
    pub cache_colours: Option<CacheColours>,
    /// Where the firmware places the framebuffer it hands out (`board.toml`'s
    /// `firmware_framebuffer`), also in [`Board::reserved`].
    pub firmware_framebuffer: Option<AddressRange>,
    /// The generic timer's PPIs, when the tree has a timer node.
    pub timer_interrupts: Option<TimerInterrupts>,
    /// The GIC's phandle (interrupt parent of the devices it serves).
    pub gic_phandle: Option<u32>,
    /// The GIC virtual maintenance interrupt (a PPI), from the GIC node's `interrupts`.
    pub maintenance_intid: Option<u32>,
    /// RAM ranges from the memory nodes, sorted by address.
    pub ram: Vec<AddressRange>,
    /// The hypervisor's reservation.
    pub hypervisor: AddressRange,
    /// How the boot path loads the EL2 image (`[hypervisor] loader`).
    pub hypervisor_loader: HypervisorLoader,
    /// Cores in device-tree order: index = hypervisor core number.
    pub cores: Vec<CoreInfo>,
    /// The interrupt controller.
    pub gic: Gic,
    /// The GIC frames the hypervisor maps at EL2: GICD and the existing cores' GICR frames
    /// (v3), or GICD, GICC and GICH (v2; GICV is for guests).
    pub gic_registers: Vec<AddressRange>,
    /// The console UART.
    pub console: UartInfo,
    /// The `defmt` log UART.
    pub log: Option<UartInfo>,
    /// How secondary cores start.
    pub secondary_boot: SecondaryBoot,
    /// The timer node's `clock-frequency`, when the device tree states one.
    pub counter_frequency: Option<u64>,
    /// QEMU settings for `cargo xtask run`.
    pub qemu: QemuSettings,
    /// The random-number generator the hypervisor keeps for boot seeds (`[entropy]`).
    pub entropy: Option<EntropySource>,
    /// The compiled device tree blob.
    pub dtb: DeviceTreeBlob,
    /// Where in `board.toml` each fact came from, for diagnostics raised after loading.
    pub spans: BoardSpans,
}

/// The board's random-number generator as the hypervisor drives it (`[entropy]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntropySource {
    /// What kind of device it is.
    pub device: EntropyDevice,
    /// Its device-tree node.
    pub node: String,
    /// Its register block.
    pub registers: AddressRange,
    /// For `virtio-rng`: the number `N` of the QEMU bus `virtio-mmio-bus.N` its transport is
    /// ([`virtio_mmio_transports`]).
    pub qemu_bus: Option<usize>,
}

/// The register blocks of the tree's enabled virtio-mmio transports, by address: QEMU `virt`
/// creates its transports in address order and names their buses `virtio-mmio-bus.0`
/// upwards, so a transport's place here is its bus number.
pub(crate) fn virtio_mmio_transports(tree: &DeviceTree) -> Vec<AddressRange> {
    let mut transports: Vec<AddressRange> = tree
        .nodes()
        .iter()
        .filter(|node| node.is_enabled() && node.is_compatible(&["virtio,mmio"]))
        .filter_map(|node| node.physical_reg.as_ref()?.first().and_then(|reg| AddressRange::new(reg.address, reg.size)))
        .collect();
    transports.sort_unstable_by_key(|range| range.base());
    transports
}

/// `board.toml` and the spans of the keys later stages report against (e.g. "this board's
/// GIC has no EL2 driver": the EL2 image's build, not the manifest, refuses it).
#[derive(Clone, Debug)]
pub struct BoardSpans {
    /// The file's text.
    pub source: Source,
    /// `console = ...`.
    pub console: std::ops::Range<usize>,
    /// `log = ...`, when given.
    pub log: Option<std::ops::Range<usize>>,
    /// `dts = ...` or `[dtb]`: the device tree the GIC is read from.
    pub device_tree: std::ops::Range<usize>,
}

/// A compiled device tree; `Debug` shows its size rather than every byte.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceTreeBlob(pub Vec<u8>);

impl std::fmt::Debug for DeviceTreeBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceTreeBlob({} bytes)", self.0.len())
    }
}

impl std::ops::Deref for DeviceTreeBlob {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Board {
    /// The directory of board `name` under `repo_root`, if it has a `board.toml`.
    pub fn directory_of(repo_root: &Path, name: &str) -> Option<PathBuf> {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let directory = repo_root.join(BOARDS_DIRECTORY).join(name);
        (valid && directory.join("board.toml").is_file()).then_some(directory)
    }

    /// The boards available under `repo_root`, sorted.
    pub fn available(repo_root: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(repo_root.join(BOARDS_DIRECTORY))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| entry.path().join("board.toml").is_file())
            .filter_map(|entry| entry.file_name().to_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    }

    /// Device MMIO the hypervisor maps at EL2: the GIC frames and its UARTs.
    pub fn hypervisor_mmio(&self) -> Vec<AddressRange> {
        let mut ranges = self.gic_registers.clone();
        ranges.push(self.console.registers);
        if let Some(log) = &self.log {
            if log.registers != self.console.registers {
                ranges.push(log.registers);
            }
        }
        // The whole page: a virtio-mmio transport shares its page with seven others, none of
        // which may then go to a partition.
        ranges.extend(
            self.entropy
                .as_ref()
                .and_then(|entropy| crate::validate::display::register_pages(entropy.registers)),
        );
        ranges
    }

    /// The UART named by `reference` (path, alias or `&label`), read as the hypervisor
    /// would drive it.
    pub fn uart(&self, reference: &str) -> Result<UartInfo, String> {
        self.tree
            .resolve(reference)
            .ok_or_else(|| {
                format!(
                    "`{reference}` is neither a node path, an alias nor a label in the device tree"
                )
            })
            .and_then(|node| uart_from_node(node, self.gic_phandle))
    }

    /// Every node the tree describes as a UART the hypervisor could drive, in tree order.
    pub fn uarts(&self) -> Vec<UartInfo> {
        self.tree
            .nodes()
            .iter()
            .filter_map(|node| uart_from_node(node, self.gic_phandle).ok())
            .collect()
    }

    /// The RAM range holding `range`, if one does.
    pub fn ram_containing(&self, range: AddressRange) -> Option<AddressRange> {
        self.ram.iter().copied().find(|ram| ram.contains(range))
    }

    /// Loads `directory/board.toml` and its device tree. Problems are added to `diagnostics`;
    /// `None` when any of them is an error.
    pub fn load(directory: &Path, diagnostics: &mut Diagnostics) -> Option<Board> {
        let toml_path = directory.join("board.toml");
        let text = match std::fs::read_to_string(&toml_path) {
            Ok(text) => text,
            Err(error) => {
                diagnostics.push(Diagnostic::error(
                    Code::Io,
                    format!("cannot read {}: {error}", toml_path.display()),
                ));
                return None;
            }
        };
        let source = diagnostic::source(toml_path.display().to_string(), text);
        let file: BoardToml = match toml::from_str(source.inner()) {
            Ok(file) => file,
            Err(error) => {
                diagnostics.push(crate::manifest::schema_error(
                    &source,
                    &error,
                    Code::BoardInvalid,
                ));
                return None;
            }
        };
        let errors_before = diagnostics.errors().count();
        let mut loader = Loader {
            source: &source,
            diagnostics,
        };
        let board = loader.board(directory, &file);
        let failed = loader.diagnostics.errors().count() > errors_before;
        if failed { None } else { board }
    }
}

/// What the GIC node says: the model, the frames the hypervisor maps, its phandle and its
/// maintenance interrupt.
struct GicFacts {
    gic: Gic,
    frames: Vec<AddressRange>,
    phandle: Option<u32>,
    maintenance: Option<u32>,
}

/// Builds a [`Board`] from a parsed `board.toml`, reporting against its source.
struct Loader<'a> {
    source: &'a Source,
    diagnostics: &'a mut Diagnostics,
}

impl Loader<'_> {
    fn error<T>(
        &mut self,
        code: Code,
        span: std::ops::Range<usize>,
        message: String,
        label: &str,
        help: &str,
    ) -> Option<T> {
        self.diagnostics.push(
            Diagnostic::error(code, message)
                .with_label(self.source, span, label)
                .with_help(help.to_owned()),
        );
        None
    }

    fn board(&mut self, directory: &Path, file: &BoardToml) -> Option<Board> {
        let directory_name = directory
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default();
        if file.name.get_ref() != directory_name {
            self.error::<()>(
                Code::BoardInvalid,
                file.name.span(),
                format!(
                    "board name `{}` differs from its directory `{directory_name}`",
                    file.name.get_ref()
                ),
                "must equal the directory name",
                "the manifest names boards by directory; keep the two equal",
            );
        }
        let hypervisor = self.hypervisor_range(file);
        let (dts, origin, dtb, tree_key) = self.device_tree_blob(directory, file)?;
        let tree = match DeviceTree::parse(&dtb) {
            Ok(tree) => tree,
            Err(error) => {
                return self.error(
                    Code::DeviceTreeInvalid,
                    tree_key.clone(),
                    format!("{}: {error}", dts.display()),
                    "this device tree",
                    "regenerate the DTS (see board-configs/README.md)",
                );
            }
        };
        let key = Spanned::new(tree_key.clone(), String::new());
        let (ram, ram_from_board_toml) = match self.ram(&tree, &key, file.ram.as_ref()) {
            Some((ram, from_toml)) => (Some(ram), from_toml),
            None => (None, false),
        };
        let cores = self.cores(&tree, &key);
        let gic = self.gic(&tree, &key, cores.as_ref().map_or(0, Vec::len));
        let gic_phandle = gic.as_ref().and_then(|facts| facts.phandle);
        let maintenance_intid = gic.as_ref().and_then(|facts| facts.maintenance);
        let console = self.uart(&tree, &file.console, gic_phandle);
        let log = match &file.log {
            Some(log) => self.uart(&tree, log, gic_phandle).map(Some),
            None => Some(None),
        };
        let secondary_boot = self.secondary_boot(&tree, &file.secondary_boot, cores.as_deref());
        let timer = tree.find_compatible(&["arm,armv8-timer", "arm,armv7-timer"]);
        let counter_frequency = timer.and_then(|timer| timer.number("clock-frequency"));
        let timer_interrupts = timer.and_then(timer_interrupts);
        if let (Some(ram), Some(hypervisor)) = (&ram, hypervisor) {
            self.check_reservation(ram, hypervisor, &file.hypervisor);
            if secondary_boot == Some(SecondaryBoot::SpinTable) {
                let pages = spin_table_pages(cores.as_deref().unwrap_or_default());
                self.check_spin_table(ram, hypervisor, &pages, &file.secondary_boot);
            }
        }
        let qemu = file.qemu.get_ref();
        if let Some(cores) = cores.as_ref().filter(|cores| cores.len() != qemu.smp) {
            self.diagnostics.push(
                Diagnostic::warning(
                    Code::QemuCoreCountMismatch,
                    format!(
                        "[qemu] smp = {} but the device tree has {} cores",
                        qemu.smp,
                        cores.len()
                    ),
                )
                .with_label(
                    self.source,
                    file.qemu.span(),
                    format!("expected smp = {}", cores.len()),
                )
                .with_help("regenerate the DTS with the same -smp, or fix `smp`"),
            );
        }
        let cache_colours = self.cache_colours(&tree, file);
        let mut reserved = reserved_ranges(&tree);
        if secondary_boot == Some(SecondaryBoot::SpinTable) {
            let pages = spin_table_pages(cores.as_deref().unwrap_or_default());
            let new: Vec<ReservedRange> = pages
                .into_iter()
                .filter(|page| !reserved.iter().any(|known| known.range.contains(page.range)))
                .collect();
            reserved.extend(new);
        }
        let firmware_framebuffer = file
            .firmware_framebuffer
            .as_ref()
            .and_then(|entry| self.firmware_framebuffer(entry, ram.as_deref(), hypervisor));
        reserved.extend(firmware_framebuffer.map(|range| ReservedRange {
            range,
            source: "board.toml `firmware_framebuffer`: the firmware's framebuffer".to_owned(),
        }));
        let entropy = match &file.entropy {
            Some(table) => self.entropy(&tree, table, qemu),
            None => Some(None),
        };
        let iommus = tree
            .nodes()
            .iter()
            .filter(|node| node.is_enabled() && node.is_compatible(IOMMU_COMPATIBLES))
            .map(|node| node.path.clone())
            .collect();
        let (
            ram,
            cores,
            GicFacts {
                gic,
                frames: gic_registers,
                ..
            },
            console,
            log,
            secondary_boot,
            hypervisor,
            entropy,
        ) = (
            ram?,
            cores?,
            gic?,
            console?,
            log?,
            secondary_boot?,
            hypervisor?,
            entropy?,
        );
        Some(Board {
            name: file.name.get_ref().clone(),
            directory: directory.to_path_buf(),
            dts,
            origin,
            tree,
            ram_from_board_toml,
            reserved,
            iommus,
            cache_colours,
            firmware_framebuffer,
            timer_interrupts,
            gic_phandle,
            maintenance_intid,
            ram,
            hypervisor,
            hypervisor_loader: file.hypervisor.get_ref().loader,
            cores,
            gic,
            gic_registers,
            console,
            log,
            secondary_boot,
            counter_frequency,
            qemu: qemu.clone(),
            entropy,
            dtb: DeviceTreeBlob(dtb),
            spans: BoardSpans {
                source: self.source.clone(),
                console: file.console.span(),
                log: file.log.as_ref().map(Spanned::span),
                device_tree: tree_key,
            },
        })
    }

    /// The board's blob: compiled from `dts`, or fetched from Debian for `[dtb]`. Returns the
    /// file, its origin, the bytes and the `board.toml` span to report tree problems at.
    fn device_tree_blob(
        &mut self,
        directory: &Path,
        file: &BoardToml,
    ) -> Option<(PathBuf, DeviceTreeOrigin, Vec<u8>, std::ops::Range<usize>)> {
        match (&file.dts, &file.dtb) {
            (Some(dts_key), None) => {
                let dts = directory.join(dts_key.get_ref());
                let blob = self.compile_dts(&dts, dts_key)?;
                Some((
                    dts.clone(),
                    DeviceTreeOrigin::Source(dts),
                    blob,
                    dts_key.span(),
                ))
            }
            (None, Some(dtb_key)) => {
                let table = dtb_key.get_ref();
                let dtb = debian_dtb::DebianDtb {
                    package: table.debian_package.clone(),
                    version: table.debian_version.clone(),
                    path: table.path.clone(),
                    sha256: table.sha256.clone(),
                };
                // board-configs/<board>/ sits two levels below the repository root.
                let repo_root = directory
                    .parent()
                    .and_then(Path::parent)
                    .unwrap_or(Path::new("."));
                let cache = debian_dtb::cache_dir(repo_root);
                let fetched = debian_dtb::fetch(&dtb, &cache)
                    .and_then(|path| Ok((debian_dtb::read_verified(&path, &dtb.sha256)?, path)));
                match fetched {
                    Ok((blob, cached)) => Some((
                        cached.clone(),
                        DeviceTreeOrigin::Debian { dtb, cached },
                        blob,
                        dtb_key.span(),
                    )),
                    Err(error) => self.error(
                        Code::DtbFetchFailed,
                        dtb_key.span(),
                        format!("cannot fetch the device tree blob: {error}"),
                        "this Debian-packaged device tree",
                        "see board-configs/README.md, \"Device trees from Debian\"",
                    ),
                }
            }
            (dts, _) => {
                let span = dts.as_ref().map_or_else(|| file.name.span(), Spanned::span);
                self.error(
                    Code::BoardInvalid,
                    span,
                    "board.toml needs exactly one of `dts` and `[dtb]`".to_owned(),
                    if dts.is_some() {
                        "both given"
                    } else {
                        "neither given"
                    },
                    "name a DTS next to board.toml, or a Debian-packaged blob in [dtb]",
                )
            }
        }
    }

    fn cache_colours(&mut self, tree: &DeviceTree, file: &BoardToml) -> Option<CacheColours> {
        if let Some(count) = &file.cache_colours {
            if *count.get_ref() == 0 || *count.get_ref() > MAX_CACHE_COLOURS {
                return self.error(
                    Code::BoardInvalid,
                    count.span(),
                    format!("cache_colours = {} is out of range", count.get_ref()),
                    &format!("expected 1..={MAX_CACHE_COLOURS}"),
                    "the number of colours is the last-level cache's way size divided by 4 KiB",
                );
            }
            return Some(CacheColours {
                count: *count.get_ref(),
                source: "board.toml cache_colours".to_owned(),
            });
        }
        last_level_cache_colours(tree)
    }
    fn hypervisor_range(&mut self, file: &BoardToml) -> Option<AddressRange> {
        let table = file.hypervisor.get_ref();
        let mut value = |spanned: &Spanned<crate::units::SizeValue>| match spanned.get_ref().bytes()
        {
            Ok(bytes) => Some(bytes),
            Err(error) => self.error(
                Code::SizeInvalid,
                spanned.span(),
                format!("invalid hypervisor reservation value: {error}"),
                "expected a byte count",
                "write an integer, or a string such as \"32MiB\" or \"0x4000_0000\"",
            ),
        };
        let (base, size) = (value(&table.base), value(&table.size));
        let (base, size) = (base?, size?);
        AddressRange::new(base, size).or_else(|| {
            self.error(
                Code::SizeOverflow,
                file.hypervisor.span(),
                format!(
                    "hypervisor reservation {} + {} overflows 64 bits",
                    hex(base),
                    hex(size)
                ),
                "base + size overflows",
                "check base and size",
            )
        })
    }

    fn compile_dts(&mut self, dts: &Path, key: &Spanned<String>) -> Option<Vec<u8>> {
        if !dts.is_file() {
            return self.error(
                Code::Io,
                key.span(),
                format!("device tree source {} does not exist", dts.display()),
                "no such file in the board directory",
                "name a .dts file next to board.toml",
            );
        }
        match dtc::compile(dts) {
            Ok(blob) => Some(blob),
            Err(dtc::DtcError::Missing) => self.error(
                Code::DtcMissing,
                key.span(),
                "the device tree compiler `dtc` is not installed".to_owned(),
                "needs dtc",
                "install device-tree-compiler (e.g. `apt-get install device-tree-compiler`)",
            ),
            Err(error) => self.error(
                Code::DtcFailed,
                key.span(),
                format!("{}: {error}", dts.display()),
                "dtc rejected this file",
                "fix the DTS; `dtc -I dts -O dtb <file>` shows the same error",
            ),
        }
    }

    fn device_tree_error<T>(&mut self, key: &Spanned<String>, message: String) -> Option<T> {
        self.error(
            Code::DeviceTreeInvalid,
            key.span(),
            message,
            "in this device tree",
            "the hypervisor reads RAM, cores and the GIC from the device tree; fix the DTS",
        )
    }

    /// RAM from the memory nodes; from `board.toml` `ram` only when the nodes state none (a
    /// tree whose firmware fills the memory node in, like the Raspberry Pi's). The flag says
    /// which.
    fn ram(
        &mut self,
        tree: &DeviceTree,
        key: &Spanned<String>,
        configured: Option<&Spanned<Vec<RamTable>>>,
    ) -> Option<(Vec<AddressRange>, bool)> {
        let mut ram = Vec::new();
        for node in tree
            .nodes()
            .iter()
            .filter(|node| node.string("device_type") == Some("memory") && node.is_enabled())
        {
            let Some(regs) = &node.physical_reg else {
                return self.device_tree_error(
                    key,
                    format!(
                        "{}: reg cannot be translated to a physical address",
                        node.path
                    ),
                );
            };
            for reg in regs.iter().filter(|reg| reg.size != 0) {
                match AddressRange::new(reg.address, reg.size) {
                    Some(range) => ram.push(range),
                    None => {
                        return self.device_tree_error(
                            key,
                            format!("{}: memory range overflows 64 bits", node.path),
                        );
                    }
                }
            }
        }
        let from_toml = match (configured, ram.is_empty()) {
            (Some(configured), true) => {
                for entry in configured.get_ref() {
                    let range = self.ram_entry(entry)?;
                    ram.push(range);
                }
                true
            }
            (Some(configured), false) => {
                return self.error(
                    Code::BoardInvalid,
                    configured.span(),
                    "`ram` is given but the device tree's memory nodes already state RAM".to_owned(),
                    "remove this",
                    "RAM comes from the device tree; `ram` is only for trees whose firmware fills the memory node",
                );
            }
            (None, _) => false,
        };
        if ram.is_empty() {
            return self.device_tree_error(
                key,
                "the device tree states no RAM (no memory node, or only empty ones); if firmware fills it in, give `ram` in board.toml".to_owned(),
            );
        }
        ram.sort();
        for pair in ram.windows(2) {
            if pair[0].overlaps(pair[1]) {
                return self.device_tree_error(
                    key,
                    format!("RAM ranges {} and {} overlap", pair[0], pair[1]),
                );
            }
        }
        Some((ram, from_toml))
    }

    /// `firmware_framebuffer`: a non-empty 4 KiB-aligned range, clear of the hypervisor, in
    /// GiBs that hold RAM (the EL2 identity map maps those, as Normal memory, and nothing else
    /// that is not a device).
    fn firmware_framebuffer(
        &mut self,
        entry: &Spanned<RamTable>,
        ram: Option<&[AddressRange]>,
        hypervisor: Option<AddressRange>,
    ) -> Option<AddressRange> {
        let range = self.ram_entry(entry.get_ref())?;
        let page = crate::units::GRANULE_4KIB;
        let gib = 1u64 << 30;
        let in_mapped_gibs = ram.is_none_or(|ram| {
            (range.base() / gib..=range.end().saturating_sub(1) / gib)
                .all(|slot| ram.iter().any(|ram| ram.base() / gib <= slot && slot <= ram.end().saturating_sub(1) / gib))
        });
        let problem = if range.size() == 0 || range.base() % page != 0 || range.size() % page != 0 {
            Some("is not a non-empty 4 KiB-aligned range".to_owned())
        } else if let Some(hypervisor) = hypervisor.filter(|hypervisor| hypervisor.overlaps(range)) {
            Some(format!("overlaps the hypervisor reservation {hypervisor}"))
        } else if !in_mapped_gibs {
            Some("lies in a GiB without RAM, which the hypervisor's EL2 map leaves unmapped".to_owned())
        } else {
            None
        };
        match problem {
            Some(problem) => self.error(
                Code::BoardInvalid,
                entry.span(),
                format!("firmware_framebuffer {range} {problem}"),
                "this range",
                "give the firmware's share of RAM (on a Raspberry Pi 4: the VideoCore's, from `gpu_mem`), page aligned, beside board RAM",
            ),
            None => Some(range),
        }
    }

    fn ram_entry(&mut self, entry: &RamTable) -> Option<AddressRange> {
        let mut value = |spanned: &Spanned<crate::units::SizeValue>| match spanned.get_ref().bytes()
        {
            Ok(bytes) => Some(bytes),
            Err(error) => self.error(
                Code::SizeInvalid,
                spanned.span(),
                format!("invalid RAM value: {error}"),
                "expected a byte count",
                "write an integer, or a string such as \"1GiB\" or \"0x4000_0000\"",
            ),
        };
        let (base, size) = (value(&entry.base), value(&entry.size));
        let (base, size) = (base?, size?);
        AddressRange::new(base, size).or_else(|| {
            self.error(
                Code::SizeOverflow,
                entry.base.span(),
                format!("RAM {} + {} overflows 64 bits", hex(base), hex(size)),
                "base + size overflows",
                "check base and size",
            )
        })
    }

    fn cores(&mut self, tree: &DeviceTree, key: &Spanned<String>) -> Option<Vec<CoreInfo>> {
        let cores: Vec<CoreInfo> = tree
            .children("/cpus")
            .filter(|node| {
                node.string("device_type") == Some("cpu") || node.name().starts_with("cpu@")
            })
            .filter_map(|node| {
                let cells = tree
                    .node("/cpus")
                    .and_then(|cpus| cpus.number("#address-cells"))
                    .unwrap_or(1);
                let mpidr = node
                    .cells("reg")
                    .and_then(|reg| match (cells, reg.as_slice()) {
                        (1, [value, ..]) => Some(u64::from(*value)),
                        (2, [high, low, ..]) => Some((u64::from(*high) << 32) | u64::from(*low)),
                        _ => None,
                    })?;
                Some(CoreInfo {
                    mpidr,
                    path: node.path.clone(),
                    compatible: node.compatible.clone(),
                    release_address: node.number("cpu-release-addr"),
                })
            })
            .collect();
        if cores.is_empty() {
            return self.device_tree_error(
                key,
                "the device tree has no /cpus/cpu@N node with a reg".to_owned(),
            );
        }
        Some(cores)
    }

    /// The GIC, its register frames and its phandle.
    fn gic(
        &mut self,
        tree: &DeviceTree,
        key: &Spanned<String>,
        core_count: usize,
    ) -> Option<GicFacts> {
        let (node, version) = match tree.find_compatible(&["arm,gic-v3"]) {
            Some(node) => (node, 3),
            None => match tree.find_compatible(&["arm,gic-400", "arm,cortex-a15-gic"]) {
                Some(node) => (node, 2),
                None => {
                    return self.device_tree_error(
                        key,
                        "no supported interrupt controller (arm,gic-v3, arm,gic-400 or arm,cortex-a15-gic)".to_owned(),
                    );
                }
            },
        };
        if node.number("#interrupt-cells") != Some(3) {
            return self
                .device_tree_error(key, format!("{}: #interrupt-cells must be 3", node.path));
        }
        let maintenance = node.cells("interrupts").and_then(|cells| gic_intid(&cells));
        let frames: Option<Vec<AddressRange>> = node
            .physical_reg
            .as_ref()
            .map(|regs| {
                regs.iter()
                    .map(|reg| AddressRange::new(reg.address, reg.size))
                    .collect::<Option<Vec<_>>>()
            })
            .unwrap_or_default();
        let Some(frames) = frames else {
            return self.device_tree_error(key, format!("{}: reg cannot be translated", node.path));
        };
        if version == 3 {
            let [distributor, redistributors, ..] = frames[..] else {
                return self.device_tree_error(
                    key,
                    format!("{}: a GICv3 needs GICD and GICR reg entries", node.path),
                );
            };
            let redistributor_stride = node
                .number("redistributor-stride")
                .unwrap_or(GICV3_REDISTRIBUTOR_STRIDE);
            let needed = redistributor_stride.checked_mul(core_count as u64);
            if needed.is_none_or(|needed| needed > redistributors.size()) {
                return self.device_tree_error(
                    key,
                    format!(
                        "{}: the GICR region is too small for {core_count} cores",
                        node.path
                    ),
                );
            }
            let gic = Gic::V3 {
                distributor: PhysAddr(distributor.base()),
                redistributors: PhysAddr(redistributors.base()),
                redistributor_stride,
            };
            // Map only the frames of cores that exist: the DT region may be sized for more.
            let used = needed
                .and_then(|size| AddressRange::new(redistributors.base(), size))
                .unwrap_or(redistributors);
            Some(GicFacts {
                gic,
                frames: vec![distributor, used],
                phandle: node.phandle(),
                maintenance,
            })
        } else {
            let [
                distributor,
                cpu_interface,
                hypervisor_interface,
                virtual_cpu_interface,
                ..,
            ] = frames[..]
            else {
                return self.device_tree_error(
                    key,
                    format!("{}: a GICv2 needs GICD, GICC, GICH and GICV reg entries (virtualization extensions)", node.path),
                );
            };
            let (Some(cpu_interface_view), Some(virtual_cpu_interface_view)) = (
                gicv2_cpu_interface_view(cpu_interface),
                gicv2_cpu_interface_view(virtual_cpu_interface),
            ) else {
                return self.device_tree_error(
                    key,
                    format!("{}: the GICv2 GICC and GICV reg entries must be at least 8 KiB (two 4 KiB pages)", node.path),
                );
            };
            let gic = Gic::V2 {
                distributor: PhysAddr(distributor.base()),
                cpu_interface: PhysAddr(cpu_interface_view),
                hypervisor_interface: PhysAddr(hypervisor_interface.base()),
                virtual_cpu_interface: PhysAddr(virtual_cpu_interface_view),
            };
            // GICV is mapped to guests by stage 2, never by the hypervisor at EL2.
            Some(GicFacts {
                gic,
                frames: vec![distributor, cpu_interface, hypervisor_interface],
                phandle: node.phandle(),
                maintenance,
            })
        }
    }

    /// `[entropy]`: the node must be in the tree, enabled, of the kind `source` names and
    /// have registers; a `virtio-rng` needs QEMU `virt`, where the device can be plugged in.
    /// `None` after an error, `Some(None)` never (the caller handles a missing table).
    fn entropy(
        &mut self,
        tree: &DeviceTree,
        table: &Spanned<EntropyTable>,
        qemu: &QemuSettings,
    ) -> Option<Option<EntropySource>> {
        let entropy = table.get_ref();
        let device = match entropy.source.get_ref() {
            EntropySourceName::VirtioRng => EntropyDevice::VirtioRng,
            EntropySourceName::IprocRng200 => EntropyDevice::IprocRng200,
        };
        let reference = entropy.node.get_ref();
        let Some(node) = tree.resolve(reference) else {
            return self.error(
                Code::EntropySourceInvalid,
                entropy.node.span(),
                format!("`{reference}` is neither a node path, an alias nor a label in the device tree"),
                "no such node",
                "name the RNG's node (for virtio-rng: a `virtio,mmio` transport); `dtc -I dtb -O dts` shows the tree",
            );
        };
        if !node.is_enabled() || !node.is_compatible(&[device.compatible()]) {
            return self.error(
                Code::EntropySourceInvalid,
                entropy.node.span(),
                format!(
                    "`{}` is not an enabled `{}` node, which a {} needs",
                    node.path,
                    device.compatible(),
                    device.name()
                ),
                "not this kind of device",
                "name the node of the device `source` says, or change `source`",
            );
        }
        let Some(registers) = node
            .physical_reg
            .as_ref()
            .and_then(|regs| regs.first())
            .and_then(|reg| AddressRange::new(reg.address, reg.size))
        else {
            return self.error(
                Code::EntropySourceInvalid,
                entropy.node.span(),
                format!("`{}` has no registers with a physical address", node.path),
                "no `reg`",
                "an RNG the hypervisor drives needs a register block it can map",
            );
        };
        let qemu_bus = match device {
            EntropyDevice::IprocRng200 => None,
            EntropyDevice::VirtioRng => {
                if qemu.machine.split(',').next() != Some("virt") {
                    return self.error(
                        Code::EntropySourceInvalid,
                        entropy.source.span(),
                        format!("a virtio-rng is plugged in by QEMU `virt`, and this board's machine is `{}`", qemu.machine),
                        "virtio-rng needs QEMU virt",
                        "use the board's own RNG, or leave `[entropy]` out",
                    );
                }
                virtio_mmio_transports(tree).iter().position(|transport| *transport == registers)
            }
        };
        Some(Some(EntropySource {
            device,
            node: node.path.clone(),
            registers,
            qemu_bus,
        }))
    }

    fn uart(
        &mut self,
        tree: &DeviceTree,
        key: &Spanned<String>,
        gic_phandle: Option<u32>,
    ) -> Option<UartInfo> {
        let reference = key.get_ref();
        let result = tree
            .resolve(reference)
            .ok_or_else(|| {
                format!("`{reference}` is neither a node path nor an alias in the device tree")
            })
            .and_then(|node| uart_from_node(node, gic_phandle));
        match result {
            Ok(uart) => Some(uart),
            Err(message) => self.error(
                Code::UartInvalid,
                key.span(),
                message,
                "this UART",
                "name a PL011, Cadence or NS16550/mini-UART node by path (\"/pl011@9000000\") or alias (\"serial0\")",
            ),
        }
    }

    fn secondary_boot(
        &mut self,
        tree: &DeviceTree,
        key: &Spanned<SecondaryBootMethod>,
        cores: Option<&[CoreInfo]>,
    ) -> Option<SecondaryBoot> {
        match key.get_ref() {
            SecondaryBootMethod::AllCoresEnter => Some(SecondaryBoot::AllCoresEnter),
            SecondaryBootMethod::SpinTable => {
                // Core 0 is the one firmware enters; every other core needs its slot.
                let missing: Vec<&str> = cores
                    .unwrap_or_default()
                    .iter()
                    .skip(1)
                    .filter(|core| core.release_address.is_none())
                    .map(|core| core.path.as_str())
                    .collect();
                if missing.is_empty() {
                    Some(SecondaryBoot::SpinTable)
                } else {
                    self.error(
                        Code::DeviceTreeInvalid,
                        key.span(),
                        format!("secondary_boot = \"spin-table\" but {} have no cpu-release-addr", missing.join(", ")),
                        "needs a cpu-release-addr in every secondary cpu node",
                        "add cpu-release-addr to the cpu nodes, or use \"psci\" or \"all-cores-enter\"",
                    )
                }
            }
            SecondaryBootMethod::Psci => {
                let method = tree
                    .find_compatible(&["arm,psci-1.0", "arm,psci-0.2", "arm,psci"])
                    .and_then(|psci| psci.string("method"));
                match method {
                    Some("smc") => Some(SecondaryBoot::PsciSmc),
                    Some("hvc") => Some(SecondaryBoot::PsciHvc),
                    other => self.error(
                        Code::DeviceTreeInvalid,
                        key.span(),
                        format!("secondary_boot = \"psci\" but the device tree's psci node has method {other:?}"),
                        "needs a /psci node with method \"smc\" or \"hvc\"",
                        "add the psci node to the DTS, or use \"all-cores-enter\"",
                    ),
                }
            }
        }
    }

    /// The spin-table pages must be board RAM (the hypervisor writes them through its
    /// identity map of RAM) outside the hypervisor's own reservation.
    fn check_spin_table(
        &mut self,
        ram: &[AddressRange],
        hypervisor: AddressRange,
        pages: &[ReservedRange],
        key: &Spanned<SecondaryBootMethod>,
    ) {
        for page in pages {
            if !ram.iter().any(|range| range.contains(page.range)) || page.range.overlaps(hypervisor) {
                self.error::<()>(
                    Code::DeviceTreeInvalid,
                    key.span(),
                    format!("{} at {} is not board RAM outside the hypervisor reservation {hypervisor}", page.source, page.range),
                    "spin-table slot unusable",
                    "the cpu-release-addr must lie in RAM the hypervisor does not occupy",
                );
            }
        }
    }

    fn check_reservation(
        &mut self,
        ram: &[AddressRange],
        hypervisor: AddressRange,
        key: &Spanned<board_toml::HypervisorTable>,
    ) {
        let span = key.span();
        if hypervisor.base() % BLOCK_2MIB != 0
            || hypervisor.size() == 0
            || hypervisor.size() % BLOCK_2MIB != 0
        {
            self.error::<()>(
                Code::HypervisorReservationInvalid,
                span.clone(),
                format!(
                    "hypervisor reservation {hypervisor} ({}) is not a non-empty 2 MiB-aligned range",
                    human_size(hypervisor.size())
                ),
                "base and size must be multiples of 2 MiB",
                "the hypervisor maps its RAM with 2 MiB blocks",
            );
        }
        if !ram.iter().any(|range| range.contains(hypervisor)) {
            let ranges: Vec<String> = ram.iter().map(ToString::to_string).collect();
            self.error::<()>(
                Code::HypervisorReservationInvalid,
                span,
                format!(
                    "hypervisor reservation {hypervisor} is not inside board RAM ({})",
                    ranges.join(", ")
                ),
                "outside RAM",
                "place the reservation inside a memory node's range",
            );
        }
    }
}

/// A GICv2 `reg` region at least this large holds its 4 KiB pages 64 KiB apart.
const GICV2_ALIASED_REGION: u64 = 0x2_0000;

/// Where an 8 KiB GICv2 CPU interface (GICC or GICV: `GICC_CTLR` … in the first 4 KiB page,
/// `GICC_DIR` in the second) is contiguous inside its `reg` region, or `None` when the
/// region is smaller than the interface.
///
/// A GIC-400 on an interconnect with 64 KiB slots (Zynq UltraScale+: GICC and GICV are
/// 128 KiB in the upstream tree) aliases each 4 KiB page over 64 KiB: the second page starts
/// at +0x1_0000, and the page at +0xF000 is the first page again, so the 8 KiB at +0xF000 are
/// the whole interface. Linux (`gic_check_eoimode`) and Xen (`gicv2_init`) use that window
/// too. The hypervisor's `GICC_DIR` (at +0x1000 of the view) and the stage-2 mapping of GICV
/// at the guest's GICC (8 KiB) both need it. Whether the hardware really aliases cannot be
/// probed at build time; a 128 KiB GICv2 region without aliases is not known to exist.
fn gicv2_cpu_interface_view(region: AddressRange) -> Option<u64> {
    const PAGE: u64 = 0x1000;
    if region.size() >= GICV2_ALIASED_REGION {
        region.base().checked_add(GICV2_ALIASED_REGION / 2 - PAGE)
    } else if region.size() >= 2 * PAGE {
        Some(region.base())
    } else {
        None
    }
}

/// Reads a UART node: register model, first register frame, first interrupt.
fn uart_from_node(node: &Node, gic_phandle: Option<u32>) -> Result<UartInfo, String> {
    let kind = if node.is_compatible(&["arm,pl011"]) {
        UartKind::Pl011
    } else if node.is_compatible(&["cdns,uart-r1p12", "xlnx,xuartps"]) {
        UartKind::Cadence
    } else if node.is_compatible(&["brcm,bcm2835-aux-uart"]) {
        UartKind::Bcm2835Aux
    } else if node.is_compatible(&["ns16550", "ns16550a"]) {
        UartKind::Ns16550
    } else {
        return Err(format!(
            "{}: unsupported UART (compatible {:?})",
            node.path, node.compatible
        ));
    };
    let frame = node
        .physical_reg
        .as_ref()
        .and_then(|regs| regs.first().copied())
        .ok_or_else(|| format!("{}: no translatable reg", node.path))?;
    let size = align_up(frame.size.max(1), GRANULE_4KIB).unwrap_or(GRANULE_4KIB);
    let base = frame.address & !(GRANULE_4KIB - 1);
    let registers = AddressRange::new(base, size)
        .ok_or_else(|| format!("{}: register frame overflows 64 bits", node.path))?;
    if gic_phandle.is_none() || node.interrupt_parent != gic_phandle {
        return Err(format!(
            "{}: its interrupt parent is not the GIC",
            node.path
        ));
    }
    let intid = node
        .cells("interrupts")
        .and_then(|cells| gic_intid(&cells))
        .ok_or_else(|| format!("{}: no GIC SPI/PPI in `interrupts`", node.path))?;
    Ok(UartInfo {
        uart: Uart {
            kind,
            base: PhysAddr(frame.address),
            intid,
        },
        path: node.path.clone(),
        registers,
    })
}

/// Compatibles of the IOMMUs a DMA-capable device could be isolated by (Arm SMMU bindings).
pub const IOMMU_COMPATIBLES: &[&str] = &[
    "arm,smmu-v1",
    "arm,smmu-v2",
    "arm,mmu-400",
    "arm,mmu-401",
    "arm,mmu-500",
    "arm,smmu-v3",
];

/// Most cache colours a partition mask (`u64`) can name.
pub const MAX_CACHE_COLOURS: u32 = 64;

/// The INTID of the first GIC interrupt specifier in `cells`: `<type number flags>`, type 0 =
/// SPI, 1 = PPI; SPI n is INTID n + 32 and PPI n is INTID n + 16 (GICv3 spec §2.2.1, the
/// `arm,gic` binding).
pub fn gic_intid(cells: &[u32]) -> Option<u32> {
    match cells {
        [0, number, _, ..] => number.checked_add(32),
        [1, number, _, ..] => number.checked_add(16),
        _ => None,
    }
}

/// The timer node's four PPIs, in binding order (secure, non-secure, virtual, hypervisor).
fn timer_interrupts(timer: &Node) -> Option<TimerInterrupts> {
    let cells = timer.cells("interrupts")?;
    let intids: Vec<u32> = cells.chunks_exact(3).filter_map(gic_intid).collect();
    match intids[..] {
        [
            secure_physical,
            physical,
            virtual_timer,
            hypervisor_physical,
            ..,
        ] => Some(TimerInterrupts {
            secure_physical,
            physical,
            virtual_timer,
            hypervisor_physical,
        }),
        _ => None,
    }
}

/// The 4 KiB pages holding the secondaries' spin-table slots (`cpu-release-addr`): firmware
/// code polls them until the hypervisor writes its entry there, so no partition is placed on
/// them (the Raspberry Pi's tree states no reservation for its `armstub8` page).
fn spin_table_pages(cores: &[CoreInfo]) -> Vec<ReservedRange> {
    let mut pages: Vec<ReservedRange> = Vec::new();
    for core in cores.iter().skip(1) {
        let Some(address) = core.release_address else { continue };
        let base = address - address % GRANULE_4KIB;
        let Some(range) = AddressRange::new(base, GRANULE_4KIB) else { continue };
        if pages.iter().all(|page| page.range != range) {
            pages.push(ReservedRange { range, source: format!("{} cpu-release-addr", core.path) });
        }
    }
    pages
}

/// `/memreserve/` entries and `/reserved-memory` children with a non-empty `reg`.
fn reserved_ranges(tree: &DeviceTree) -> Vec<ReservedRange> {
    let mut reserved: Vec<ReservedRange> = tree
        .memory_reservations()
        .iter()
        .filter_map(|reg| AddressRange::new(reg.address, reg.size))
        .filter(|range| range.size() != 0)
        .map(|range| ReservedRange {
            range,
            source: "/memreserve/".to_owned(),
        })
        .collect();
    for node in tree
        .children("/reserved-memory")
        .filter(|node| node.is_enabled())
    {
        for reg in node.physical_reg.iter().flatten() {
            if let Some(range) =
                AddressRange::new(reg.address, reg.size).filter(|range| range.size() != 0)
            {
                reserved.push(ReservedRange {
                    range,
                    source: node.path.clone(),
                });
            }
        }
    }
    reserved
}

/// Colours of the last-level cache the first core's `next-level-cache` chain ends in:
/// way size (`cache-sets` × `cache-line-size`) over the 4 KiB page (Devicetree
/// Specification §3.9, cache properties).
fn last_level_cache_colours(tree: &DeviceTree) -> Option<CacheColours> {
    let first_core = tree
        .children("/cpus")
        .find(|node| node.string("device_type") == Some("cpu"))?;
    let mut cache = tree.by_phandle(u32::try_from(first_core.number("next-level-cache")?).ok()?)?;
    // BOUND: a chain of caches is a few levels long; 8 steps stop a cyclic tree.
    for _ in 0..8 {
        match cache
            .number("next-level-cache")
            .and_then(|phandle| u32::try_from(phandle).ok())
            .and_then(|phandle| tree.by_phandle(phandle))
        {
            Some(next) => cache = next,
            None => break,
        }
    }
    let way_size = cache
        .number("cache-sets")?
        .checked_mul(cache.number("cache-line-size")?)?;
    let count = u32::try_from(way_size / GRANULE_4KIB).ok()?;
    (1..=MAX_CACHE_COLOURS)
        .contains(&count)
        .then(|| CacheColours {
            count,
            source: format!("{} (cache-sets × cache-line-size / 4 KiB)", cache.path),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(base: u64, size: u64) -> Option<u64> {
        gicv2_cpu_interface_view(AddressRange::new(base, size).unwrap())
    }

    #[test]
    fn an_aliased_gicv2_cpu_interface_is_seen_through_its_contiguous_window() {
        // ZCU102: 128 KiB, the first page's last alias at +0xF000, the second page at +0x10000.
        assert_eq!(view(0xf902_0000, 0x2_0000), Some(0xf902_f000));
        // QEMU virt (64 KiB slot, pages adjacent) and a bare 8 KiB region: the base itself.
        assert_eq!(view(0x0801_0000, 0x1_0000), Some(0x0801_0000));
        assert_eq!(view(0x0801_0000, 0x2000), Some(0x0801_0000));
        // Too small for GICC_DIR's page.
        assert_eq!(view(0x0801_0000, 0x1000), None);
    }
}
