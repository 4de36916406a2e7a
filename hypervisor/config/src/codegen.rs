//! Emits the Rust the EL2 image `include!`s (`system.rs`) and the linker fragments
//! (`memory.x`, and `preload.x` for the first images a boot loader places: [`preload`]).
//!
//! The output is a pure function of the validated system and the written image/DTB files, so
//! it is snapshot-tested byte for byte. It is formatted the way rustfmt would (struct
//! literals one field per line) so `cargo xtask expand` is readable, uses only absolute
//! `::bulkhead_core::` paths so it compiles wherever it is included, and carries `const`
//! assertions that fail the image build if an included file changed after validation.
//!
//! Design: [impl->dsn~config-codegen~1]

use std::fmt::Write as _;
use std::path::Path;

use bulkhead_core::addr::MemoryRegion;
use bulkhead_core::system::{Access, EntropyDevice, FaultPolicy, Gic, SecondaryBoot, Trigger, Uart, UartKind};

use crate::board::Board;
use crate::image::GuestImage;
use crate::spec::{ChannelSpec, ConsoleSpec, PartitionSpec, SystemSpec};
use crate::units::{AddressRange, hex};
use crate::validate::layout::FIRST_FORWARDED_INTID;

pub mod preload;

const CORE: &str = "::bulkhead_core";

/// What codegen needs to know about one partition's written outputs.
pub struct PartitionOutput<'a> {
    /// The validated partition.
    pub spec: &'a PartitionSpec,
    /// The flattened image as loaded.
    pub image: &'a GuestImage,
    /// Where the flattened image was written.
    pub image_path: &'a Path,
    /// Where the guest device tree was written.
    pub dtb_path: &'a Path,
    /// Size of the guest device tree.
    pub dtb_len: usize,
    /// Where the guest device tree holds its per-boot seeds.
    pub boot_seeds: Option<bulkhead_core::boot_seed::BootSeeds>,
}

/// Number of 32-SPI blocks a virtual GIC needs to number every INTID of every partition
/// (at least the 2 blocks, INTIDs 32–95, `bulkhead_core::vgic::VirtualGic` defaults to).
pub fn guest_spi_blocks(spec: &SystemSpec) -> usize {
    let highest =
        spec.partitions()
            .iter()
            .flat_map(|partition| {
                partition
                    .interrupts
                    .iter()
                    .map(|interrupt| interrupt.guest)
                    .chain(
                        partition.endpoints.iter().filter_map(|endpoint| {
                            endpoint.doorbell.map(|doorbell| doorbell.intid)
                        }),
                    )
            })
            .max()
            .unwrap_or(FIRST_FORWARDED_INTID);
    ((highest / 32) as usize).max(2)
}

