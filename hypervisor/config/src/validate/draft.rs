//! *Resolve*: turns written values into numbers, paths and device facts, reporting only
//! what cannot be read at all (a size that is not a byte count, a file that does not exist).
//! Whether the values make a sound system is for the checks.
//!
//! Design: [impl->dsn~config-checks~1]

use std::ops::Range;
use std::path::{Path, PathBuf};

use bulkhead_core::layout::RAM_BASE;
use bulkhead_core::system::{Access, Trigger};
use serde_spanned::Spanned;

use crate::board::Board;
use crate::devices::{self, DeviceError, DeviceInfo};
use crate::diagnostic::{Code, Diagnostic, Diagnostics, Source};
use crate::manifest::{
    AccessValue, ChannelTable, ConsoleValue, ImageTable, Manifest, PartitionTable, RegionTable,
    TriggerValue,
};
use crate::spec::{EndpointSpec, ImageSource, InterruptAssignment};
use crate::input_file::{self, InputFileError};
use crate::units::{AddressRange, SizeError, SizeValue, hex, human_size};

/// Why a device reference gave no device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DeviceProblem {
    /// No node by that path, alias or label.
    NotFound,
    /// The node cannot be passed through.
    Unsupported(DeviceError),
}

/// One entry of `devices` (or the pass-through console).
#[derive(Clone, Debug)]
pub(crate) struct DeviceDraft {
    pub reference: String,
    pub span: Range<usize>,
    pub resolved: Result<DeviceInfo, DeviceProblem>,
}

/// One extra interrupt.
#[derive(Clone, Debug)]
pub(crate) struct ExtraInterrupt {
    pub intid: i64,
    pub trigger: Trigger,
    pub span: Range<usize>,
}

/// One `[[partition.region]]` while it is checked.
pub(crate) struct RegionDraft<'m> {
    pub table: &'m Spanned<RegionTable>,
    pub size: Option<u64>,
    pub base: Option<u64>,
    pub host: Option<AddressRange>,
    pub ipa: Option<u64>,
    pub fixed_ipa: bool,
    pub file: Option<(PathBuf, u64)>,
}

impl RegionDraft<'_> {
    pub fn name(&self) -> &str {
        self.table.get_ref().name.get_ref()
    }

    pub fn access(&self) -> Access {
        match self
            .table
            .get_ref()
            .access
            .as_ref()
            .map(|access| *access.get_ref())
        {
            Some(AccessValue::ReadOnly) => Access::ReadOnly,
            _ => Access::ReadWrite,
        }
    }

    pub fn base_span(&self) -> Range<usize> {
        let table = self.table.get_ref();
        table
            .base
            .as_ref()
            .map_or_else(|| table.name.span(), Spanned::span)
    }

    /// The host range when the manifest fixed its base.
    pub fn fixed_host(&self) -> Option<AddressRange> {
        self.base.and(self.host)
    }
}

/// What the layout step decided for a partition's guest-physical space and interrupts.
#[derive(Clone, Debug, Default)]
pub(crate) struct Layout {
    /// Forwarded interrupts with guest INTIDs.
    pub interrupts: Vec<InterruptAssignment>,
    /// Channel ends.
    pub endpoints: Vec<EndpointSpec>,
    /// Everything the partition sees, for the overlap and range checks.
    pub items: Vec<IpaItem>,
    /// Items that found no room below the end of the IPA space.
    pub unplaced: Vec<(String, Range<usize>)>,
    /// A guest INTID would exceed the architecture's range.
    pub intids_exhausted: Option<Range<usize>>,
}

/// One range of a partition's IPA space.
#[derive(Clone, Debug)]
pub(crate) struct IpaItem {
    pub range: AddressRange,
    pub what: String,
    /// Where to point a diagnostic; `None` for the fixed virtual devices.
    pub span: Option<Range<usize>>,
}

/// A partition while it is being checked: the written table plus what resolved so far.
pub(crate) struct Draft<'m> {
    pub table: &'m Spanned<PartitionTable>,
    pub size: Option<u64>,
    pub base: Option<u64>,
    pub ram: Option<AddressRange>,
    pub image: Option<ImageSource>,
    pub initrd: Option<(PathBuf, u64)>,
    pub regions: Vec<RegionDraft<'m>>,
    pub devices: Vec<DeviceDraft>,
    pub interrupts: Vec<ExtraInterrupt>,
    pub console_device: Option<usize>,
    pub colours: Vec<Spanned<u32>>,
    /// The span of `identity = true`, when the manifest asks for identity-mapped RAM.
    pub identity: Option<Range<usize>>,
    pub layout: Layout,
}

