//! Errors and warnings with stable codes, each pointing at the input span that caused it.
//!
//! A configuration mistake in a partitioned system is a safety problem, so every message names
//! the check that fired (a stable `BHnnnn` code and a kebab-case name that tests, scripts and
//! documents can refer to), shows the offending value in its file, says what was expected and
//! how to fix it. Checks do not stop at the first error: [`Diagnostics`] collects them all, and
//! warnings are kept apart from errors so a build can succeed while still reporting them.
//!
//! Design: [impl->dsn~config-checks~1]

use std::borrow::Cow;
use std::fmt;
use std::io::IsTerminal;
use std::ops::Range;
use std::sync::Arc;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};

/// A file's text, shared by every diagnostic that points into it.
pub type Source = Arc<SourceFile>;

/// Wraps a file's text for diagnostics; `name` is what the report prints (a path).
pub fn source(name: impl AsRef<str>, text: String) -> Source {
    Arc::new(SourceFile::new(name.as_ref().to_owned(), text))
}

/// One input file as diagnostics see it: its name, its text, and the byte offset of every
/// line start, computed once.
///
/// A manifest is untrusted input: with thousands of partitions and as many diagnostics,
/// finding a span's line by scanning the text from the start (what miette does for a plain
/// `String`) makes reporting quadratic. Every lookup here is a binary search in the line
/// index, and miette is only ever handed the few lines around a span. The text miette draws
/// has its control characters replaced by `?` (same byte length, so spans stay valid), so a
/// hostile file cannot drive the user's terminal through the source excerpt either.
#[derive(Debug)]
pub struct SourceFile {
    name: String,
    text: String,
    /// What miette draws: `text` with control characters replaced, when it has any.
    display: Option<String>,
    /// Byte offset of the start of each line; `line_starts[0] == 0`.
    line_starts: Vec<usize>,
}

impl SourceFile {
    fn new(name: String, text: String) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(index, _)| index + 1))
            .collect();
        let display = text
            .chars()
            .any(is_hostile_in_source)
            .then(|| neutralise_source(&text));
        Self {
            name,
            text,
            display,
            line_starts,
        }
    }

    /// The name the report prints.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file's text as read.
    pub fn inner(&self) -> &str {
        &self.text
    }

    /// 0-based line holding byte `offset` (the last line for offsets past the end).
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts
            .partition_point(|start| *start <= offset)
            .saturating_sub(1)
    }

    /// 1-based line and column (in characters) of byte `offset`.
    pub fn location(&self, offset: usize) -> Option<(usize, usize)> {
        let line = self.line_of(offset);
        let start = *self.line_starts.get(line)?;
        let column = self.text.get(start..offset)?.chars().count();
        Some((line + 1, column + 1))
    }
}

impl SourceCode for SourceFile {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let text = self.display.as_deref().unwrap_or(&self.text);
        let start = span.offset();
        let end = start.saturating_add(span.len());
        if end > text.len() {
            return Err(MietteError::OutOfBounds);
        }
        // Cut out the lines miette can look at (the span's, the context, one spare), let
        // miette's own `str` reader work on that window, and move its answer back.
        let first = self.line_of(start).saturating_sub(context_lines_before);
        let last = self
            .line_of(end.saturating_sub(1).max(start))
            .saturating_add(context_lines_after)
            .saturating_add(2);
        let window_start = self.line_starts[first];
        let window_end = self.line_starts.get(last).copied().unwrap_or(text.len());
        let window = &text[window_start..window_end];
        let relative = SourceSpan::new((start - window_start).into(), span.len());
        let contents = window.read_span(&relative, context_lines_before, context_lines_after)?;
        let data: &'a [u8] = &text.as_bytes()
            [window_start + contents.span().offset()..][..contents.span().len()];
        Ok(Box::new(
            MietteSpanContents::new_named(
                self.name.clone(),
                data,
                SourceSpan::new(
                    (window_start + contents.span().offset()).into(),
                    contents.span().len(),
                ),
                first + contents.line(),
                contents.column(),
                first + contents.line_count(),
            )
            .with_language("TOML"),
        ))
    }
}

/// Whether `c` must not reach a terminal from a source excerpt: every control character but
/// the line structure (`\n`, `\r`) and tab.
fn is_hostile_in_source(c: char) -> bool {
    c.is_control() && !matches!(c, '\n' | '\r' | '\t')
}