/// A Rust expression, printed rustfmt-style.
enum Expr {
    /// Printed as is.
    Atom(String),
    /// `path { field: value, ... }`, one field per line.
    Struct(String, Vec<(&'static str, Expr)>),
    /// `&[items]`.
    SliceRef(Vec<Expr>),
    /// `Some(value)`.
    Some(Box<Expr>),
}

fn memory_region(region: MemoryRegion) -> Expr {
    Expr::Struct(
        format!("{CORE}::addr::MemoryRegion"),
        vec![
            ("ipa", ipa(region.ipa.raw())),
            ("phys", phys_addr(region.phys.raw())),
            ("size", Expr::atom(hex(region.size))),
        ],
    )
}

fn access(access: Access) -> Expr {
    Expr::atom(system_path(match access {
        Access::ReadWrite => "Access::ReadWrite",
        Access::ReadOnly => "Access::ReadOnly",
    }))
}

fn trigger(trigger: Trigger) -> Expr {
    Expr::atom(system_path(match trigger {
        Trigger::Level => "Trigger::Level",
        Trigger::Edge => "Trigger::Edge",
    }))
}

impl Expr {
    fn atom(text: impl Into<String>) -> Self {
        Self::Atom(text.into())
    }

    /// rustfmt keeps a struct literal on one line when its fields are short (the default
    /// `struct_lit_width` is 18 columns).
    fn fits_on_one_line(fields: &[(&'static str, Expr)]) -> bool {
        const STRUCT_LITERAL_WIDTH: usize = 18;
        let mut width = 0;
        for (index, (name, value)) in fields.iter().enumerate() {
            let Self::Atom(text) = value else {
                return false;
            };
            width += name.len() + 2 + text.len() + if index == 0 { 0 } else { 2 };
        }
        !fields.is_empty() && width <= STRUCT_LITERAL_WIDTH
    }

    fn is_block(&self) -> bool {
        matches!(self, Self::Struct(..))
    }

    fn print(&self, out: &mut String, indent: usize) {
        match self {
            Self::Atom(text) => out.push_str(text),
            Self::Struct(path, fields) if Self::fits_on_one_line(fields) => {
                let fields: Vec<String> = fields
                    .iter()
                    .map(|(name, value)| match value {
                        Self::Atom(text) => format!("{name}: {text}"),
                        _ => String::new(),
                    })
                    .collect();
                out.push_str(&format!("{path} {{ {} }}", fields.join(", ")));
            }
            Self::Struct(path, fields) => {
                out.push_str(path);
                out.push_str(" {\n");
                for (name, value) in fields {
                    push_indent(out, indent + 1);
                    out.push_str(name);
                    out.push_str(": ");
                    value.print(out, indent + 1);
                    out.push_str(",\n");
                }
                push_indent(out, indent);
                out.push('}');
            }
            Self::Some(value) => {
                out.push_str("Some(");
                value.print(out, indent);
                out.push(')');
            }
            Self::SliceRef(items) => match items.as_slice() {
                [] => out.push_str("&[]"),
                [single] if single.is_block() => {
                    out.push_str("&[");
                    single.print(out, indent);
                    out.push(']');
                }
                items if items.iter().all(|item| !item.is_block()) => {
                    out.push_str("&[");
                    for (index, item) in items.iter().enumerate() {
                        if index != 0 {
                            out.push_str(", ");
                        }
                        item.print(out, indent);
                    }
                    out.push(']');
                }
                items => {
                    out.push_str("&[\n");
                    for item in items {
                        push_indent(out, indent + 1);
                        item.print(out, indent + 1);
                        out.push_str(",\n");
                    }
                    push_indent(out, indent);
                    out.push(']');
                }
            },
        }
    }
}

fn push_indent(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push_str("    ");
    }
}

fn system_path(name: &str) -> String {
    format!("{CORE}::system::{name}")
}

fn phys_addr(value: u64) -> Expr {
    Expr::atom(format!("{CORE}::addr::PhysAddr({})", hex(value)))
}

fn ipa(value: u64) -> Expr {
    Expr::atom(format!("{CORE}::addr::Ipa({})", hex(value)))
}

fn phys_range(range: AddressRange) -> Expr {
    Expr::Struct(
        system_path("PhysRange"),
        vec![
            ("base", phys_addr(range.base())),
            ("size", Expr::atom(hex(range.size()))),
        ],
    )
}

fn uart(uart: &Uart) -> Expr {
    let kind = match uart.kind {
        UartKind::Pl011 => "Pl011",
        UartKind::Cadence => "Cadence",
        UartKind::Bcm2835Aux => "Bcm2835Aux",
        UartKind::Ns16550 => "Ns16550",
    };
    Expr::Struct(
        system_path("Uart"),
        vec![
            (
                "kind",
                Expr::atom(system_path(&format!("UartKind::{kind}"))),
            ),
            ("base", phys_addr(uart.base.raw())),
            ("intid", Expr::atom(uart.intid.to_string())),
        ],
    )
}

fn gic(gic: &Gic) -> Expr {
    match *gic {
        Gic::V3 {
            distributor,
            redistributors,
            redistributor_stride,
        } => Expr::Struct(
            system_path("Gic::V3"),
            vec![
                ("distributor", phys_addr(distributor.raw())),
                ("redistributors", phys_addr(redistributors.raw())),
                (
                    "redistributor_stride",
                    Expr::atom(hex(redistributor_stride)),
                ),
            ],
        ),
        Gic::V2 {
            distributor,
            cpu_interface,
            hypervisor_interface,
            virtual_cpu_interface,
        } => Expr::Struct(
            system_path("Gic::V2"),
            vec![
                ("distributor", phys_addr(distributor.raw())),
                ("cpu_interface", phys_addr(cpu_interface.raw())),
                (
                    "hypervisor_interface",
                    phys_addr(hypervisor_interface.raw()),
                ),
                (
                    "virtual_cpu_interface",
                    phys_addr(virtual_cpu_interface.raw()),
                ),
            ],
        ),
    }
}

/// The EL2 driver types the image is built with for this board's devices: the
/// configuration picks the platform at build time (as Bao's `GIC_VERSION` or Hubris's
/// generated board types do), so the image never probes, and never drives a device with
/// another model's driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformTypes {
    /// Driver of the physical interrupt controller.
    pub interrupt_controller: &'static str,
    /// Driver of the console UART.
    pub console_uart: &'static str,
    /// Driver of the log UART (the console's when the board has none: then unused).
    pub log_uart: &'static str,
}

/// A board device the EL2 image has no driver for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MissingDriver {
    /// The interrupt controller (none today: GICv3 and GICv2 both have drivers; kept for
    /// the next interrupt controller a board brings).
    InterruptController(&'static str),
    /// The console UART's model.
    ConsoleUart(&'static str),
    /// The log UART's model.
    LogUart(&'static str),
}

/// The driver of a UART model, or its name when there is none.
fn uart_driver(kind: UartKind) -> Result<&'static str, &'static str> {
    match kind {
        UartKind::Pl011 => Ok("::bulkhead_drivers::pl011::Pl011"),
        UartKind::Cadence => Ok("::bulkhead_drivers::cadence::Cadence"),
        UartKind::Bcm2835Aux => Ok("::bulkhead_drivers::mini_uart::MiniUart"),
        UartKind::Ns16550 => Err("NS16550"),
    }
}

/// The driver types for `board`, or every device that has none.
pub fn platform_types(board: &Board) -> Result<PlatformTypes, Vec<MissingDriver>> {
    let mut missing = Vec::new();
    let interrupt_controller = match board.gic {
        Gic::V3 { .. } => "::bulkhead_drivers::gicv3::PhysicalGic",
        Gic::V2 { .. } => "::bulkhead_drivers::gicv2::PhysicalGic",
    };
    let console_uart = uart_driver(board.console.uart.kind).unwrap_or_else(|model| {
        missing.push(MissingDriver::ConsoleUart(model));
        ""
    });
    let log_uart = match &board.log {
        Some(log) => uart_driver(log.uart.kind).unwrap_or_else(|model| {
            missing.push(MissingDriver::LogUart(model));
            ""
        }),
        None => console_uart,
    };
    if missing.is_empty() {
        Ok(PlatformTypes {
            interrupt_controller,
            console_uart,
            log_uart,
        })
    } else {
        Err(missing)
    }
}

/// The `pub type` items naming the platform's drivers; for a board with a device the image
/// has no driver for, a `compile_error!` (the compiler refuses such a board before this
/// is generated; the error stops a hand-edited or stale file).
fn platform_items(board: &Board) -> String {
    match platform_types(board) {
        Ok(types) => format!(
            "/// The physical interrupt controller's EL2 driver, chosen from the board.\n\
             pub type InterruptController = {};\n\
             /// The console UART's EL2 driver, chosen from the board.\n\
             pub type ConsoleUart = {};\n\
             /// The log UART's EL2 driver, chosen from the board{}.\n\
             pub type LogUart = {};\n",
            types.interrupt_controller,
            types.console_uart,
            if board.log.is_some() {
                ""
            } else {
                " (no log UART: unused)"
            },
            types.log_uart
        ),
        Err(missing) => format!(
            "compile_error!({:?});\n",
            format!(
                "board {} has devices without an EL2 driver: {missing:?}",
                board.name
            )
        ),
    }
}

/// The board's run-time facts; `extra_mmio` joins the hypervisor's device ranges (the
/// display backend's registers).
fn board(board: &Board, extra_mmio: Option<AddressRange>) -> Expr {
    let secondary_boot = match board.secondary_boot {
        SecondaryBoot::PsciSmc => "PsciSmc",
        SecondaryBoot::PsciHvc => "PsciHvc",
        SecondaryBoot::AllCoresEnter => "AllCoresEnter",
        SecondaryBoot::SpinTable => "SpinTable",
    };
    Expr::Struct(
        system_path("Board"),
        vec![
            ("name", Expr::atom(format!("{:?}", board.name))),
            (
                "ram",
                Expr::SliceRef(board.ram.iter().copied().map(phys_range).collect()),
            ),
            ("hypervisor", phys_range(board.hypervisor)),
            ("gic", gic(&board.gic)),
            ("console", uart(&board.console.uart)),
            (
                "log",
                board.log.as_ref().map_or(Expr::atom("None"), |log| {
                    Expr::Some(Box::new(uart(&log.uart)))
                }),
            ),
            (
                "hypervisor_mmio",
                Expr::SliceRef(
                    board
                        .hypervisor_mmio()
                        .into_iter()
                        .chain(extra_mmio)
                        .map(phys_range)
                        .collect(),
                ),
            ),
            (
                "secondary_boot",
                Expr::atom(system_path(&format!("SecondaryBoot::{secondary_boot}"))),
            ),
            (
                "counter_frequency",
                Expr::atom(
                    board
                        .counter_frequency
                        .map_or_else(|| "None".to_owned(), |hz| format!("Some({hz})")),
                ),
            ),
            (
                "entropy",
                board.entropy.as_ref().map_or(Expr::atom("None"), |entropy| {
                    let device = match entropy.device {
                        EntropyDevice::VirtioRng => "VirtioRng",
                        EntropyDevice::IprocRng200 => "IprocRng200",
                    };
                    Expr::Some(Box::new(Expr::Struct(
                        system_path("Entropy"),
                        vec![
                            ("device", Expr::atom(system_path(&format!("EntropyDevice::{device}")))),
                            ("registers", phys_addr(entropy.registers.base())),
                        ],
                    )))
                }),
            ),
        ],
    )
}

fn fault_policy(policy: FaultPolicy) -> Expr {
    match policy {
        FaultPolicy::InjectAbort => Expr::atom(system_path("FaultPolicy::InjectAbort")),
        FaultPolicy::Halt => Expr::atom(system_path("FaultPolicy::Halt")),
        FaultPolicy::StopSystem => Expr::atom(system_path("FaultPolicy::StopSystem")),
        FaultPolicy::Restart { max_restarts } => Expr::Struct(
            system_path("FaultPolicy::Restart"),
            vec![("max_restarts", Expr::atom(max_restarts.to_string()))],
        ),
    }
}

fn item(out: &mut String, doc: &str, head: &str, value: &Expr) {
    let _ = writeln!(out, "/// {doc}");
    out.push_str(head);
    out.push_str(" = ");
    value.print(out, 0);
    out.push_str(";\n");
}

fn path_literal(path: &Path) -> String {
    format!("{:?}", path.to_string_lossy())
}

/// `system.rs`: the `SYSTEM` static, the size constants and their const assertions.
pub fn system_rs(spec: &SystemSpec, partitions: &[PartitionOutput<'_>]) -> String {
    let mut out = header_and_sizes(spec, partitions);
    out.push('\n');
    out.push_str(&platform_items(spec.board()));
    let preloads = preload::preloads(spec, partitions);
    out.push('\n');
    out.push_str(&preload::marker_items(&preloads));
    for (index, partition) in partitions.iter().enumerate() {
        out.push('\n');
        out.push_str(&partition_items(spec, index, partition));
        out.push_str(&preload::global_asm(&preloads, index));
    }
    let cores: Vec<Expr> = (0..spec.board().cores.len())
        .map(|core| core_entry(spec.board(), core, partitions))
        .collect();
    out.push('\n');
    print_array(
        &mut out,
        "Physical cores and the vCPU pinned to each.",
        "CORES",
        "Core",
        "CORE_COUNT",
        &cores,
    );
    let entries: Vec<Expr> = partitions
        .iter()
        .enumerate()
        .map(|(index, partition)| {
            let placed_by_loader = preload::placed_by_loader(&preloads, index);
            partition_entry(spec.channels(), index, partition, &partitions, placed_by_loader)
        })
        .collect();
    out.push('\n');
    print_array(
        &mut out,
        "Partitions in manifest order.",
        "PARTITIONS",
        "Partition",
        "PARTITION_COUNT",
        &entries,
    );
    let channels: Vec<Expr> = spec
        .channels()
        .iter()
        .map(|channel| {
            Expr::Struct(
                system_path("Channel"),
                vec![
                    ("name", Expr::atom(format!("{:?}", channel.name))),
                    ("memory", phys_range(channel.memory)),
                ],
            )
        })
        .collect();
    out.push('\n');
    print_array(
        &mut out,
        "Shared-memory channels in manifest order.",
        "CHANNELS",
        "Channel",
        "CHANNEL_COUNT",
        &channels,
    );
    out.push('\n');
    out.push_str(&display_items(spec));
    out.push('\n');
    let system = Expr::Struct(
        system_path("System"),
        vec![
            (
                "board",
                board(
                    spec.board(),
                    spec.display()
                        .and_then(|display| display.backend_registers)
                        .and_then(crate::validate::display::register_pages),
                ),
            ),
            ("cores", Expr::atom("&CORES")),
            ("partitions", Expr::atom("&PARTITIONS")),
            ("channels", Expr::atom("&CHANNELS")),
        ],
    );
    item(
        &mut out,
        "The system this image runs.",
        &format!("pub static SYSTEM: {}", system_path("System")),
        &system,
    );
    out
}

/// `DISPLAY`, its layers and the scan-out size: `None` and zero without `[display]`.
fn display_items(spec: &SystemSpec) -> String {
    use bulkhead_core::display::{Backend, FailSafe, PixelFormat};
    let mut out = String::new();
    let display = spec.display();
    let layers: Vec<Expr> = display
        .map(|display| display.layers.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|layer| {
            let path = |name: &str| format!("{CORE}::display::{name}");
            let format = match layer.format {
                PixelFormat::Xrgb8888 => "Xrgb8888",
                PixelFormat::Rgb565 => "Rgb565",
            };
            let rect = layer.destination;
            Expr::Struct(
                path("LayerConfig"),
                vec![
                    ("partition", Expr::atom(layer.partition.to_string())),
                    ("framebuffer_ipa", Expr::atom(hex(layer.framebuffer_ipa))),
                    ("framebuffer_phys", Expr::atom(hex(layer.framebuffer_phys))),
                    ("width", Expr::atom(layer.width.to_string())),
                    ("height", Expr::atom(layer.height.to_string())),
                    ("stride", Expr::atom(layer.stride.to_string())),
                    ("format", Expr::atom(format!("{}::{format}", path("PixelFormat")))),
                    (
                        "destination",
                        Expr::atom(format!(
                            "{}::new({}, {}, {}, {})",
                            path("Rect"),
                            rect.x,
                            rect.y,
                            rect.width,
                            rect.height
                        )),
                    ),
                    ("z", Expr::atom(layer.z.to_string())),
                    ("critical", Expr::atom(layer.critical.to_string())),
                    ("freeze_threshold", Expr::atom(layer.freeze_threshold.to_string())),
                ],
            )
        })
        .collect();
    if display.is_some() {
        let _ = writeln!(out, "/// The display layers in manifest order.");
        let _ = write!(
            out,
            "static DISPLAY_LAYERS: [{CORE}::display::LayerConfig; DISPLAY_LAYER_COUNT] = ["
        );
        if !layers.is_empty() {
            out.push('\n');
            for layer in &layers {
                push_indent(&mut out, 1);
                layer.print(&mut out, 1);
                out.push_str(",\n");
            }
        }
        out.push_str("];\n");
    }
    let pixels = display.map_or(0, |display| u64::from(display.width) * u64::from(display.height));
    out.push_str(&format!(
        "/// Pixels of the scan-out buffer the hypervisor keeps (XRGB8888; 0 without a display).\n\
         pub const DISPLAY_SCAN_OUT_PIXELS: usize = {pixels};\n"
    ));
    // The layer count exists only with a display (it sizes `DISPLAY_LAYERS`): without one it
    // would be an unused constant, and Clippy calls `0 <= MAX_LAYERS` an absurd comparison.
    if display.is_some() {
        out.push_str(&format!(
            "/// Number of display layers.\npub const DISPLAY_LAYER_COUNT: usize = {};\n",
            layers.len()
        ));
    }
    if !layers.is_empty() {
        out.push_str(&format!(
            "const _: () = assert!(DISPLAY_LAYER_COUNT <= {CORE}::display::MAX_LAYERS);\n"
        ));
    }
    let head = format!("pub static DISPLAY: Option<&{CORE}::display::DisplayConfig>");
    let doc = "The shared screen (`[display]`), when the system has one.";
    let Some(display) = display else {
        item(&mut out, doc, &head, &Expr::atom("None"));
        return out;
    };
    let backend = match display.backend {
        Backend::RamCapture => "RamCapture",
        Backend::Ramfb => "Ramfb",
        Backend::VirtioGpu => "VirtioGpu",
        Backend::Rpi4Mailbox => "Rpi4Mailbox",
    };
    let FailSafe::Colour(colour) = display.fail_safe;
    let screen = Expr::Struct(
        format!("{CORE}::display::DisplayConfig"),
        vec![
            ("backend", Expr::atom(format!("{CORE}::display::Backend::{backend}"))),
            (
                "backend_registers",
                Expr::atom(hex(display.backend_registers.map_or(0, |range| range.base()))),
            ),
            (
                "firmware_framebuffer",
                phys_range(display.firmware_framebuffer.unwrap_or(AddressRange::EMPTY)),
            ),
            ("width", Expr::atom(display.width.to_string())),
            ("height", Expr::atom(display.height.to_string())),
            ("frame_period_us", Expr::atom(display.frame_period_us.to_string())),
            ("budget", Expr::atom(display.budget.to_string())),
            ("compose_core", Expr::atom(display.compose_core.to_string())),
            ("background", Expr::atom(hex(u64::from(display.background)))),
            (
                "fail_safe",
                Expr::atom(format!("{CORE}::display::FailSafe::Colour({})", hex(u64::from(colour)))),
            ),
            ("statistics_every", Expr::atom(display.statistics_every.to_string())),
            ("layers", Expr::atom("&DISPLAY_LAYERS")),
        ],
    );
    item(
        &mut out,
        "The screen, its timing and budget.",
        &format!("static SCREEN: {CORE}::display::DisplayConfig"),
        &screen,
    );
    item(&mut out, doc, &head, &Expr::atom("Some(&SCREEN)"));
    out
}

/// The "do not edit" header and the public size constants.
fn header_and_sizes(spec: &SystemSpec, partitions: &[PartitionOutput<'_>]) -> String {
    let max_vcpus = partitions
        .iter()
        .map(|partition| partition.spec.vcpus)
        .max()
        .unwrap_or(0);
    let pool: Vec<String> = (0..partitions.len())
        .map(|index| format!("PARTITION_{index}_TABLES"))
        .collect();
    let pool = if pool.is_empty() {
        "0".to_owned()
    } else {
        pool.join(" + ")
    };
    format!(
        "// generated by bulkhead-config from {manifest} — do not edit.\n\
         // Board: {board}. `cargo xtask expand` prints this file.\n\
         \n\
         /// Number of partitions.\n\
         pub const PARTITION_COUNT: usize = {partition_count};\n\
         /// Number of physical cores, in device-tree order.\n\
         pub const CORE_COUNT: usize = {core_count};\n\
         /// Largest vCPU count of any partition.\n\
         pub const MAX_VCPUS: usize = {max_vcpus};\n\
         /// Stage-2 translation tables needed by all partitions together.\n\
         pub const STAGE2_TABLE_POOL: usize = {pool};\n\
         /// Number of shared-memory channels.\n\
         pub const CHANNEL_COUNT: usize = {channel_count};\n\
         /// Largest number of pass-through MMIO regions of any partition.\n\
         pub const MAX_DEVICE_REGIONS: usize = {max_device_regions};\n\
         /// Largest number of forwarded physical interrupts of any partition.\n\
         pub const MAX_INTERRUPT_ROUTES: usize = {max_routes};\n\
         /// 32-SPI blocks a virtual GIC needs for the highest guest INTID of any partition.\n\
         pub const GUEST_SPI_BLOCKS: usize = {spi_blocks};\n\
         \n\
         const _: () = assert!(MAX_VCPUS <= {CORE}::layout::MAX_VCPUS_PER_PARTITION);\n",
        manifest = spec.manifest_name(),
        board = spec.board().name,
        partition_count = partitions.len(),
        core_count = spec.board().cores.len(),
        channel_count = spec.channels().len(),
        max_device_regions = partitions
            .iter()
            .map(|partition| partition.spec.device_pages.len())
            .max()
            .unwrap_or(0),
        max_routes = partitions
            .iter()
            .map(|partition| partition.spec.interrupts.len())
            .max()
            .unwrap_or(0),
        spi_blocks = guest_spi_blocks(spec),
    )
}

/// One partition's RAM region, table count, included files and their size assertions.
fn partition_items(spec: &SystemSpec, index: usize, partition: &PartitionOutput<'_>) -> String {
    let prefix = format!("PARTITION_{index}");
    let mut out = format!("// Partition {index}: {}.\n", partition.spec.name);
    let ram = Expr::Struct(
        format!("{CORE}::addr::MemoryRegion"),
        vec![
            ("ipa", ipa(partition.spec.ram_region().ipa.raw())),
            ("phys", phys_addr(partition.spec.ram.base())),
            ("size", Expr::atom(hex(partition.spec.ram.size()))),
        ],
    );
    item(
        &mut out,
        "Guest RAM.",
        &format!("const {prefix}_RAM: {CORE}::addr::MemoryRegion"),
        &ram,
    );
    let mapped: Vec<Expr> = spec
        .partition_stage2_regions(partition.spec)
        .into_iter()
        .skip(1)
        .map(memory_region)
        .collect();
    let mut stage2 = vec![Expr::atom(format!("{prefix}_RAM"))];
    stage2.extend(mapped);
    item(
        &mut out,
        "Every region stage 2 maps: RAM, device pages, regions, channel ends, GICV (GICv2).",
        &format!("const {prefix}_STAGE2: &[{CORE}::addr::MemoryRegion]"),
        &Expr::SliceRef(stage2),
    );
    let _ = write!(
        out,
        "/// Stage-2 tables mapping every region of the partition.\n\
         const {prefix}_TABLES: usize = {CORE}::stage2::tables_needed({prefix}_STAGE2);\n\
         /// Flattened guest image.\n\
         const {prefix}_IMAGE: &[u8] = include_bytes!({image_path});\n\
         /// Guest device tree.\n\
         const {prefix}_DTB: &[u8] = include_bytes!({dtb_path});\n\
         // Validated at these sizes: a file changed since then fails the build.\n\
         const _: () = assert!({prefix}_IMAGE.len() == {image_len});\n\
         const _: () = assert!({prefix}_DTB.len() == {dtb_len});\n\
         const _: () = assert!({prefix}_DTB.len() as u64 <= {CORE}::layout::DTB_MAX_SIZE);\n",
        image_path = path_literal(partition.image_path),
        dtb_path = path_literal(partition.dtb_path),
        image_len = partition.image.bytes.len(),
        dtb_len = partition.dtb_len,
    );
    if let Some((path, length)) = &partition.spec.initrd {
        let _ = write!(
            out,
            "/// Initial RAM disk.\n\
             const {prefix}_INITRD: &[u8] = include_bytes!({});\n\
             const _: () = assert!({prefix}_INITRD.len() == {length});\n",
            path_literal(&absolute(path)),
        );
    }
    for (region_index, region) in partition.spec.regions.iter().enumerate() {
        if let Some(path) = &region.file {
            let _ = write!(
                out,
                "/// Initial contents of region `{}`.\n\
                 const {prefix}_REGION_{region_index}: &[u8] = include_bytes!({});\n\
                 const _: () = assert!({prefix}_REGION_{region_index}.len() as u64 <= {});\n",
                region.name,
                path_literal(&absolute(path)),
                hex(region.host.size()),
            );
        }
    }
    out
}

fn absolute(path: &Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `Core` entry for physical core `core`, naming the vCPU pinned to it.
fn core_entry(board: &Board, core: usize, partitions: &[PartitionOutput<'_>]) -> Expr {
    let vcpu = partitions
        .iter()
        .enumerate()
        .find_map(|(partition_index, partition)| {
            let vcpu = partition
                .spec
                .cpus
                .iter()
                .take(partition.spec.vcpus)
                .position(|cpu| *cpu == core)?;
            Some(Expr::Some(Box::new(Expr::Struct(
                system_path("VcpuRef"),
                vec![
                    ("partition", Expr::atom(partition_index.to_string())),
                    ("vcpu", Expr::atom(vcpu.to_string())),
                ],
            ))))
        });
    Expr::Struct(
        system_path("Core"),
        vec![
            ("mpidr", Expr::atom(hex(board.cores[core].mpidr))),
            ("vcpu", vcpu.unwrap_or_else(|| Expr::atom("None"))),
            (
                "release_address",
                Expr::atom(match board.cores[core].release_address {
                    Some(address) if board.secondary_boot == SecondaryBoot::SpinTable => format!("Some({})", hex(address)),
                    _ => "None".to_owned(),
                }),
            ),
        ],
    )
}

/// `Partition` entry referring to the items [`partition_items`] emitted.
fn partition_entry(
    channels: &[ChannelSpec],
    index: usize,
    partition: &PartitionOutput<'_>,
    partitions: &[PartitionOutput<'_>],
    placed_by_loader: bool,
) -> Expr {
    let prefix = format!("PARTITION_{index}");
    let spec = partition.spec;
    // Cores pinned beyond the vCPU count idle: they run no vCPU of the partition.
    let cores = spec
        .cpus
        .iter()
        .take(spec.vcpus)
        .map(|cpu| Expr::atom(cpu.to_string()))
        .collect();
    Expr::Struct(
        system_path("Partition"),
        vec![
            ("name", Expr::atom(format!("{:?}", spec.name))),
            ("ram", Expr::atom(format!("{prefix}_RAM"))),
            ("cores", Expr::SliceRef(cores)),
            ("image", Expr::atom(format!("{prefix}_IMAGE"))),
            ("image_ipa", ipa(partition.image.load_ipa)),
            (
                "zeroed_after_image",
                Expr::atom(hex(partition.image.zeroed_after_image)),
            ),
            ("entry", ipa(partition.image.entry)),
            ("dtb", Expr::atom(format!("{prefix}_DTB"))),
            ("dtb_ipa", ipa(spec.dtb_ipa().raw())),
            ("fault_policy", fault_policy(spec.fault_policy)),
            (
                "devices",
                Expr::SliceRef(
                    spec.device_pages
                        .iter()
                        .map(|page| {
                            memory_region(MemoryRegion {
                                ipa: bulkhead_core::addr::Ipa(page.base()),
                                phys: bulkhead_core::addr::PhysAddr(page.base()),
                                size: page.size(),
                            })
                        })
                        .collect(),
                ),
            ),
            ("interrupts", Expr::SliceRef(physical_interrupts(spec))),
            (
                "criticality",
                Expr::atom(format!("{:?}", spec.criticality.as_deref().unwrap_or(""))),
            ),
            (
                "interrupt_routes",
                Expr::SliceRef(
                    spec.interrupts
                        .iter()
                        .map(|interrupt| {
                            Expr::Struct(
                                system_path("InterruptRoute"),
                                vec![
                                    ("physical", Expr::atom(interrupt.physical.to_string())),
                                    ("virtual_intid", Expr::atom(interrupt.guest.to_string())),
                                    ("trigger", trigger(interrupt.trigger)),
                                ],
                            )
                        })
                        .collect(),
                ),
            ),
            ("regions", Expr::SliceRef(regions(&prefix, spec))),
            (
                "channel_endpoints",
                Expr::SliceRef(endpoints(index, spec, channels, partitions)),
            ),
            (
                "initrd",
                match spec.initrd_ipa().filter(|_| spec.initrd.is_some()) {
                    Some(initrd_ipa) => Expr::Some(Box::new(Expr::Struct(
                        system_path("Initrd"),
                        vec![
                            ("bytes", Expr::atom(format!("{prefix}_INITRD"))),
                            ("ipa", ipa(initrd_ipa)),
                        ],
                    ))),
                    None => Expr::atom("None"),
                },
            ),
            (
                "console",
                Expr::atom(system_path(match spec.console {
                    ConsoleSpec::Virtual => "PartitionConsole::Virtual",
                    ConsoleSpec::Passthrough(_) => "PartitionConsole::Passthrough",
                })),
            ),
            (
                "cache_colours",
                Expr::atom(hex(spec
                    .cache_colours
                    .iter()
                    .filter(|colour| **colour < 64)
                    .fold(0u64, |mask, colour| mask | (1 << colour)))),
            ),
            (
                "boot_seeds",
                match partition.boot_seeds {
                    Some(seeds) => Expr::Some(Box::new(Expr::Struct(
                        "bulkhead_core::boot_seed::BootSeeds".to_owned(),
                        vec![
                            ("kaslr_seed", Expr::atom(seeds.kaslr_seed.to_string())),
                            ("rng_seed", Expr::atom(seeds.rng_seed.to_string())),
                            ("rng_seed_name", Expr::atom(seeds.rng_seed_name.to_string())),
                            ("withheld_name", Expr::atom(seeds.withheld_name.to_string())),
                        ],
                    ))),
                    None => Expr::atom("None"),
                },
            ),
            (
                "first_load",
                Expr::atom(system_path(if placed_by_loader { "FirstLoad::PlacedByLoader" } else { "FirstLoad::Copy" })),
            ),
        ],
    )
}

fn physical_interrupts(spec: &PartitionSpec) -> Vec<Expr> {
    let mut physical: Vec<u32> = spec
        .interrupts
        .iter()
        .map(|interrupt| interrupt.physical)
        .collect();
    physical.sort_unstable();
    physical
        .into_iter()
        .map(|intid| Expr::atom(intid.to_string()))
        .collect()
}

fn regions(prefix: &str, spec: &PartitionSpec) -> Vec<Expr> {
    spec.regions
        .iter()
        .enumerate()
        .map(|(index, region)| {
            Expr::Struct(
                system_path("GuestRegion"),
                vec![
                    ("name", Expr::atom(format!("{:?}", region.name))),
                    (
                        "region",
                        memory_region(MemoryRegion {
                            ipa: bulkhead_core::addr::Ipa(region.ipa),
                            phys: bulkhead_core::addr::PhysAddr(region.host.base()),
                            size: region.host.size(),
                        }),
                    ),
                    ("access", access(region.access)),
                    (
                        "contents",
                        Expr::atom(if region.file.is_some() {
                            format!("{prefix}_REGION_{index}")
                        } else {
                            "&[]".to_owned()
                        }),
                    ),
                ],
            )
        })
        .collect()
}

fn endpoints(
    own_index: usize,
    spec: &PartitionSpec,
    channels: &[ChannelSpec],
    partitions: &[PartitionOutput<'_>],
) -> Vec<Expr> {
    spec.endpoints
        .iter()
        .filter_map(|endpoint| Some((endpoint, channels.get(endpoint.channel)?)))
        .map(|(endpoint, channel)| {
            Expr::Struct(
                system_path("ChannelEndpoint"),
                vec![
                    ("channel", Expr::atom(endpoint.channel.to_string())),
                    (
                        "region",
                        memory_region(MemoryRegion {
                            ipa: bulkhead_core::addr::Ipa(endpoint.ipa),
                            phys: bulkhead_core::addr::PhysAddr(channel.memory.base()),
                            size: channel.memory.size(),
                        }),
                    ),
                    ("access", access(endpoint.access)),
                    (
                        "doorbell",
                        match endpoint.doorbell {
                            Some(doorbell) => Expr::Some(Box::new(Expr::Struct(
                                system_path("Doorbell"),
                                vec![
                                    ("register", ipa(doorbell.register)),
                                    ("intid", Expr::atom(doorbell.intid.to_string())),
                                    (
                                        "peers",
                                        Expr::SliceRef(doorbell_peers(own_index, endpoint.channel, partitions)),
                                    ),
                                ],
                            ))),
                            None => Expr::atom("None"),
                        },
                    ),
                ],
            )
        })
        .collect()
}

/// The other ends of `channel` with a doorbell, which a ring from partition `own_index`
/// raises: resolved here so that the trap path rings them without searching.
fn doorbell_peers(own_index: usize, channel: usize, partitions: &[PartitionOutput<'_>]) -> Vec<Expr> {
    partitions
        .iter()
        .enumerate()
        .filter(|(index, _)| *index != own_index)
        .flat_map(|(index, partition)| {
            partition
                .spec
                .endpoints
                .iter()
                .filter(move |end| end.channel == channel)
                .filter_map(move |end| Some((index, end.doorbell?)))
        })
        .map(|(index, doorbell)| {
            Expr::Struct(
                system_path("DoorbellPeer"),
                vec![
                    ("partition", Expr::atom(index.to_string())),
                    ("intid", Expr::atom(doorbell.intid.to_string())),
                ],
            )
        })
        .collect()
}

fn print_array(
    out: &mut String,
    doc: &str,
    name: &str,
    element: &str,
    length: &str,
    items: &[Expr],
) {
    let _ = writeln!(out, "/// {doc}");
    let _ = write!(
        out,
        "static {name}: [{}; {length}] = [",
        system_path(element)
    );
    if items.is_empty() {
        out.push_str("];\n");
        return;
    }
    if let [single] = items {
        // rustfmt moves a lone element after a line break and keeps it in the brackets.
        out.truncate(out.len() - 2);
        out.push_str("\n    [");
        single.print(out, 1);
        out.push_str("];\n");
        return;
    }
    out.push('\n');
    for entry in items {
        push_indent(out, 1);
        entry.print(out, 1);
        out.push_str(",\n");
    }
    out.push_str("];\n");
}

/// `preload.x`: where the boot loader places partitions' first images ([`preload`]).
pub fn preload_x(spec: &SystemSpec, partitions: &[PartitionOutput<'_>]) -> String {
    preload::linker_script(spec, &preload::preloads(spec, partitions))
}

/// `memory.x`: the hypervisor's RAM for the image's linker script.
pub fn memory_x(spec: &SystemSpec) -> String {
    let hypervisor = spec.board().hypervisor;
    format!(
        "/* generated by bulkhead-config from {} — do not edit. */\n\
         /* The hypervisor's RAM reservation on board {} (board.toml [hypervisor]). */\n\
         HYPERVISOR_BASE = {:#x};\n\
         HYPERVISOR_SIZE = {:#x};\n",
        spec.manifest_name(),
        spec.board().name,
        hypervisor.base(),
        hypervisor.size()
    )
}