impl Draft<'_> {
    pub fn partition(&self) -> &PartitionTable {
        self.table.get_ref()
    }

    pub fn name(&self) -> &str {
        self.partition().name.get_ref()
    }

    pub fn base_span(&self) -> Range<usize> {
        let memory = &self.partition().memory;
        memory
            .get_ref()
            .base
            .as_ref()
            .map_or_else(|| memory.span(), Spanned::span)
    }

    pub fn size_span(&self) -> Range<usize> {
        self.partition().memory.get_ref().size.span()
    }

    /// The vCPU count: `vcpus`, or one per pinned core.
    pub fn vcpus(&self) -> usize {
        self.partition()
            .vcpus
            .as_ref()
            .map_or(self.partition().cpus.get_ref().len(), |vcpus| {
                *vcpus.get_ref()
            })
    }

    /// The RAM range when the manifest fixed its base (allocated ones are correct by
    /// construction, so range checks only report on what the user wrote).
    pub fn fixed_ram(&self) -> Option<AddressRange> {
        self.base.and(self.ram)
    }

    /// The devices that resolved.
    pub fn resolved_devices(&self) -> impl Iterator<Item = (&DeviceDraft, &DeviceInfo)> {
        self.devices
            .iter()
            .filter_map(|device| Some((device, device.resolved.as_ref().ok()?)))
    }
}

/// A channel while it is being checked.
pub(crate) struct ChannelDraft<'m> {
    pub table: &'m Spanned<ChannelTable>,
    pub size: Option<u64>,
    pub base: Option<u64>,
    pub memory: Option<AddressRange>,
    /// Known endpoints: partition index, access, span of the partition name.
    pub endpoints: Vec<(usize, Access, Range<usize>)>,
}

impl ChannelDraft<'_> {
    pub fn name(&self) -> &str {
        self.table.get_ref().name.get_ref()
    }

    pub fn doorbell(&self) -> bool {
        self.table
            .get_ref()
            .doorbell
            .as_ref()
            .is_some_and(|doorbell| *doorbell.get_ref())
    }

    pub fn base_span(&self) -> Range<usize> {
        let table = self.table.get_ref();
        table
            .base
            .as_ref()
            .map_or_else(|| table.name.span(), Spanned::span)
    }

    pub fn fixed_memory(&self) -> Option<AddressRange> {
        self.base.and(self.memory)
    }
}

/// Reads a byte count, reporting a value that is not one.
pub(crate) fn size_value(
    spanned: &Spanned<SizeValue>,
    what: &str,
    source: &Source,
    diagnostics: &mut Diagnostics,
) -> Option<u64> {
    match spanned.get_ref().bytes() {
        Ok(bytes) => Some(bytes),
        Err(error) => {
            let code = match error {
                SizeError::Overflow(_) => Code::SizeOverflow,
                _ => Code::SizeInvalid,
            };
            diagnostics.push(
                Diagnostic::error(code, format!("invalid {what}: {error}"))
                    .with_label(source, spanned.span(), "expected a byte count")
                    .with_help("write an integer, or a string such as \"64MiB\", \"2GiB\" or \"0x4800_0000\""),
            );
            None
        }
    }
}

/// `base + size` as a range, reporting overflow at `span`.
pub(crate) fn range_of(
    base: u64,
    size: u64,
    what: &str,
    span: Range<usize>,
    source: &Source,
    diagnostics: &mut Diagnostics,
) -> Option<AddressRange> {
    let range = AddressRange::new(base, size);
    if range.is_none() {
        diagnostics.push(
            Diagnostic::error(
                Code::SizeOverflow,
                format!("{what} {} + {} overflows 64 bits", hex(base), hex(size)),
            )
            .with_label(source, span, "base + size overflows")
            .with_help("choose a base and size whose end fits in 64 bits"),
        );
    }
    range
}

/// Reads the `size` and optional `base` of a `memory`, region or channel table, in that
/// order, reporting each as "`what` size" / "`what` base".
fn size_and_base(
    what: &str,
    size: &Spanned<SizeValue>,
    base: Option<&Spanned<SizeValue>>,
    source: &Source,
    diagnostics: &mut Diagnostics,
) -> (Option<u64>, Option<u64>) {
    let size = size_value(size, &format!("{what} size"), source, diagnostics);
    let base = base.and_then(|base| size_value(base, &format!("{what} base"), source, diagnostics));
    (size, base)
}

