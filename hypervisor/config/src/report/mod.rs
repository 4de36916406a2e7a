//! `report.md` and `memory-map.svg`: the built system as a reviewer reads it — every memory
//! region with its owner and permissions, each partition's guest-physical view, the core map,
//! the interrupt map, device assignment, channels, cache colours and the shared screen
//! (`display.svg` draws it).
//!
//! Both are derived from the same validated values as the generated Rust, so a reviewer (or a
//! certification auditor) can check isolation without reading code. Rows are in address
//! order; nothing here depends on hash order or the clock, so the outputs are
//! snapshot-tested.
//!
//! Design: [impl->dsn~config-report~1]

mod display;
mod svg;

use std::fmt::Write as _;
use std::path::Path;

use bulkhead_core::layout::{
    RAM_BASE, VGICD_BASE, VGICD_SIZE, VGICR_BASE, VGICR_STRIDE, VUART_BASE, VUART_INTID, VUART_SIZE,
};
use bulkhead_core::system::{Access, FaultPolicy, Gic, SecondaryBoot, Trigger, UartKind};

pub use display::{DISPLAY_SVG, display_svg};
pub use svg::memory_map_svg;

use crate::board::HypervisorLoader;
use crate::guest_dtb::GuestDeviceTree;
use crate::image::GuestImage;
use crate::spec::{ConsoleSpec, InterruptSource, PartitionSpec, Placement, SystemSpec};
use crate::units::{AddressRange, hex, human_size};
use crate::validate::layout::DOORBELL_PAGE_SIZE;

/// File name of the memory map picture.
pub const MEMORY_MAP_SVG: &str = "memory-map.svg";

/// What the report knows about one partition.
pub struct ReportPartition<'a> {
    /// The validated partition.
    pub spec: &'a PartitionSpec,
    /// Its image and where it was read from, when available (a check without a build may
    /// not have it).
    pub image: Option<(&'a GuestImage, &'a Path)>,
    /// Its generated device tree.
    pub tree: &'a GuestDeviceTree,
}

/// What a host-physical range is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum EntryKind {
    /// The hypervisor's RAM.
    Hypervisor,
    /// MMIO the hypervisor maps for itself.
    HypervisorDevice,
    /// RAM the device tree reserves.
    Reserved,
    /// A partition's RAM.
    PartitionRam,
    /// Part of a partition's RAM (image, initrd, device tree).
    PartitionRamPart,
    /// A partition's extra region.
    Region,
    /// A channel's shared memory.
    Channel,
    /// A pass-through device page range.
    Device,
    /// Unused board RAM.
    Free,
}

/// One row of the host-physical memory map.
#[derive(Clone, Debug)]
pub(crate) struct HostEntry {
    pub range: AddressRange,
    pub kind: EntryKind,
    pub what: String,
    pub owner: String,
    /// Index of the owning partition (colours the picture).
    pub partition: Option<usize>,
    pub access: String,
    pub ipa: Option<(u64, u64)>,
}

/// An endpoint's or region's access as the manifest writes it (`"rw"`, `"ro"`).
pub(crate) fn access_text(access: Access) -> &'static str {
    match access {
        Access::ReadWrite => "rw",
        Access::ReadOnly => "ro",
    }
}

