//! Interrupts: every forwarded INTID is a real SPI, not one the hypervisor keeps, given to
//! one partition only, and every partition's virtual INTIDs fit the GIC's range.
//!
//! Design: [impl->dsn~config-checks~1] [impl->dsn~config-devices~1]

use std::collections::BTreeMap;
use std::ops::Range;

use crate::devices::FIRST_SPI;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::validate::layout::{FIRST_FORWARDED_INTID, LAST_INTID};
use crate::validate::{Context, report};

/// INTIDs the hypervisor keeps, with why.
fn reserved(context: &Context<'_, '_>, intid: u32) -> Option<String> {
    let board = context.board;
    if intid < FIRST_SPI {
        return Some(
            "INTIDs below 32 are SGIs and PPIs, private to each core (the timers, the GIC maintenance interrupt)".to_owned(),
        );
    }
    if intid == board.console.uart.intid {
        return Some(format!(
            "it is the interrupt of the hypervisor's console UART {}",
            board.console.path
        ));
    }
    if let Some(log) = board.log.as_ref().filter(|log| log.uart.intid == intid) {
        return Some(format!(
            "it is the interrupt of the hypervisor's log UART {}",
            log.path
        ));
    }
    None
}

pub(crate) fn check_interrupt_invalid(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        for extra in draft
            .interrupts
            .iter()
            .filter(|extra| !(0..=i64::from(LAST_INTID)).contains(&extra.intid))
        {
            report(
                diagnostics,
                Code::InterruptInvalid,
                format!("INTID {} does not exist", extra.intid),
                context.source,
                extra.span.clone(),
                format!("expected {FIRST_SPI}..={LAST_INTID}"),
                "INTIDs 1020-1023 are special and larger ones are LPIs (GICv3 spec §2.2.1); forward SPIs only",
            );
        }
    }
}

pub(crate) fn check_interrupt_reserved(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        for extra in &draft.interrupts {
            let Ok(intid) = u32::try_from(extra.intid) else {
                continue;
            };
            if intid > LAST_INTID {
                continue;
            }
            if let Some(reason) = reserved(context, intid) {
                report(
                    diagnostics,
                    Code::InterruptReserved,
                    format!(
                        "partition `{}`: INTID {intid} is reserved: {reason}",
                        draft.name()
                    ),
                    context.source,
                    extra.span.clone(),
                    "kept by the hypervisor",
                    "forward SPIs that no hypervisor-owned device uses",
                );
            }
        }
        for (device, info) in draft.resolved_devices() {
            for interrupt in &info.interrupts {
                if let Some(reason) = reserved(context, interrupt.intid) {
                    report(
                        diagnostics,
                        Code::InterruptReserved,
                        format!(
                            "partition `{}`: {} uses INTID {}, which is reserved: {reason}",
                            draft.name(),
                            info.path,
                            interrupt.intid
                        ),
                        context.source,
                        device.span.clone(),
                        "its interrupt is the hypervisor's",
                        "a device sharing an interrupt line with a hypervisor device cannot be passed through",
                    );
                }
            }
        }
    }
}

pub(crate) fn check_interrupt_assigned_twice(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    // INTID → (partition index, partition name, span, what).
    let mut owners: BTreeMap<u32, (usize, &str, Range<usize>, String)> = BTreeMap::new();
    for (index, draft) in context.drafts.iter().enumerate() {
        let device_lines = draft.resolved_devices().flat_map(|(device, info)| {
            info.interrupts.iter().map(move |interrupt| {
                (
                    interrupt.intid,
                    device.span.clone(),
                    info.path.clone(),
                    true,
                )
            })
        });
        let extra_lines = draft.interrupts.iter().filter_map(|extra| {
            let intid = u32::try_from(extra.intid).ok()?;
            Some((
                intid,
                extra.span.clone(),
                "an extra interrupt".to_owned(),
                false,
            ))
        });
        for (intid, span, what, from_device) in device_lines.chain(extra_lines).collect::<Vec<_>>()
        {
            match owners.get(&intid) {
                // Devices of one partition sharing a line: one forwarded interrupt.
                Some((owner, _, _, first_what)) if *owner == index && from_device && first_what.starts_with('/') => {}
                Some((_, first_partition, first_span, first_what)) => diagnostics.push(
                    Diagnostic::error(
                        Code::InterruptAssignedTwice,
                        format!(
                            "INTID {intid} is assigned twice: to partition `{first_partition}` ({first_what}) and to partition `{}` ({what})",
                            draft.name()
                        ),
                    )
                    .with_label(context.source, span, "assigned again here")
                    .with_label(context.source, first_span.clone(), "first assigned here")
                    .with_help("an interrupt line goes to one partition; devices sharing a line must go to the same partition"),
                ),
                None => {
                    owners.insert(intid, (index, draft.name(), span, what));
                }
            }
        }
    }
}

pub(crate) fn check_guest_interrupts_exhausted(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    for draft in context.drafts {
        if let Some(span) = &draft.layout.intids_exhausted {
            report(
                diagnostics,
                Code::GuestInterruptsExhausted,
                format!(
                    "partition `{}` needs more than the {} virtual INTIDs from {FIRST_FORWARDED_INTID} to {LAST_INTID}",
                    draft.name(),
                    LAST_INTID - FIRST_FORWARDED_INTID + 1
                ),
                context.source,
                span.clone(),
                "no virtual INTID left",
                "forward fewer interrupts or doorbells to this partition",
            );
        }
    }
}