/// [`range_of`] when both `base` and `size` were read; `None` (nothing more to report) when
/// either was absent or invalid.
fn known_range(
    base: Option<u64>,
    size: Option<u64>,
    what: &str,
    span: Range<usize>,
    source: &Source,
    diagnostics: &mut Diagnostics,
) -> Option<AddressRange> {
    range_of(base?, size?, what, span, source, diagnostics)
}

/// The path and size of a file the manifest names, reporting one that cannot be used: it must
/// exist and be a regular file of bounded size ([`input_file`]), judged from its metadata
/// without opening it, so a FIFO cannot hang the compiler.
pub(crate) fn file_size(
    spanned: &Spanned<String>,
    what: &str,
    source: &Source,
    manifest_directory: &Path,
    diagnostics: &mut Diagnostics,
) -> Option<(PathBuf, u64)> {
    let path = manifest_directory.join(spanned.get_ref());
    match input_file::size(&path) {
        Ok(size) => Some((path, size)),
        Err(error) => {
            let (code, label) = match error {
                InputFileError::Unreadable(_) => (Code::Io, "cannot be read"),
                InputFileError::NotRegular(_) => (Code::InputFileInvalid, "not a regular file"),
                InputFileError::TooLarge(_) => (Code::InputFileInvalid, "too large"),
            };
            diagnostics.push(
                Diagnostic::error(code, format!("{what} {} {error}", path.display()))
                    .with_label(source, spanned.span(), label)
                    .with_help(format!(
                        "file paths are relative to the manifest's directory; images, initrds and region contents must be regular files of at most {}",
                        human_size(input_file::MAX_INPUT_FILE_SIZE)
                    )),
            );
            None
        }
    }
}

/// Resolves one `[[partition]]`.
pub(crate) fn resolve<'m>(
    table: &'m Spanned<PartitionTable>,
    board: &Board,
    source: &Source,
    manifest_directory: &Path,
    diagnostics: &mut Diagnostics,
) -> Draft<'m> {
    let partition = table.get_ref();
    let memory = partition.memory.get_ref();
    let (size, written_base) = size_and_base(
        "memory",
        &memory.size,
        memory.base.as_ref(),
        source,
        diagnostics,
    );
    let identity = memory
        .identity
        .as_ref()
        .filter(|identity| *identity.get_ref())
        .map(Spanned::span);
    // Identity-mapped RAM lies where every guest sees its RAM (IPA `RAM_BASE`): its physical
    // base is that address, unless the manifest wrote another one, which
    // `check_identity_ram_misplaced` reports.
    let base = match (written_base, &identity) {
        (None, Some(_)) => Some(RAM_BASE.raw()),
        (base, _) => base,
    };
    let ram = known_range(
        base,
        size,
        "memory",
        partition.memory.span(),
        source,
        diagnostics,
    );
    let image = resolve_image(&partition.image, source, manifest_directory, diagnostics);
    let initrd = partition
        .initrd
        .as_ref()
        .and_then(|file| file_size(file, "initrd", source, manifest_directory, diagnostics));
    let regions = partition
        .regions
        .iter()
        .map(|region| resolve_region(region, source, manifest_directory, diagnostics))
        .collect();
    let mut devices: Vec<DeviceDraft> = partition
        .devices
        .iter()
        .map(|reference| resolve_device(board, reference.get_ref(), reference.span()))
        .collect();
    let console_device = match partition
        .console
        .as_ref()
        .map(|console| (console.get_ref(), console.span()))
    {
        Some((ConsoleValue::Passthrough(reference), span)) => {
            let console = resolve_device(board, reference, span);
            let same =
                devices
                    .iter()
                    .position(|device| match (&device.resolved, &console.resolved) {
                        (Ok(listed), Ok(wanted)) => listed.path == wanted.path,
                        _ => false,
                    });
            Some(same.unwrap_or_else(|| {
                devices.push(console);
                devices.len() - 1
            }))
        }
        _ => None,
    };
    let interrupts = partition
        .interrupts
        .iter()
        .map(|interrupt| ExtraInterrupt {
            intid: interrupt.get_ref().intid,
            trigger: match interrupt.get_ref().trigger {
                TriggerValue::Level => Trigger::Level,
                TriggerValue::Edge => Trigger::Edge,
            },
            span: interrupt.span(),
        })
        .collect();
    let colours = memory
        .colours
        .as_ref()
        .map(|colours| colours.get_ref().clone())
        .unwrap_or_default();
    Draft {
        table,
        size,
        base,
        ram,
        image,
        initrd,
        regions,
        devices,
        interrupts,
        console_device,
        colours,
        identity,
        layout: Layout::default(),
    }
}

