//! The shared screen: `[display]` is usable on this board, every layer can be composed, lies
//! on the screen, leaves critical layers alone, draws from its own partition's private
//! memory, and the whole screen can be composed within one frame's budget.
//!
//! Design: [impl->dsn~display-config~1]

use bulkhead_core::display::{MAX_DIMENSION, MAX_LAYERS, PixelFormat, composition_cost};

use crate::diagnostic::{Code, Diagnostics};
use crate::units::hex;
use crate::validate::display::{self, DisplayDraft, FRAME_PERIOD_RANGE, LayerDraft, STATISTICS_EVERY_RANGE};
use crate::validate::{Context, report};

fn layers<'a>(context: &'a Context<'_, '_>) -> impl Iterator<Item = (usize, &'a LayerDraft<'a>)> {
    context
        .display
        .into_iter()
        .flat_map(|display| display.layers.iter().enumerate())
}

pub(crate) fn check_display_invalid(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    let Some(display) = context.display else {
        return;
    };
    let table = display.table.get_ref();
    let mut problem = |message: String, span, label: &str, help: String| {
        report(diagnostics, Code::DisplayInvalid, message, context.source, span, label, help);
    };
    match display.backend {
        None => problem(
            format!("unknown display backend `{}`", table.backend.get_ref()),
            table.backend.span(),
            "unknown backend",
            "backends: \"ram-capture\" (any board), \"ramfb\" and \"virtio-gpu\" (QEMU virt), \"rpi4-mailbox\" (Raspberry Pi 4)".to_owned(),
        ),
        Some(backend) if !display::board_has(context.board, backend) => problem(
            format!(
                "board `{}` has no {} device",
                context.board.name,
                display::backend_name(backend)
            ),
            table.backend.span(),
            "not on this board",
            "\"ram-capture\" works on every board".to_owned(),
        ),
        Some(_) => {}
    }
    if display.screen.is_none() {
        problem(
            format!("a resolution must be 1 to {MAX_DIMENSION} pixels each way"),
            table.resolution.span(),
            "resolution out of range",
            "write resolution = { width = 640, height = 480 }".to_owned(),
        );
    }
    let period = *table.frame_period_us.get_ref();
    if !u64::try_from(period).is_ok_and(|period| FRAME_PERIOD_RANGE.contains(&period)) {
        problem(
            format!("frame period {period} µs is outside 1000..=1000000 µs"),
            table.frame_period_us.span(),
            "frame period out of range",
            "60 Hz is frame_period_us = 16667".to_owned(),
        );
    }
    if let Some(every) = &table.statistics_every
        && !u32::try_from(*every.get_ref()).is_ok_and(|every| STATISTICS_EVERY_RANGE.contains(&every))
    {
        problem(
            format!(
                "statistics every {} frames is outside {}..={}",
                every.get_ref(),
                STATISTICS_EVERY_RANGE.start(),
                STATISTICS_EVERY_RANGE.end()
            ),
            every.span(),
            "statistics window out of range",
            "the hypervisor keeps one window of samples; leave the key out for no statistics".to_owned(),
        );
    }
    if let Some(rate) = &table.compose_rate
        && *rate.get_ref() <= 0
    {
        problem(
            format!("compose rate {} is not a positive number of pixels per µs", rate.get_ref()),
            rate.span(),
            "not positive",
            "measure it with `cargo xtask bench` or leave it out".to_owned(),
        );
    }
    for (value, what) in [
        (table.background.as_ref(), "background"),
        (Some(&table.fail_safe.get_ref().colour), "fail-safe colour"),
    ] {
        if let Some(value) = value
            && !(0..=0x00ff_ffff).contains(value.get_ref())
        {
            problem(
                format!("{what} {} is not an RGB colour", value.get_ref()),
                value.span(),
                "not 0x000000..=0xffffff",
                "write 0xRRGGBB".to_owned(),
            );
        }
    }
    check_compose_core(context, display, &mut problem);
}

/// The compose core must exist, and it must not run a partition without a critical layer:
/// composition takes time from whoever runs on that core, so only the partition whose
/// display the composition protects may pay for it.
fn check_compose_core(
    context: &Context<'_, '_>,
    display: &DisplayDraft<'_>,
    problem: &mut impl FnMut(String, std::ops::Range<usize>, &str, String),
) {
    let core = &display.table.get_ref().compose_core;
    let cores = context.board.cores.len();
    let Some(index) = usize::try_from(*core.get_ref()).ok().filter(|index| *index < cores) else {
        problem(
            format!("compose core {} does not exist", core.get_ref()),
            core.span(),
            "no such core",
            format!("the board has cores 0..{cores}"),
        );
        return;
    };
    let owner = context.drafts.iter().position(|draft| {
        draft
            .partition()
            .cpus
            .get_ref()
            .iter()
            .any(|cpu| *cpu.get_ref() == index)
    });
    if let Some(owner) = owner {
        let critical_owner = display
            .layers
            .iter()
            .any(|layer| layer.critical && layer.partition == Some(owner));
        if !critical_owner {
            problem(
                format!(
                    "compose core {index} runs partition `{}`, which has no critical layer: composition would take its time",
                    context.drafts[owner].name()
                ),
                core.span(),
                "core of a non-critical partition",
                "name a core no partition uses, or one of the critical layer's partition".to_owned(),
            );
        }
    }
}