/// `text` with each hostile character replaced by as many `?` as it has bytes, so every byte
/// offset (and so every span) still means the same place.
fn neutralise_source(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_hostile_in_source(c) {
            out.extend(std::iter::repeat_n('?', c.len_utf8()));
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` with control characters written as escapes (`\u{1b}`), for everything a
/// diagnostic prints that may quote the input: messages, labels and hints name partitions,
/// paths and values taken from an untrusted manifest, and an escape sequence in a name must
/// not clear or rewrite the user's terminal. `keep_newlines` leaves `\n` (and tab) alone for
/// texts that are legitimately several lines (a tool's error output); labels are one line.
pub fn escape_control(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let kept = |c: char| !c.is_control() || (keep_newlines && matches!(c, '\n' | '\t'));
    if text.chars().all(kept) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if kept(c) {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    Cow::Owned(out)
}

/// How many errors (and, separately, warnings) [`Diagnostics::render`] draws; the rest are
/// counted in one closing line. A hostile manifest can produce thousands of identical errors,
/// and tens of megabytes of them help nobody.
pub const MAX_RENDERED: usize = 20;

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = ($id:literal, $name:literal), )*) => {
        /// The check or failure a diagnostic comes from. Codes are stable: never renumber one,
        /// retire it instead.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
        }

        impl Code {
            /// Every code, in numeric order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The stable identifier, e.g. `BH0101`.
            pub const fn id(self) -> &'static str {
                match self { $(Code::$variant => $id,)* }
            }

            /// The check's kebab-case name, e.g. `memory-overlap`.
            pub const fn name(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }
        }
    };
}

codes! {
    /// A file (manifest, board.toml, DTS, guest image) could not be read or written.
    Io = ("BH0001", "io-error"),
    /// The manifest is not valid TOML or does not match the schema (unknown key, wrong type).
    ManifestInvalid = ("BH0002", "manifest-invalid"),
    /// A size or address is not a byte count.
    SizeInvalid = ("BH0003", "size-invalid"),
    /// The manifest's `image` names neither or both of `crate` and `file`.
    ImageSourceInvalid = ("BH0004", "image-source-invalid"),
    /// `fault_policy = { restart = N }` with N outside 1..=4294967295.
    RestartLimitInvalid = ("BH0005", "restart-limit-invalid"),
    /// A key the manifest language does not have (with a "did you mean" hint).
    UnknownKey = ("BH0007", "unknown-key"),
    /// `[[gpu]]`/partition `gpu` keys: reserved for the 3D GPU mediator, not supported yet.
    ReservedForGpuMediator = ("BH0008", "reserved-for-gpu-mediator"),
    /// An image, initrd or region file that is not a regular file (a FIFO, a device, a
    /// directory) or is larger than [`crate::input_file::MAX_INPUT_FILE_SIZE`].
    InputFileInvalid = ("BH0009", "input-file-invalid"),
    /// `bootargs` the guest device tree cannot carry (a NUL character) or longer than
    /// [`crate::validate::MAX_BOOTARGS_LENGTH`].
    BootargsInvalid = ("BH0010", "bootargs-invalid"),
    /// Partition memory overlaps another partition's.
    MemoryOverlap = ("BH0101", "memory-overlap"),
    /// Partition memory overlaps the hypervisor's reservation.
    MemoryOverlapsHypervisor = ("BH0102", "memory-overlaps-hypervisor"),
    /// Partition memory is not inside one RAM range of the board.
    MemoryOutsideRam = ("BH0103", "memory-outside-ram"),
    /// A given memory base is not 2 MiB aligned.
    MemoryBaseMisaligned = ("BH0104", "memory-base-misaligned"),
    /// A memory size is not a multiple of the 4 KiB granule.
    MemorySizeNotGranule = ("BH0105", "memory-size-not-granule"),
    /// A memory size is not a multiple of 2 MiB (warning: the tail is mapped with pages).
    MemorySizeNotBlock = ("BH0106", "memory-size-not-block"),
    /// No free RAM is left to place a partition without a base.
    MemoryExhausted = ("BH0107", "memory-exhausted"),
    /// Address arithmetic on a partition's memory overflows 64 bits.
    SizeOverflow = ("BH0108", "size-overflow"),
    /// Partition memory leaves no room below the device tree slot.
    MemoryTooSmall = ("BH0109", "memory-too-small"),
    /// Memory (partition, region or channel) overlaps a device's registers.
    MemoryOverlapsDevice = ("BH0110", "memory-overlaps-device"),
    /// Memory overlaps RAM the device tree reserves (`/memreserve/`, `/reserved-memory`).
    MemoryOverlapsReserved = ("BH0111", "memory-overlaps-reserved"),
    /// Two things a partition sees overlap in its guest-physical (IPA) space.
    IpaOverlap = ("BH0112", "ipa-overlap"),
    /// Something a partition sees lies beyond the stage-2 input address space.
    IpaOutOfRange = ("BH0113", "ipa-out-of-range"),
    /// A region's initial contents file is larger than the region.
    RegionContentsTooLarge = ("BH0114", "region-contents-too-large"),
    /// `memory = { identity = true }` with a `base` other than the guest RAM address.
    IdentityRamMisplaced = ("BH0115", "identity-ram-misplaced"),
    /// A physical core is pinned to more than one vCPU.
    CorePinnedTwice = ("BH0201", "core-pinned-twice"),
    /// A pinned core does not exist in the board's device tree.
    CoreNotPresent = ("BH0202", "core-not-present"),
    /// A partition has no vCPU.
    CpusEmpty = ("BH0203", "cpus-empty"),
    /// A partition has more vCPUs than the virtual redistributor window holds.
    TooManyVcpus = ("BH0204", "too-many-vcpus"),
    /// `vcpus` is larger than the number of pinned cores.
    VcpusExceedCores = ("BH0205", "vcpus-exceed-cores"),
    /// A pinned core runs no vCPU (`vcpus` smaller than `cpus`): it idles (warning).
    CoreWithoutVcpu = ("BH0206", "core-without-vcpu"),
    /// Two partitions share a name.
    DuplicatePartitionName = ("BH0301", "duplicate-partition-name"),
    /// The manifest declares no partition.
    NoPartitions = ("BH0302", "no-partitions"),
    /// A partition name is not usable as a console prefix and file name.
    PartitionNameInvalid = ("BH0303", "partition-name-invalid"),
    /// A partition's guest crate was not built (xtask passed no image for it).
    GuestImageMissing = ("BH0304", "guest-image-missing"),
    /// Two channels share a name.
    DuplicateChannelName = ("BH0305", "duplicate-channel-name"),
    /// Two regions of one partition share a name.
    DuplicateRegionName = ("BH0306", "duplicate-region-name"),
    /// A channel or region name is not usable as a device tree string and report key.
    NameInvalid = ("BH0307", "name-invalid"),
    /// A partition name the hypervisor or its output directory already uses (`hv`, `hv-log`).
    PartitionNameReserved = ("BH0308", "partition-name-reserved"),
    /// `image = { crate = ... }` names no crate of the guest workspace (`partitions/`).
    GuestCrateUnknown = ("BH0309", "guest-crate-unknown"),
    /// The guest image is neither an ELF nor an arm64 `Image`, or is malformed.
    ImageFormat = ("BH0401", "image-format"),
    /// The ELF is not for AArch64.
    ElfNotAarch64 = ("BH0402", "elf-not-aarch64"),
    /// The ELF is not an executable.
    ElfNotExecutable = ("BH0403", "elf-not-executable"),
    /// Part of the image, or its entry point, lies outside the partition's RAM window.
    ImageOutsideRam = ("BH0404", "image-outside-ram"),
    /// The image (with its zeroed tail) runs into the device tree slot.
    ImageTooLarge = ("BH0405", "image-too-large"),
    /// The initial RAM disk does not fit between the image and the device tree slot.
    InitrdTooLarge = ("BH0406", "initrd-too-large"),
    /// The guest blobs the EL2 image embeds (images, device trees, initrds, region contents)
    /// plus its stage-2 tables and own footprint exceed the hypervisor's RAM reservation.
    HypervisorImageTooLarge = ("BH0407", "hypervisor-image-too-large"),
    /// The board named in the manifest has no directory under `board-configs/`.
    BoardUnknown = ("BH0501", "board-unknown"),
    /// `board.toml` is not valid TOML, does not match the schema, or contradicts itself.
    BoardInvalid = ("BH0502", "board-invalid"),
    /// `dtc` (device-tree-compiler) is not installed.
    DtcMissing = ("BH0503", "dtc-missing"),
    /// `dtc` rejected the board's DTS.
    DtcFailed = ("BH0504", "dtc-failed"),
    /// The board's device tree lacks something the hypervisor needs (GIC, cores, RAM, ...).
    DeviceTreeInvalid = ("BH0505", "device-tree-invalid"),
    /// The console or log UART named in `board.toml` is not a supported UART in the tree.
    UartInvalid = ("BH0506", "uart-invalid"),
    /// The hypervisor reservation is misaligned or not inside board RAM.
    HypervisorReservationInvalid = ("BH0507", "hypervisor-reservation-invalid"),
    /// `[qemu] smp` differs from the number of cores in the device tree (warning).
    QemuCoreCountMismatch = ("BH0508", "qemu-core-count-mismatch"),
    /// A Debian-packaged device tree blob could not be fetched or verified.
    DtbFetchFailed = ("BH0509", "dtb-fetch-failed"),
    /// The board's interrupt controller or console/log UART has no EL2 driver yet: `build`
    /// refuses it (error), `check` says so (warning).
    NoEl2Driver = ("BH0510", "no-el2-driver"),
    /// `board.toml`'s `[entropy]` names a node that is missing, of another kind, without
    /// registers, or a virtio-rng on a machine other than QEMU `virt`.
    EntropySourceInvalid = ("BH0511", "entropy-source-invalid"),
    /// A generated guest device tree could not be built.
    GuestDeviceTreeFailed = ("BH0601", "guest-device-tree-failed"),
    /// A device named in `devices` (or a pass-through console) is not in the device tree.
    DeviceNotFound = ("BH0701", "device-not-found"),
    /// A device is passed through twice (to two partitions, or twice to one).
    DeviceAssignedTwice = ("BH0702", "device-assigned-twice"),
    /// A device the hypervisor owns (GIC, its UARTs, an IOMMU) is passed through.
    DeviceOwnedByHypervisor = ("BH0703", "device-owned-by-hypervisor"),
    /// A device's registers share a 4 KiB page with another device not given to the same
    /// partition.
    DevicePageShared = ("BH0704", "device-page-shared"),
    /// A node that cannot be passed through (no resources, not memory-mapped, PCI routing).
    DeviceUnsupported = ("BH0705", "device-unsupported"),
    /// A device's interrupts cannot be forwarded (another controller, a private interrupt).
    DeviceInterruptUnsupported = ("BH0706", "device-interrupt-unsupported"),
    /// A DMA-capable device without IOMMU isolation (warning, or error by policy).
    DmaWithoutIommu = ("BH0707", "dma-without-iommu"),
    /// A device whose node is disabled in the board tree is passed through (warning).
    DeviceDisabled = ("BH0708", "device-disabled"),
    /// A pass-through console is not a UART.
    ConsoleNotUart = ("BH0709", "console-not-uart"),
    /// A DMA-capable device in a partition whose RAM is not identity-mapped: the addresses
    /// its driver programs are guest-physical, not the RAM's physical ones (warning).
    DmaWithoutIdentityRam = ("BH0710", "dma-without-identity-ram"),
    /// A physical interrupt is given to two partitions (or twice to one).
    InterruptAssignedTwice = ("BH0801", "interrupt-assigned-twice"),
    /// A physical interrupt the hypervisor keeps (SGI/PPI, its UARTs) is assigned.
    InterruptReserved = ("BH0802", "interrupt-reserved"),
    /// An INTID outside 0..=1019.
    InterruptInvalid = ("BH0803", "interrupt-invalid"),
    /// A partition needs more virtual INTIDs than the GIC architecture has.
    GuestInterruptsExhausted = ("BH0804", "guest-interrupts-exhausted"),
    /// A channel names a partition that does not exist.
    ChannelUnknownPartition = ("BH0901", "channel-unknown-partition"),
    /// A channel's memory overlaps other memory.
    ChannelMemoryOverlap = ("BH0902", "channel-memory-overlap"),
    /// A channel with fewer than two endpoints or without a writer.
    ChannelEndpointsInvalid = ("BH0903", "channel-endpoints-invalid"),
    /// Cache colours requested on a board whose colour count is unknown.
    CacheColoursUnknown = ("BH1001", "cache-colours-unknown"),
    /// A cache colour outside the board's range, or listed twice.
    CacheColourInvalid = ("BH1002", "cache-colour-invalid"),
    /// Two partitions request the same cache colour.
    CacheColourShared = ("BH1003", "cache-colour-shared"),
    /// Cache colours are validated but not enforced by the hypervisor yet (warning).
    CacheColouringNotEnforced = ("BH1004", "cache-colouring-not-enforced"),
    /// `[display]` itself is unusable: unknown backend or one the board lacks, a resolution
    /// or frame period out of range, a compose core that does not exist or runs a
    /// non-critical partition.
    DisplayInvalid = ("BH1101", "display-invalid"),
    /// A layer that cannot be composed: unknown partition, a second layer for one partition,
    /// zero or oversized framebuffer, stride too small, destination larger than the
    /// framebuffer, more layers than the mediator holds, a critical layer without a freeze
    /// threshold.
    DisplayLayerInvalid = ("BH1102", "display-layer-invalid"),
    /// A framebuffer format the compositor does not convert.
    DisplayFormatUnsupported = ("BH1103", "display-format-unsupported"),
    /// A destination rectangle not entirely on the screen.
    DisplayRectangleOffScreen = ("BH1104", "display-rectangle-off-screen"),
    /// A layer's destination overlaps a critical layer's.
    DisplayCriticalOverlap = ("BH1105", "display-critical-overlap"),
    /// A framebuffer not entirely inside its partition's own RAM or regions.
    DisplayBufferOutsidePartition = ("BH1106", "display-buffer-outside-partition"),
    /// A framebuffer in memory another partition can reach (a channel).
    DisplayBufferShared = ("BH1107", "display-buffer-shared"),
    /// Composing the whole screen costs more than one frame's budget.
    DisplayOverBudget = ("BH1108", "display-over-budget"),
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id(), self.name())
    }
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The system is not built.
    Error,
    /// The system is built; the user should still look.
    Warning,
}

#[derive(Clone, Debug)]
struct Label {
    span: Range<usize>,
    text: String,
}

/// One error or warning.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    code: Code,
    severity: Severity,
    message: String,
    source: Option<Source>,
    labels: Vec<Label>,
    help: Option<String>,
}

impl Diagnostic {
    /// A new error.
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Error, message)
    }

    /// A new warning.
    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Warning, message)
    }

    fn new(code: Code, severity: Severity, message: impl Into<String>) -> Self {
        Self {
            code,
            severity,
            message: message.into(),
            source: None,
            labels: Vec::new(),
            help: None,
        }
    }

    /// Points the diagnostic at `span` of `source`; the first label is the primary one.
    /// Labels after the first must point into the same source.
    pub fn with_label(
        mut self,
        source: &Source,
        span: Range<usize>,
        text: impl Into<String>,
    ) -> Self {
        if self.source.is_none() {
            self.source = Some(Arc::clone(source));
        }
        self.labels.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    /// Adds a hint on how to fix it.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The check that fired.
    pub fn code(&self) -> Code {
        self.code
    }

    /// Error or warning.
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// The one-line message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The fix hint, if any.
    pub fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }

    /// The name of the file the diagnostic points into, if it points anywhere.
    pub fn file_name(&self) -> Option<&str> {
        self.source.as_ref().map(|source| source.name())
    }

    /// 1-based line and column of the primary label's start.
    pub fn location(&self) -> Option<(usize, usize)> {
        let source = self.source.as_ref()?;
        source.location(self.labels.first()?.span.start)
    }

    /// 1-based line of the primary label's start.
    pub fn line(&self) -> Option<usize> {
        self.location().map(|(line, _)| line)
    }

    /// The source text under the primary label.
    pub fn snippet(&self) -> Option<&str> {
        let source = self.source.as_ref()?;
        source.inner().get(self.labels.first()?.span.clone())
    }
}

/// The message with control characters escaped ([`escape_control`]): this is what the
/// renderer prints.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape_control(&self.message, true))
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|help| Box::new(escape_control(help, true)) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source
            .as_ref()
            .map(|source| &**source as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().enumerate().map(
            |(index, label)| {
                let text = Some(escape_control(&label.text, false).into_owned());
                if index == 0 {
                    LabeledSpan::new_primary_with_span(text, label.span.clone())
                } else {
                    LabeledSpan::new_with_span(text, label.span.clone())
                }
            },
        )))
    }
}

/// Every diagnostic of one run, errors and warnings, in the order they were found.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// No diagnostics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    /// Adds all of `other`.
    pub fn append(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.items
            .iter()
            .any(|item| item.severity == Severity::Error)
    }

    /// Whether there is no diagnostic at all.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many diagnostics.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// All diagnostics in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }

    /// Only the errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items
            .iter()
            .filter(|item| item.severity == Severity::Error)
    }

    /// Only the warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items
            .iter()
            .filter(|item| item.severity == Severity::Warning)
    }

    /// `Ok(value)` when there is no error, else `Err(self)` (warnings travel with the errors).
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.has_errors() {
            Err(self)
        } else {
            Ok(value)
        }
    }

    /// The report as miette draws it: file, line, column, the source lines with the offending
    /// value underlined, and the hint. `color` adds ANSI colours. At most [`MAX_RENDERED`]
    /// errors and [`MAX_RENDERED`] warnings are drawn, in the order they were found; a line
    /// counts the ones left out, and the last line totals everything.
    pub fn render(&self, color: bool) -> String {
        self.render_at_most(color, MAX_RENDERED)
    }

    /// [`Diagnostics::render`] drawing at most `limit` errors and `limit` warnings.
    pub fn render_at_most(&self, color: bool, limit: usize) -> String {
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
        let mut out = String::new();
        let (mut errors, mut warnings) = (0usize, 0usize);
        for item in &self.items {
            let drawn = match item.severity {
                Severity::Error => &mut errors,
                Severity::Warning => &mut warnings,
            };
            *drawn += 1;
            if *drawn > limit {
                continue;
            }
            if handler.render_report(&mut out, item).is_err() {
                out.push_str(&format!("{}: {item}\n", item.code));
            }
        }
        let mut left_out = Vec::new();
        if errors > limit {
            left_out.push(format!("{} more error(s)", errors - limit));
        }
        if warnings > limit {
            left_out.push(format!("{} more warning(s)", warnings - limit));
        }
        if !left_out.is_empty() {
            out.push_str(&format!(
                "... and {} not shown (the first {limit} of each are above)\n",
                left_out.join(" and ")
            ));
        }
        out.push_str(&format!("{errors} error(s), {warnings} warning(s)\n"));
        out
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(diagnostic: Diagnostic) -> Self {
        Self {
            items: vec![diagnostic],
        }
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl Extend<Diagnostic> for Diagnostics {
    fn extend<I: IntoIterator<Item = Diagnostic>>(&mut self, iter: I) {
        self.items.extend(iter);
    }
}

/// `{}` colours the report when standard error is a terminal and `NO_COLOR` is unset;
/// `{:#}` never colours.
impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let color = !f.alternate()
            && std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none();
        f.write_str(&self.render(color))
    }
}

impl std::error::Error for Diagnostics {}

// [utest->dsn~config-checks~1]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut ids: Vec<&str> = Code::ALL.iter().map(|code| code.id()).collect();
        let mut names: Vec<&str> = Code::ALL.iter().map(|code| code.name()).collect();
        ids.sort_unstable();
        names.sort_unstable();
        ids.dedup();
        names.dedup();
        assert_eq!(ids.len(), Code::ALL.len());
        assert_eq!(names.len(), Code::ALL.len());
        for code in Code::ALL {
            assert!(
                code.id().len() == 6 && code.id().starts_with("BH"),
                "{code}"
            );
            assert!(
                code.name()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{code}"
            );
        }
    }

    #[test]
    fn location_is_line_and_column_of_the_primary_label() {
        let file = source("demo.toml", "[system]\nboard = \"nowhere\"\n".to_owned());
        let diagnostic = Diagnostic::error(Code::BoardUnknown, "no such board").with_label(
            &file,
            17..26,
            "here",
        );
        assert_eq!(diagnostic.location(), Some((2, 9)));
        assert_eq!(diagnostic.snippet(), Some("\"nowhere\""));
        let rendered = Diagnostics::from(diagnostic).render(false);
        assert!(rendered.contains("BH0501 board-unknown"), "{rendered}");
        assert!(rendered.contains("demo.toml:2:9"), "{rendered}");
        assert!(rendered.contains("1 error(s), 0 warning(s)"), "{rendered}");
    }

    #[test]
    fn warnings_alone_are_not_errors() {
        let mut all = Diagnostics::new();
        all.push(Diagnostic::warning(Code::MemorySizeNotBlock, "odd size"));
        assert!(!all.has_errors());
        assert!(all.clone().into_result(()).is_ok());
        all.push(Diagnostic::error(Code::CpusEmpty, "no cpus"));
        assert!(all.has_errors());
        assert_eq!(all.warnings().count(), 1);
    }
}