fn resolve_device(board: &Board, reference: &str, span: Range<usize>) -> DeviceDraft {
    let resolved = match board.tree.resolve(reference) {
        None => Err(DeviceProblem::NotFound),
        Some(node) => devices::describe(board, node).map_err(DeviceProblem::Unsupported),
    };
    DeviceDraft {
        reference: reference.to_owned(),
        span,
        resolved,
    }
}

fn resolve_region<'m>(
    table: &'m Spanned<RegionTable>,
    source: &Source,
    manifest_directory: &Path,
    diagnostics: &mut Diagnostics,
) -> RegionDraft<'m> {
    let region = table.get_ref();
    let (size, base) = size_and_base(
        "region",
        &region.size,
        region.base.as_ref(),
        source,
        diagnostics,
    );
    let ipa = region
        .ipa
        .as_ref()
        .and_then(|ipa| size_value(ipa, "region ipa", source, diagnostics));
    // A written `ipa` whose end overflows 64 bits is no range at all: reported here, at the
    // `ipa` key, because the layout step (which only sees ranges) cannot represent it.
    if let (Some(ipa), Some(size), Some(written)) = (ipa, size, region.ipa.as_ref()) {
        range_of(
            ipa,
            size,
            "region ipa",
            written.span(),
            source,
            diagnostics,
        );
    }
    let host = known_range(
        base,
        size,
        "region",
        region.name.span(),
        source,
        diagnostics,
    );
    let file = region.file.as_ref().and_then(|file| {
        file_size(
            file,
            "region contents",
            source,
            manifest_directory,
            diagnostics,
        )
    });
    RegionDraft {
        table,
        size,
        base,
        host,
        ipa,
        fixed_ipa: region.ipa.is_some(),
        file,
    }
}

fn resolve_image(
    image: &Spanned<ImageTable>,
    source: &Source,
    manifest_directory: &Path,
    diagnostics: &mut Diagnostics,
) -> Option<ImageSource> {
    let table = image.get_ref();
    match (&table.crate_name, &table.file) {
        (Some(crate_name), None) => Some(ImageSource::Crate(crate_name.get_ref().clone())),
        (None, Some(file)) => file_size(file, "image", source, manifest_directory, diagnostics)
            .map(|(path, _)| ImageSource::File(path)),
        (both_or_none, _) => {
            let label = if both_or_none.is_some() {
                "both `crate` and `file` given"
            } else {
                "neither `crate` nor `file` given"
            };
            diagnostics.push(
                Diagnostic::error(
                    Code::ImageSourceInvalid,
                    "`image` needs exactly one of `crate` or `file`",
                )
                .with_label(source, image.span(), label)
                .with_help(
                    "write image = { crate = \"heartbeat\" } or image = { file = \"guest.elf\" }",
                ),
            );
            None
        }
    }
}

/// Resolves one `[[channel]]`; endpoints naming no partition are left for the check.
pub(crate) fn resolve_channel<'m>(
    table: &'m Spanned<ChannelTable>,
    manifest: &Manifest,
    source: &Source,
    diagnostics: &mut Diagnostics,
) -> ChannelDraft<'m> {
    let channel = table.get_ref();
    let (size, base) = size_and_base(
        "channel",
        &channel.size,
        channel.base.as_ref(),
        source,
        diagnostics,
    );
    let memory = known_range(
        base,
        size,
        "channel",
        channel.name.span(),
        source,
        diagnostics,
    );
    let mut endpoints: Vec<(usize, Access, Range<usize>)> = channel
        .access
        .get_ref()
        .iter()
        .filter_map(|(name, access)| {
            let index = manifest
                .partitions
                .iter()
                .position(|partition| partition.get_ref().name.get_ref() == name.get_ref())?;
            let access = match access.get_ref() {
                AccessValue::ReadWrite => Access::ReadWrite,
                AccessValue::ReadOnly => Access::ReadOnly,
            };
            Some((index, access, name.span()))
        })
        .collect();
    endpoints.sort_by_key(|(index, _, _)| *index);
    // Two partitions sharing a name are a separate error; keep one end each.
    endpoints.dedup_by_key(|(index, _, _)| *index);
    ChannelDraft {
        table,
        size,
        base,
        memory,
        endpoints,
    }
}
