//! Pass-through devices: each exists, can be handed over whole (its pages hold nothing of
//! anyone else's), belongs to one partition, is not the hypervisor's, and cannot reach other
//! partitions' memory by DMA unnoticed.
//!
//! Design: [impl->dsn~config-checks~1] [impl->dsn~config-devices~1]

use std::ops::Range;

use crate::board::devicetree::DeviceTree;
use crate::devices::{DeviceError, DeviceInfo};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::manifest::DmaPolicy;
use crate::units::AddressRange;
use crate::validate::draft::DeviceProblem;
use crate::validate::{Context, report};

/// Paths of the nodes the hypervisor drives or depends on: the GIC, its UARTs, the IOMMUs.
fn hypervisor_nodes(context: &Context<'_, '_>) -> Vec<(String, &'static str)> {
    let board = context.board;
    let mut owned = vec![(board.console.path.clone(), "the hypervisor's console UART")];
    if let Some(log) = &board.log {
        owned.push((log.path.clone(), "the hypervisor's log UART"));
    }
    if let Some(gic) = board
        .gic_phandle
        .and_then(|phandle| board.tree.by_phandle(phandle))
    {
        owned.push((gic.path.clone(), "the interrupt controller"));
    }
    owned.extend(board.iommus.iter().map(|path| (path.clone(), "an IOMMU")));
    owned
}

/// Physical ranges the hypervisor keeps: its MMIO and the GIC's virtual CPU interface.
fn hypervisor_ranges(context: &Context<'_, '_>) -> Vec<AddressRange> {
    let mut ranges = context.board.hypervisor_mmio();
    if let bulkhead_core::system::Gic::V2 {
        virtual_cpu_interface,
        ..
    } = context.board.gic
    {
        // GICV is mapped to guests as their CPU interface by the hypervisor, never handed
        // over as a device.
        ranges.extend(AddressRange::new(virtual_cpu_interface.raw(), 0x2000));
    }
    // The display backend's registers (ramfb: fw_cfg; virtio-gpu: its virtio-mmio transport)
    // are driven by the hypervisor.
    ranges.extend(
        context
            .display
            .and_then(|display| display.backend)
            .and_then(|backend| crate::validate::display::backend_registers(context.board, backend))
            .and_then(crate::validate::display::register_pages),
    );
    ranges
}

fn related(left: &str, right: &str) -> bool {
    DeviceTree::is_within(left, right) || DeviceTree::is_within(right, left)
}

pub(crate) fn check_device_not_found(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        for device in draft
            .devices
            .iter()
            .filter(|device| matches!(device.resolved, Err(DeviceProblem::NotFound)))
        {
            report(
                diagnostics,
                Code::DeviceNotFound,
                format!(
                    "`{}` is not a node of board `{}`'s device tree",
                    device.reference, context.board.name
                ),
                context.source,
                device.span.clone(),
                "no such node",
                "name a device by full path (\"/soc/serial@7e215040\"), alias (\"serial1\") or label (\"&uart1\", blobs built with dtc -@ only); `dtc -I dtb -O dts` shows the tree",
            );
        }
    }
}