pub(crate) fn check_display_layer_invalid(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    let names: Vec<&str> = context.drafts.iter().map(|draft| draft.name()).collect();
    for (index, layer) in layers(context) {
        let table = layer.layer();
        let framebuffer = table.framebuffer.get_ref();
        let mut problem = |message: String, span, label: &str, help: String| {
            report(diagnostics, Code::DisplayLayerInvalid, message, context.source, span, label, help);
        };
        if index == MAX_LAYERS {
            problem(
                format!("more than {MAX_LAYERS} display layers"),
                layer.table.span(),
                "one layer too many",
                "the mediator composes at most one layer per partition, eight in all".to_owned(),
            );
        }
        match layer.partition {
            None => problem(
                format!("layer names partition `{}`, which does not exist", layer.partition_name()),
                table.partition.span(),
                "no such partition",
                format!("partitions: {}", names.join(", ")),
            ),
            Some(partition) => {
                let first = layers(context).find(|(_, other)| other.partition == Some(partition));
                if first.is_some_and(|(first, _)| first != index) {
                    problem(
                        format!("partition `{}` has a second layer", layer.partition_name()),
                        table.partition.span(),
                        "second layer",
                        "a partition draws one layer".to_owned(),
                    );
                }
            }
        }
        if layer.size.is_none() {
            problem(
                format!("a framebuffer must be 1 to {MAX_DIMENSION} pixels each way"),
                table.framebuffer.span(),
                "framebuffer size out of range",
                "write width and height in pixels".to_owned(),
            );
        }
        if let (Some((width, _)), Some(format)) = (layer.size, layer.format) {
            let row = u64::from(width) * u64::from(format.bytes_per_pixel());
            match (layer.stride, &framebuffer.stride) {
                (Some(stride), _) if u64::from(stride) >= row && stride % format.bytes_per_pixel() == 0 => {}
                (_, Some(written)) => problem(
                    format!(
                        "stride {} is not a whole number of {} pixels of at least {row} bytes",
                        written.get_ref(),
                        format.name()
                    ),
                    written.span(),
                    "stride too small or misaligned",
                    format!("leave it out for {row}"),
                ),
                (_, None) => {}
            }
        }
        if let (Some(destination), Some((width, height))) = (layer.destination, layer.size) {
            if destination.is_empty() || destination.width > width || destination.height > height {
                problem(
                    format!(
                        "destination {}×{} is empty or larger than the {width}×{height} framebuffer (the mediator does not scale)",
                        destination.width, destination.height
                    ),
                    table.destination.span(),
                    "empty or larger than the framebuffer",
                    "make the destination at most the framebuffer's size".to_owned(),
                );
            }
        } else if layer.destination.is_none() {
            problem(
                "destination coordinates must be non-negative 32-bit integers".to_owned(),
                table.destination.span(),
                "not pixels",
                "write destination = { x = 0, y = 0, width = .., height = .. }".to_owned(),
            );
        }
        if let (None, Some(z)) = (layer.z, &table.z) {
            problem(
                format!("z-order {} is not a non-negative 32-bit integer", z.get_ref()),
                z.span(),
                "invalid z-order",
                "higher layers are drawn on top".to_owned(),
            );
        }
        match (layer.critical, layer.freeze_threshold, &table.freeze_threshold) {
            (_, None, Some(written)) => problem(
                format!("freeze threshold {} is not a frame count", written.get_ref()),
                written.span(),
                "not a frame count",
                "frames without a present before the fail-safe image is shown".to_owned(),
            ),
            (true, Some(0), _) => problem(
                "a critical layer needs a freeze threshold of at least one frame".to_owned(),
                match (&table.freeze_threshold, &table.critical) {
                    (Some(written), _) => written.span(),
                    (None, Some(critical)) => critical.span(),
                    (None, None) => layer.table.span(),
                },
                "no freeze threshold",
                "write freeze_threshold = 30 (half a second at 60 Hz), say".to_owned(),
            ),
            _ => {}
        }
    }
}

pub(crate) fn check_display_format_unsupported(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for (_, layer) in layers(context) {
        if layer.format.is_none() {
            let format = &layer.layer().framebuffer.get_ref().format;
            let known: Vec<&str> = PixelFormat::ALL.iter().map(|format| format.name()).collect();
            report(
                diagnostics,
                Code::DisplayFormatUnsupported,
                format!("pixel format `{}` is not supported", format.get_ref()),
                context.source,
                format.span(),
                "unsupported format",
                format!("formats: {}", known.join(", ")),
            );
        }
    }
}