/// Every host-physical range of the system, sorted by address.
pub(crate) fn host_entries(
    spec: &SystemSpec,
    partitions: &[ReportPartition<'_>],
) -> Vec<HostEntry> {
    let board = spec.board();
    let copies: u64 = partitions
        .iter()
        .flat_map(restart_copies)
        .map(|(_, bytes)| bytes)
        .sum();
    let mut entries = vec![HostEntry {
        range: board.hypervisor,
        kind: EntryKind::Hypervisor,
        what: if copies == 0 {
            "image, stacks, tables".to_owned()
        } else {
            format!(
                "image (with {} of guest copies kept for restarts), stacks, tables",
                crate::units::approximate_size(copies)
            )
        },
        owner: "hypervisor".to_owned(),
        partition: None,
        access: "rwx (EL2)".to_owned(),
        ipa: None,
    }];
    for range in board.hypervisor_mmio() {
        entries.push(HostEntry {
            range,
            kind: EntryKind::HypervisorDevice,
            what: hypervisor_device_name(spec, range),
            owner: "hypervisor".to_owned(),
            partition: None,
            access: "device rw (EL2)".to_owned(),
            ipa: None,
        });
    }
    for reserved in &board.reserved {
        entries.push(HostEntry {
            range: reserved.range,
            kind: EntryKind::Reserved,
            what: format!("reserved ({})", reserved.source),
            owner: "firmware".to_owned(),
            partition: None,
            access: "—".to_owned(),
            ipa: None,
        });
    }
    for (index, input) in partitions.iter().enumerate() {
        let partition = input.spec;
        let ram_ipa = RAM_BASE.raw();
        entries.push(HostEntry {
            range: partition.ram,
            kind: EntryKind::PartitionRam,
            what: match partition.placement {
                Placement::Fixed => "RAM (fixed base)".to_owned(),
                Placement::Allocated => "RAM (allocated)".to_owned(),
                Placement::Identity => "RAM (identity: IPA = PA, for device DMA)".to_owned(),
            },
            owner: partition.name.clone(),
            partition: Some(index),
            access: "rw".to_owned(),
            ipa: Some((ram_ipa, ram_ipa + partition.ram.size())),
        });
        let mut parts: Vec<(String, u64, u64)> = Vec::new();
        if let Some(footprint) = input.image.and_then(|(image, _)| image.footprint()) {
            parts.push((
                "↳ image + zeroed tail".to_owned(),
                footprint.start,
                footprint.end,
            ));
        }
        if let (Some(start), Some((_, size))) = (partition.initrd_ipa(), &partition.initrd) {
            parts.push(("↳ initrd".to_owned(), start, start + size));
        }
        let dtb = partition.dtb_ipa().raw();
        parts.push((
            "↳ device tree".to_owned(),
            dtb,
            dtb + input.tree.blob.len() as u64,
        ));
        for (what, start, end) in parts {
            if let Some(range) = AddressRange::new(partition.host_of(start), end - start) {
                entries.push(HostEntry {
                    range,
                    kind: EntryKind::PartitionRamPart,
                    what,
                    owner: partition.name.clone(),
                    partition: Some(index),
                    access: "rw".to_owned(),
                    ipa: Some((start, end)),
                });
            }
        }
        for region in &partition.regions {
            entries.push(HostEntry {
                range: region.host,
                kind: EntryKind::Region,
                what: format!("region `{}`", region.name),
                owner: partition.name.clone(),
                partition: Some(index),
                access: access_text(region.access).to_owned(),
                // Validation keeps `ipa + size` inside the IPA space; saturate rather than
                // trust that here.
                ipa: Some((region.ipa, region.ipa.saturating_add(region.host.size()))),
            });
        }
        for page in &partition.device_pages {
            let devices: Vec<&str> = partition
                .devices
                .iter()
                .filter(|device| device.info.pages.iter().any(|own| own.overlaps(*page)))
                .map(|device| device.info.path.as_str())
                .collect();
            entries.push(HostEntry {
                range: *page,
                kind: EntryKind::Device,
                what: format!("device {}", devices.join(", ")),
                owner: partition.name.clone(),
                partition: Some(index),
                access: "device rw".to_owned(),
                ipa: Some((page.base(), page.end())),
            });
        }
    }
    for channel in spec.channels() {
        let ends: Vec<String> = channel
            .endpoints
            .iter()
            .filter_map(|(index, access)| {
                Some(format!(
                    "{} ({})",
                    spec.partitions().get(*index)?.name,
                    access_text(*access)
                ))
            })
            .collect();
        entries.push(HostEntry {
            range: channel.memory,
            kind: EntryKind::Channel,
            what: format!("channel `{}`", channel.name),
            owner: ends.join(", "),
            partition: channel.endpoints.first().map(|(index, _)| *index),
            access: "shared".to_owned(),
            ipa: None,
        });
    }
    let used: Vec<AddressRange> = entries
        .iter()
        .filter(|entry| entry.kind != EntryKind::PartitionRamPart)
        .map(|entry| entry.range)
        .collect();
    for free in free_ranges(&board.ram, &used) {
        entries.push(HostEntry {
            range: free,
            kind: EntryKind::Free,
            what: "free".to_owned(),
            owner: "—".to_owned(),
            partition: None,
            access: "—".to_owned(),
            ipa: None,
        });
    }
    entries.sort_by(|left, right| {
        (left.range.base(), left.kind, left.range.end()).cmp(&(
            right.range.base(),
            right.kind,
            right.range.end(),
        ))
    });
    entries
}

fn hypervisor_device_name(spec: &SystemSpec, range: AddressRange) -> String {
    let board = spec.board();
    let uarts = std::iter::once(("console UART", &board.console))
        .chain(board.log.iter().map(|log| ("log UART", log)));
    for (role, uart) in uarts {
        if uart.registers == range {
            return format!("{role} {}", uart.path);
        }
    }
    if let Some(entropy) = board.entropy.as_ref().filter(|entropy| range.contains(entropy.registers)) {
        return format!("boot-seed RNG ({}) {}", entropy.device.name(), entropy.node);
    }
    match board.gic {
        Gic::V3 { .. } => "GICv3 frames".to_owned(),
        Gic::V2 { .. } => "GICv2 frames".to_owned(),
    }
}

fn row(out: &mut String, cells: &[&str]) {
    let _ = writeln!(out, "| {} |", cells.join(" | "));
}

fn span(range: AddressRange) -> String {
    format!("`{}`–`{}`", hex(range.base()), hex(range.end()))
}

fn ipa_span(start: u64, end: u64) -> String {
    format!("`{}`–`{}`", hex(start), hex(end))
}

/// Host-physical RAM not used by anything in `used`.
fn free_ranges(ram: &[AddressRange], used: &[AddressRange]) -> Vec<AddressRange> {
    let mut used: Vec<AddressRange> = used.to_vec();
    used.sort();
    let mut free = Vec::new();
    for region in ram {
        let mut cursor = region.base();
        for taken in used.iter().filter(|taken| taken.overlaps(*region)) {
            if taken.base() > cursor {
                free.extend(AddressRange::new(cursor, taken.base() - cursor));
            }
            cursor = cursor.max(taken.end());
        }
        if cursor < region.end() {
            free.extend(AddressRange::new(cursor, region.end() - cursor));
        }
    }
    free
}

/// The report text.
pub fn report_md(spec: &SystemSpec, partitions: &[ReportPartition<'_>]) -> String {
    let board = spec.board();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# System report: `{}` on `{}`\n",
        spec.manifest_name(),
        board.name
    );
    let _ = writeln!(
        out,
        "Generated by bulkhead-config from `{}` — do not edit. The memory map is drawn in `{MEMORY_MAP_SVG}`.\n",
        spec.manifest_name()
    );
    memory_map(&mut out, spec, partitions);
    restart_copy_table(&mut out, spec, partitions);
    guest_views(&mut out, spec, partitions);
    core_map(&mut out, spec);
    partition_table(&mut out, partitions);
    interrupt_map(&mut out, spec);
    device_table(&mut out, spec, partitions);
    channel_table(&mut out, spec);
    colour_table(&mut out, spec);
    hypervisor_devices(&mut out, spec);
    display::display_section(&mut out, spec);
    out
}

fn memory_map(out: &mut String, spec: &SystemSpec, partitions: &[ReportPartition<'_>]) {
    let board = spec.board();
    let _ = writeln!(out, "## Memory map (host-physical)\n");
    let source = if board.ram_from_board_toml {
        "board.toml (the device tree leaves it to firmware)"
    } else {
        "device tree"
    };
    let ram: Vec<String> = board
        .ram
        .iter()
        .map(|range| format!("{} ({})", span(*range), human_size(range.size())))
        .collect();
    let _ = writeln!(out, "Board RAM from the {source}: {}.\n", ram.join(", "));
    row(
        out,
        &["Region", "Owner", "Access", "Host-physical", "IPA", "Size"],
    );
    row(out, &["---", "---", "---", "---", "---", "---:"]);
    for entry in host_entries(spec, partitions) {
        let ipa = entry
            .ipa
            .map_or_else(|| "—".to_owned(), |(start, end)| ipa_span(start, end));
        row(
            out,
            &[
                &entry.what,
                &entry.owner,
                &entry.access,
                &span(entry.range),
                &ipa,
                &human_size(entry.range.size()),
            ],
        );
    }
}

/// What the EL2 image embeds for one partition, each with its size: the flattened image,
/// the initrd, the device tree and region contents. They are the copies every (re)start
/// loads from, so they stay in the hypervisor's RAM for the life of the system.
fn restart_copies(input: &ReportPartition<'_>) -> Vec<(String, u64)> {
    let mut copies = Vec::new();
    if let Some((image, _)) = input.image {
        copies.push(("image".to_owned(), image.bytes.len() as u64));
    }
    if let Some((_, bytes)) = &input.spec.initrd {
        copies.push(("initrd".to_owned(), *bytes));
    }
    copies.push(("device tree".to_owned(), input.tree.blob.len() as u64));
    for region in &input.spec.regions {
        if let Some(bytes) = region.file.as_ref().and_then(|path| crate::input_file::size(path).ok()) {
            copies.push((format!("region `{}`", region.name), bytes));
        }
    }
    copies
}

/// The memory the guest copies cost: per partition, and against the reservation.
fn restart_copy_table(out: &mut String, spec: &SystemSpec, partitions: &[ReportPartition<'_>]) {
    let _ = writeln!(out, "\n### Guest copies kept for restarts\n");
    let _ = writeln!(
        out,
        "The EL2 image embeds what each partition boots from and copies it into the partition's RAM at every (re)start (power-on, PSCI `SYSTEM_RESET`, `{{ restart = N }}`), so these bytes stay in the hypervisor's reservation.\n"
    );
    row(out, &["Partition", "Copies", "Size"]);
    row(out, &["---", "---", "---:"]);
    let mut total = 0u64;
    for input in partitions {
        let copies = restart_copies(input);
        let bytes: u64 = copies.iter().map(|(_, bytes)| bytes).sum();
        total += bytes;
        let parts: Vec<String> = copies
            .iter()
            .map(|(what, bytes)| format!("{what} {}", crate::units::approximate_size(*bytes)))
            .collect();
        row(out, &[&input.spec.name, &parts.join(", "), &crate::units::approximate_size(bytes)]);
    }
    let reservation = spec.board().hypervisor.size();
    let _ = writeln!(
        out,
        "\nTotal: {} of the hypervisor's {} reservation ({:.0} %).",
        crate::units::approximate_size(total),
        human_size(reservation),
        total as f64 * 100.0 / reservation.max(1) as f64
    );
    if spec.board().hypervisor_loader == HypervisorLoader::ElfSegments {
        let _ = writeln!(
            out,
            "\nBoard `{}` loads the EL2 ELF segment by segment (`[hypervisor] loader = \"elf-segments\"`), so the ELF also carries each partition's image, initrd and region contents at their places in the partition's RAM: the loader puts them there for the first start, which copies only the device tree, and restarts copy from the kept copies above. That doubles those bytes in the ELF file, not in RAM.",
            spec.board().name
        );
    }
}

/// Each partition's IPA map: what the guest sees where.
fn guest_views(out: &mut String, spec: &SystemSpec, partitions: &[ReportPartition<'_>]) {
    let _ = writeln!(out, "\n## Guest views (IPA maps)\n");
    for input in partitions {
        let partition = input.spec;
        let _ = writeln!(out, "### `{}`\n", partition.name);
        row(out, &["IPA", "What", "Backed by", "Access", "Size"]);
        row(out, &["---", "---", "---", "---", "---:"]);
        let mut rows: Vec<(u64, u64, String, String, String)> = vec![
            (
                VGICD_BASE.raw(),
                VGICD_SIZE,
                "virtual GIC distributor".to_owned(),
                "emulated (trapped)".to_owned(),
                "rw".to_owned(),
            ),
            (
                VGICR_BASE.raw(),
                VGICR_STRIDE * partition.vcpus as u64,
                format!("virtual GIC redistributors ({} vCPUs)", partition.vcpus),
                "emulated (trapped)".to_owned(),
                "rw".to_owned(),
            ),
            (
                VUART_BASE.raw(),
                VUART_SIZE,
                format!("virtual PL011 (INTID {VUART_INTID})"),
                "emulated (trapped)".to_owned(),
                "rw".to_owned(),
            ),
            (
                RAM_BASE.raw(),
                partition.ram.size(),
                "RAM".to_owned(),
                span(partition.ram),
                "rw".to_owned(),
            ),
        ];
        for page in &partition.device_pages {
            rows.push((
                page.base(),
                page.size(),
                "device registers".to_owned(),
                "identity".to_owned(),
                "device rw".to_owned(),
            ));
        }
        for region in &partition.regions {
            rows.push((
                region.ipa,
                region.host.size(),
                format!("region `{}`", region.name),
                span(region.host),
                access_text(region.access).to_owned(),
            ));
        }
        for endpoint in &partition.endpoints {
            let Some(channel) = spec.channels().get(endpoint.channel) else {
                continue;
            };
            rows.push((
                endpoint.ipa,
                channel.memory.size(),
                format!("channel `{}`", channel.name),
                span(channel.memory),
                access_text(endpoint.access).to_owned(),
            ));
            if let Some(doorbell) = endpoint.doorbell {
                rows.push((
                    doorbell.register,
                    DOORBELL_PAGE_SIZE,
                    format!(
                        "channel `{}` doorbell (raises INTID {} on peers)",
                        channel.name, doorbell.intid
                    ),
                    "trapped".to_owned(),
                    "write".to_owned(),
                ));
            }
        }
        rows.sort_by_key(|(base, ..)| *base);
        for (base, size, what, backing, access) in rows {
            row(
                out,
                &[
                    &ipa_span(base, base.saturating_add(size)),
                    &what,
                    &backing,
                    &access,
                    &human_size(size),
                ],
            );
        }
        out.push('\n');
    }
}

/// Which partition and vCPU each physical core runs.
fn core_map(out: &mut String, spec: &SystemSpec) {
    let board = spec.board();
    let _ = writeln!(out, "## Cores\n");
    row(
        out,
        &["Core", "MPIDR", "Device tree node", "Partition", "vCPU"],
    );
    row(out, &["---:", "---", "---", "---", "---:"]);
    for (index, core) in board.cores.iter().enumerate() {
        let pinned = spec.partitions().iter().find_map(|partition| {
            let position = partition.cpus.iter().position(|cpu| *cpu == index)?;
            Some(if position < partition.vcpus {
                (partition.name.as_str(), position.to_string())
            } else {
                (partition.name.as_str(), "idle (reserved)".to_owned())
            })
        });
        let (owner, vcpu) = pinned.unwrap_or(("idle", "—".to_owned()));
        row(
            out,
            &[
                &index.to_string(),
                &format!("`{}`", hex(core.mpidr)),
                &format!("`{}`", core.path),
                owner,
                &vcpu,
            ],
        );
    }
}

/// Image, entry, fault policy and console of each partition.
fn partition_table(out: &mut String, partitions: &[ReportPartition<'_>]) {
    let _ = writeln!(out, "\n## Partitions\n");
    row(
        out,
        &[
            "#",
            "Name",
            "Criticality",
            "Image",
            "Entry (IPA)",
            "Fault policy",
            "Console",
            "bootargs",
        ],
    );
    row(
        out,
        &["---:", "---", "---", "---", "---", "---", "---", "---"],
    );
    for (index, input) in partitions.iter().enumerate() {
        let partition = input.spec;
        let policy = match partition.fault_policy {
            FaultPolicy::InjectAbort => "inject abort".to_owned(),
            FaultPolicy::Halt => "halt".to_owned(),
            FaultPolicy::StopSystem => "stop the system".to_owned(),
            FaultPolicy::Restart { max_restarts } => {
                format!("restart (≤ {max_restarts}), then halt")
            }
        };
        let (image, entry) = match input.image {
            Some((image, path)) => {
                let name = path
                    .file_name()
                    .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
                (
                    format!(
                        "`{name}` ({}, {})",
                        image.format,
                        human_size(image.bytes.len() as u64)
                    ),
                    format!("`{}`", hex(image.entry)),
                )
            }
            None => ("not built: not checked".to_owned(), "—".to_owned()),
        };
        let console = match &partition.console {
            ConsoleSpec::Virtual => "virtual PL011".to_owned(),
            ConsoleSpec::Passthrough(path) => format!("pass-through `{path}`"),
        };
        row(
            out,
            &[
                &index.to_string(),
                &partition.name,
                partition.criticality.as_deref().unwrap_or("—"),
                &image,
                &entry,
                &policy,
                &console,
                &format!("`{}`", partition.bootargs.as_deref().unwrap_or("")),
            ],
        );
    }
}

fn trigger_text(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Level => "level",
        Trigger::Edge => "edge",
    }
}

/// Every physical interrupt with an owner, and the INTID the guest sees.
fn interrupt_map(out: &mut String, spec: &SystemSpec) {
    let board = spec.board();
    let _ = writeln!(out, "\n## Interrupt map\n");
    let _ = writeln!(
        out,
        "Forwarded interrupts are renumbered densely from guest INTID {} in each partition: devices (manifest order), extra interrupts, then doorbells.\n",
        crate::validate::layout::FIRST_FORWARDED_INTID
    );
    row(
        out,
        &[
            "Physical INTID",
            "Owner",
            "Guest INTID",
            "Trigger",
            "Source",
        ],
    );
    row(out, &["---:", "---", "---:", "---", "---"]);
    let mut rows: Vec<(u32, String, String, String, String)> = Vec::new();
    if let Some(timer) = board.timer_interrupts {
        rows.push((
            timer.virtual_timer,
            "hypervisor → running vCPU".to_owned(),
            timer.virtual_timer.to_string(),
            "level".to_owned(),
            "virtual timer (PPI)".to_owned(),
        ));
        rows.push((
            timer.hypervisor_physical,
            "hypervisor".to_owned(),
            "—".to_owned(),
            "level".to_owned(),
            "EL2 physical timer (PPI)".to_owned(),
        ));
    }
    if let Some(maintenance) = board.maintenance_intid {
        rows.push((
            maintenance,
            "hypervisor".to_owned(),
            "—".to_owned(),
            "level".to_owned(),
            "GIC maintenance (PPI)".to_owned(),
        ));
    }
    rows.push((
        board.console.uart.intid,
        "hypervisor".to_owned(),
        "—".to_owned(),
        "level".to_owned(),
        format!("console UART `{}`", board.console.path),
    ));
    if let Some(log) = &board.log {
        rows.push((
            log.uart.intid,
            "hypervisor".to_owned(),
            "—".to_owned(),
            "level".to_owned(),
            format!("log UART `{}`", log.path),
        ));
    }
    for partition in spec.partitions() {
        for interrupt in &partition.interrupts {
            let source = match &interrupt.source {
                InterruptSource::Device(path) => format!("`{path}`"),
                InterruptSource::Extra => "extra interrupt".to_owned(),
            };
            rows.push((
                interrupt.physical,
                partition.name.clone(),
                interrupt.guest.to_string(),
                trigger_text(interrupt.trigger).to_owned(),
                source,
            ));
        }
    }
    rows.sort();
    for (physical, owner, guest, trigger, source) in rows {
        row(
            out,
            &[&physical.to_string(), &owner, &guest, &trigger, &source],
        );
    }
    let doorbells: Vec<String> = spec
        .partitions()
        .iter()
        .flat_map(|partition| {
            partition.endpoints.iter().filter_map(move |endpoint| {
                let doorbell = endpoint.doorbell?;
                let channel = spec.channels().get(endpoint.channel)?;
                Some(format!(
                    "`{}` INTID {} (channel `{}`)",
                    partition.name, doorbell.intid, channel.name
                ))
            })
        })
        .collect();
    if !doorbells.is_empty() {
        let _ = writeln!(
            out,
            "\nVirtual-only doorbell interrupts (edge): {}.",
            doorbells.join(", ")
        );
    }
}

/// Which partition owns each pass-through device, and what the copy into its tree dropped.
fn device_table(out: &mut String, spec: &SystemSpec, partitions: &[ReportPartition<'_>]) {
    let _ = writeln!(out, "\n## Device assignment\n");
    let any = partitions
        .iter()
        .any(|input| !input.spec.devices.is_empty());
    if !any {
        let _ = writeln!(out, "No device is passed through.");
        return;
    }
    row(
        out,
        &[
            "Device",
            "Partition",
            "MMIO (identity-mapped)",
            "Interrupts (physical → guest)",
            "DMA",
            "Dropped from the guest node",
        ],
    );
    row(out, &["---", "---", "---", "---", "---", "---"]);
    for input in partitions {
        let partition = input.spec;
        for device in &partition.devices {
            let mmio: Vec<String> = device.info.pages.iter().map(|page| span(*page)).collect();
            let interrupts: Vec<String> = device
                .info
                .interrupts
                .iter()
                .filter_map(|interrupt| {
                    let guest = partition
                        .interrupts
                        .iter()
                        .find(|assigned| assigned.physical == interrupt.intid)?;
                    Some(format!("{} → {}", interrupt.intid, guest.guest))
                })
                .collect();
            let dma = match &device.info.dma {
                Some(reason) => format!(
                    "**yes, not isolated** ({reason}; policy: {})",
                    match spec.dma_policy() {
                        crate::manifest::DmaPolicy::Warn => "warn",
                        crate::manifest::DmaPolicy::Error => "error",
                    }
                ),
                None => "no".to_owned(),
            };
            let dropped = input
                .tree
                .dropped
                .iter()
                .find(|(path, _)| *path == device.info.path)
                .map_or_else(|| "—".to_owned(), |(_, names)| names.join(", "));
            row(
                out,
                &[
                    &format!("`{}`", device.info.path),
                    &partition.name,
                    &mmio.join(", "),
                    &if interrupts.is_empty() {
                        "—".to_owned()
                    } else {
                        interrupts.join(", ")
                    },
                    &dma,
                    &dropped,
                ],
            );
        }
    }
}

fn channel_table(out: &mut String, spec: &SystemSpec) {
    let _ = writeln!(out, "\n## Channels\n");
    if spec.channels().is_empty() {
        let _ = writeln!(out, "No channel: partitions share no memory.");
        return;
    }
    row(
        out,
        &[
            "Channel",
            "Host-physical",
            "Size",
            "Endpoints (access @ IPA, doorbell INTID)",
        ],
    );
    row(out, &["---", "---", "---:", "---"]);
    for (index, channel) in spec.channels().iter().enumerate() {
        let ends: Vec<String> = channel
            .endpoints
            .iter()
            .filter_map(|(partition_index, access)| {
                let partition = spec.partitions().get(*partition_index)?;
                let endpoint = partition
                    .endpoints
                    .iter()
                    .find(|endpoint| endpoint.channel == index)?;
                Some(format!(
                    "{} {} @ `{}`{}",
                    partition.name,
                    access_text(*access),
                    hex(endpoint.ipa),
                    endpoint
                        .doorbell
                        .map_or_else(String::new, |doorbell| format!(
                            ", doorbell {}",
                            doorbell.intid
                        ))
                ))
            })
            .collect();
        row(
            out,
            &[
                &format!("`{}`", channel.name),
                &span(channel.memory),
                &human_size(channel.memory.size()),
                &ends.join("; "),
            ],
        );
    }
}

fn colour_table(out: &mut String, spec: &SystemSpec) {
    let coloured: Vec<&PartitionSpec> = spec
        .partitions()
        .iter()
        .filter(|partition| !partition.cache_colours.is_empty())
        .collect();
    if coloured.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Cache colours\n");
    let _ = writeln!(
        out,
        "**Not enforced:** the hypervisor does not implement cache colouring yet. The colours below are validated (in range, not shared) and recorded in the generated tables, but every partition's RAM is one contiguous range and all partitions share the last-level cache.\n"
    );
    if let Some(colours) = &spec.board().cache_colours {
        let _ = writeln!(
            out,
            "Board colours: {} ({}).\n",
            colours.count, colours.source
        );
    }
    row(out, &["Partition", "Colours"]);
    row(out, &["---", "---"]);
    for partition in coloured {
        let colours: Vec<String> = partition
            .cache_colours
            .iter()
            .map(ToString::to_string)
            .collect();
        row(out, &[&partition.name, &colours.join(", ")]);
    }
}

/// The devices the hypervisor itself drives.
fn hypervisor_devices(out: &mut String, spec: &SystemSpec) {
    let board = spec.board();
    let _ = writeln!(out, "\n## Hypervisor devices\n");
    row(out, &["Device", "Base", "INTID", "Device tree node"]);
    row(out, &["---", "---", "---:", "---"]);
    match board.gic {
        Gic::V3 {
            distributor,
            redistributors,
            ..
        } => {
            row(
                out,
                &[
                    "GICv3 distributor",
                    &format!("`{}`", hex(distributor.raw())),
                    "—",
                    "—",
                ],
            );
            row(
                out,
                &[
                    "GICv3 redistributors",
                    &format!("`{}`", hex(redistributors.raw())),
                    "—",
                    "—",
                ],
            );
        }
        Gic::V2 {
            distributor,
            cpu_interface,
            hypervisor_interface,
            virtual_cpu_interface,
        } => {
            for (name, base) in [
                ("GICv2 distributor", distributor),
                ("GICv2 CPU interface", cpu_interface),
                ("GICv2 hypervisor interface", hypervisor_interface),
                ("GICv2 virtual CPU interface", virtual_cpu_interface),
            ] {
                row(out, &[name, &format!("`{}`", hex(base.raw())), "—", "—"]);
            }
        }
    }
    let uarts = std::iter::once(("console UART", &board.console))
        .chain(board.log.iter().map(|log| ("defmt log UART", log)));
    for (role, uart) in uarts {
        let kind = match uart.uart.kind {
            UartKind::Pl011 => "PL011",
            UartKind::Cadence => "Cadence",
            UartKind::Bcm2835Aux => "BCM2835 mini UART",
            UartKind::Ns16550 => "NS16550",
        };
        row(
            out,
            &[
                &format!("{role} ({kind})"),
                &format!("`{}`", hex(uart.uart.base.raw())),
                &uart.uart.intid.to_string(),
                &format!("`{}`", uart.path),
            ],
        );
    }
    let secondary = match board.secondary_boot {
        SecondaryBoot::PsciSmc => "PSCI CPU_ON via SMC",
        SecondaryBoot::PsciHvc => "PSCI CPU_ON via HVC",
        SecondaryBoot::AllCoresEnter => "all cores enter the image",
        SecondaryBoot::SpinTable => "the spin table at each core's cpu-release-addr",
    };
    let _ = writeln!(out, "\nSecondary cores start by: {secondary}.");
    if matches!(board.gic, Gic::V2 { .. }) {
        let _ = writeln!(
            out,
            "\nThe board's GIC is a GICv2 (GIC-400); guests are described a virtual GICv3, whose CPU interface needs GICv3 hardware: the EL2 image does not drive this board yet."
        );
    }
}

// [utest->dsn~config-report~1]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ranges_are_the_gaps_between_used_ranges() {
        let range = |base, size| AddressRange::new(base, size).unwrap();
        let ram = [range(0x4000_0000, 0x1000_0000)];
        let used = [
            range(0x4600_0000, 0x100_0000),
            range(0x4000_0000, 0x200_0000),
        ];
        assert_eq!(
            free_ranges(&ram, &used),
            vec![
                range(0x4200_0000, 0x400_0000),
                range(0x4700_0000, 0x900_0000)
            ]
        );
    }
}