fn unsupported<'d>(
    context: &'d Context<'_, '_>,
    interrupt_problems: bool,
) -> impl Iterator<Item = (&'d str, &'d str, Range<usize>, &'d DeviceError)> + 'd {
    context.drafts.iter().flat_map(move |draft| {
        draft
            .devices
            .iter()
            .filter_map(move |device| match &device.resolved {
                Err(DeviceProblem::Unsupported(error)) => {
                    let is_interrupt = matches!(
                        error,
                        DeviceError::InterruptParent { .. } | DeviceError::PrivateInterrupt { .. }
                    );
                    (is_interrupt == interrupt_problems).then_some((
                        draft.name(),
                        device.reference.as_str(),
                        device.span.clone(),
                        error,
                    ))
                }
                _ => None,
            })
    })
}

pub(crate) fn check_device_unsupported(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for (partition, reference, span, error) in unsupported(context, false) {
        report(
            diagnostics,
            Code::DeviceUnsupported,
            format!("partition `{partition}`: `{reference}` cannot be passed through: {error}"),
            context.source,
            span,
            "not passable",
            "pass through memory-mapped device nodes (with `reg` and GIC interrupts), not buses or PCI hosts",
        );
    }
}

pub(crate) fn check_device_interrupt_unsupported(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    for (partition, reference, span, error) in unsupported(context, true) {
        report(
            diagnostics,
            Code::DeviceInterruptUnsupported,
            format!("partition `{partition}`: `{reference}`: {error}"),
            context.source,
            span,
            "interrupts cannot be forwarded",
            "only SPIs wired to the GIC can be forwarded to a partition",
        );
    }
}

pub(crate) fn check_device_assigned_twice(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    let mut seen: Vec<(&str, &str, Range<usize>)> = Vec::new();
    for draft in context.drafts {
        for (device, info) in draft.resolved_devices() {
            if let Some((first_partition, first_path, first_span)) =
                seen.iter().find(|(_, path, _)| related(path, &info.path))
            {
                diagnostics.push(
                    Diagnostic::error(
                        Code::DeviceAssignedTwice,
                        format!(
                            "{} is passed through twice (partition `{first_partition}` has {first_path}, partition `{}` asks again)",
                            info.path,
                            draft.name()
                        ),
                    )
                    .with_label(context.source, device.span.clone(), "assigned again here")
                    .with_label(context.source, first_span.clone(), "first assigned here")
                    .with_help("a device belongs to exactly one partition; share data through a [[channel]] instead"),
                );
            } else {
                seen.push((draft.name(), &info.path, device.span.clone()));
            }
        }
    }
}

pub(crate) fn check_device_owned_by_hypervisor(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    let owned = hypervisor_nodes(context);
    let ranges = hypervisor_ranges(context);
    for draft in context.drafts {
        for (device, info) in draft.resolved_devices() {
            let by_node = owned
                .iter()
                .find(|(path, _)| related(path, &info.path))
                .map(|(path, role)| format!("{path} is {role}"));
            let by_page = || {
                info.pages.iter().find_map(|page| {
                    ranges
                        .iter()
                        .find(|range| range.overlaps(*page))
                        .map(|range| format!("its page {page} overlaps hypervisor MMIO {range}"))
                })
            };
            if let Some(reason) = by_node.or_else(by_page) {
                report(
                    diagnostics,
                    Code::DeviceOwnedByHypervisor,
                    format!(
                        "partition `{}`: {} belongs to the hypervisor ({reason})",
                        draft.name(),
                        info.path
                    ),
                    context.source,
                    device.span.clone(),
                    "hypervisor-owned",
                    "the hypervisor keeps the GIC, its console and log UARTs and the IOMMUs; choose another device, or another console in [system]",
                );
            }
        }
    }
}

pub(crate) fn check_device_page_shared(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    let owned = hypervisor_nodes(context);
    for draft in context.drafts {
        let assigned: Vec<&DeviceInfo> = draft.resolved_devices().map(|(_, info)| info).collect();
        for (device, info) in draft.resolved_devices() {
            let mut neighbours: Vec<&str> = Vec::new();
            for page in &info.pages {
                for neighbour in context.mmio.overlapping(*page) {
                    let mine = assigned
                        .iter()
                        .any(|other| DeviceTree::is_within(neighbour, &other.path));
                    let ancestor = DeviceTree::is_within(&info.path, neighbour);
                    let hypervisor = owned.iter().any(|(path, _)| related(path, neighbour));
                    if !mine && !ancestor && !hypervisor && !neighbours.contains(&neighbour) {
                        neighbours.push(neighbour);
                    }
                }
            }
            if neighbours.is_empty() {
                continue;
            }
            report(
                diagnostics,
                Code::DevicePageShared,
                format!(
                    "partition `{}`: {}'s registers share a 4 KiB page with {}",
                    draft.name(),
                    info.path,
                    neighbours.join(", ")
                ),
                context.source,
                device.span.clone(),
                "shares a page",
                "stage 2 maps whole pages, so the partition would also control those devices; pass them through to the same partition too, or leave this device to the hypervisor",
            );
        }
    }
}

pub(crate) fn check_dma_without_iommu(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        for (device, info) in draft.resolved_devices() {
            let Some(reason) = &info.dma else { continue };
            let board_iommu = if context.board.iommus.is_empty() {
                "the board has no enabled IOMMU".to_owned()
            } else {
                format!(
                    "the board's IOMMU ({}) is not programmed by the hypervisor yet",
                    context.board.iommus.join(", ")
                )
            };
            let message = format!(
                "partition `{}`: {} can master the bus (it {reason}) and no IOMMU isolates it: {board_iommu}",
                draft.name(),
                info.path
            );
            let diagnostic = match context.dma_policy {
                DmaPolicy::Warn => Diagnostic::warning(Code::DmaWithoutIommu, message),
                DmaPolicy::Error => Diagnostic::error(Code::DmaWithoutIommu, message),
            };
            diagnostics.push(
                diagnostic
                    .with_label(context.source, device.span.clone(), "DMA-capable")
                    .with_help(match context.dma_policy {
                        DmaPolicy::Warn => "it can read and write any RAM, including other partitions' and the hypervisor's; `[system] dma_without_iommu = \"error\"` makes this an error",
                        DmaPolicy::Error => "`[system] dma_without_iommu = \"error\"` forbids DMA-capable devices without IOMMU isolation; remove the device or relax the policy to \"warn\"",
                    }),
            );
        }
    }
}