pub(crate) fn check_display_rectangle_off_screen(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    let Some(screen) = context.display.and_then(|display| display.screen) else {
        return;
    };
    for (_, layer) in layers(context) {
        if let Some(destination) = layer.destination
            && !screen.contains(destination)
        {
            report(
                diagnostics,
                Code::DisplayRectangleOffScreen,
                format!(
                    "destination ({}, {}) {}×{} reaches ({}, {}), off the {}×{} screen",
                    destination.x,
                    destination.y,
                    destination.width,
                    destination.height,
                    destination.right(),
                    destination.bottom(),
                    screen.width,
                    screen.height
                ),
                context.source,
                layer.layer().destination.span(),
                "off screen",
                "move or shrink it to fit the resolution",
            );
        }
    }
}

pub(crate) fn check_display_critical_overlap(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for (index, layer) in layers(context) {
        let Some(destination) = layer.destination else {
            continue;
        };
        for (other_index, other) in layers(context) {
            let Some(other_destination) = other.destination else {
                continue;
            };
            // Each pair once, reported at the later layer; two critical layers overlapping
            // is reported too.
            if other_index >= index || !(layer.critical || other.critical) {
                continue;
            }
            if let Some(shared) = destination.intersection(other_destination) {
                let critical = if other.critical { other } else { layer };
                report(
                    diagnostics,
                    Code::DisplayCriticalOverlap,
                    format!(
                        "the layers of `{}` and `{}` share {} pixels from ({}, {}); `{}`'s layer is critical and must not be covered",
                        other.partition_name(),
                        layer.partition_name(),
                        shared.area(),
                        shared.x,
                        shared.y,
                        critical.partition_name()
                    ),
                    context.source,
                    layer.layer().destination.span(),
                    "overlaps a critical layer",
                    "critical layers own their pixels: move the other layer",
                );
            }
        }
    }
}

pub(crate) fn check_display_buffer_outside_partition(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for (_, layer) in layers(context) {
        let (Some(partition), Some(buffer)) = (layer.partition, layer.buffer) else {
            continue;
        };
        let draft = &context.drafts[partition];
        if display::host_address(draft, buffer).is_some() {
            continue;
        }
        let memory: Vec<String> = display::private_memory(draft)
            .iter()
            .map(|(range, _)| range.to_string())
            .collect();
        report(
            diagnostics,
            Code::DisplayBufferOutsidePartition,
            format!(
                "the framebuffer {buffer} ({} bytes) is not inside one range of `{}`'s RAM or read-write regions",
                buffer.size(),
                layer.partition_name()
            ),
            context.source,
            display::ipa_span(layer),
            "outside the partition's memory",
            format!(
                "guest-physical ranges it may use: {} (RAM ends {} below its top, where the device tree lives)",
                memory.join(", "),
                hex(bulkhead_core::layout::DTB_OFFSET_FROM_RAM_END)
            ),
        );
    }
}

pub(crate) fn check_display_buffer_shared(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for (_, layer) in layers(context) {
        let (Some(partition), Some(buffer)) = (layer.partition, layer.buffer) else {
            continue;
        };
        let draft = &context.drafts[partition];
        for endpoint in &draft.layout.endpoints {
            let Some(channel) = context.channels.get(endpoint.channel) else {
                continue;
            };
            let Some(memory) = channel.memory else {
                continue;
            };
            let Some(seen) = crate::units::AddressRange::new(endpoint.ipa, memory.size()) else {
                continue;
            };
            if seen.overlaps(buffer) {
                report(
                    diagnostics,
                    Code::DisplayBufferShared,
                    format!(
                        "the framebuffer {buffer} lies in channel `{}`, which other partitions map",
                        channel.name()
                    ),
                    context.source,
                    display::ipa_span(layer),
                    "shared memory",
                    "a layer's pixels must be its partition's alone: put the framebuffer in its RAM or a region",
                );
            }
        }
    }
}

pub(crate) fn check_display_over_budget(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    let Some(display) = context.display else {
        return;
    };
    let (Some(screen), Some(budget)) = (display.screen, display.budget) else {
        return;
    };
    let destinations: Vec<_> = display
        .layers
        .iter()
        .filter_map(|layer| layer.destination)
        .collect();
    let cost = composition_cost(screen, destinations.iter().copied());
    if cost > budget {
        let table = display.table.get_ref();
        let period = *table.frame_period_us.get_ref();
        report(
            diagnostics,
            Code::DisplayOverBudget,
            format!(
                "composing the whole screen costs {cost} pixel operations, over the frame budget of {budget} ({} per µs × {period} µs)",
                budget / u64::try_from(period).unwrap_or(1).max(1)
            ),
            context.source,
            table.frame_period_us.span(),
            "frame budget",
            format!(
                "lengthen the frame period to at least {} µs, shrink layers, or state a measured compose_rate",
                cost.div_ceil((budget / u64::try_from(period).unwrap_or(1).max(1)).max(1))
            ),
        );
    }
}