/// A bus master is programmed by its guest driver with guest-physical addresses; unless the
/// partition's RAM is identity-mapped those are not where its RAM is, so the device would
/// read and write whatever physical memory has those addresses.
pub(crate) fn check_dma_without_identity_ram(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts.iter().filter(|draft| draft.identity.is_none()) {
        for (device, info) in draft.resolved_devices() {
            let Some(reason) = &info.dma else { continue };
            diagnostics.push(
                Diagnostic::warning(
                    Code::DmaWithoutIdentityRam,
                    format!(
                        "partition `{}`: {} can master the bus (it {reason}), but the partition's RAM is not identity-mapped: the device will use guest-physical addresses as physical ones",
                        draft.name(),
                        info.path
                    ),
                )
                .with_label(context.source, device.span.clone(), "DMA to guest-physical addresses")
                .with_help("add `identity = true` to the partition's `memory` (its RAM is then placed at the physical address the guest sees it at), or use the device without DMA"),
            );
        }
    }
}

pub(crate) fn check_device_disabled(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        for (device, info) in draft.resolved_devices().filter(|(_, info)| !info.enabled) {
            diagnostics.push(
                Diagnostic::warning(
                    Code::DeviceDisabled,
                    format!(
                        "partition `{}`: {} is disabled (`status`) in the board's device tree",
                        draft.name(),
                        info.path
                    ),
                )
                .with_label(context.source, device.span.clone(), "disabled on this board")
                .with_help("it may be unwired or unclocked on this board; the guest sees it with status \"okay\""),
            );
        }
    }
}

pub(crate) fn check_console_not_uart(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        let Some(device) = draft
            .console_device
            .and_then(|index| draft.devices.get(index))
        else {
            continue;
        };
        let Ok(info) = &device.resolved else { continue };
        let is_uart = context.board.uart(&info.path).is_ok()
            || context
                .board
                .tree
                .node(&info.path)
                .is_some_and(|node| node.name().starts_with("serial@"));
        if !is_uart {
            report(
                diagnostics,
                Code::ConsoleNotUart,
                format!(
                    "partition `{}`: console {} is not a UART",
                    draft.name(),
                    info.path
                ),
                context.source,
                device.span.clone(),
                "not a serial device",
                "a pass-through console names a `serial@` node (PL011, Cadence, 16550, ...)",
            );
        }
    }
}
