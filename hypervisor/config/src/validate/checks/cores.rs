//! Cores and vCPUs: every pinned core exists and runs one vCPU of one partition.
//!
//! Design: [impl->dsn~config-checks~1]

use std::collections::BTreeMap;

use bulkhead_core::layout::MAX_VCPUS_PER_PARTITION;
use serde_spanned::Spanned;

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::validate::{Context, report};

/// A partition must run at least one vCPU: an empty `cpus` list, and `vcpus = 0` (which
/// would build a partition that never runs, holding its cores and memory for nothing).
pub(crate) fn check_cpus_empty(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        let partition = draft.partition();
        if partition.cpus.get_ref().is_empty() {
            report(
                diagnostics,
                Code::CpusEmpty,
                format!("partition `{}` has no vCPU", draft.name()),
                context.source,
                partition.cpus.span(),
                "empty",
                "pin at least one physical core: cpus = [0]",
            );
        } else if let Some(vcpus) = partition.vcpus.as_ref().filter(|vcpus| *vcpus.get_ref() == 0)
        {
            report(
                diagnostics,
                Code::CpusEmpty,
                format!("partition `{}` has no vCPU (`vcpus = 0`)", draft.name()),
                context.source,
                vcpus.span(),
                "expected at least 1",
                "a partition runs at least one vCPU; drop `vcpus` to run one per pinned core",
            );
        }
    }
}

pub(crate) fn check_too_many_vcpus(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        let cpus = &draft.partition().cpus;
        if draft.vcpus() > MAX_VCPUS_PER_PARTITION {
            let span = draft
                .partition()
                .vcpus
                .as_ref()
                .map_or_else(|| cpus.span(), Spanned::span);
            report(
                diagnostics,
                Code::TooManyVcpus,
                format!(
                    "partition `{}` has {} vCPUs; at most {MAX_VCPUS_PER_PARTITION} fit the virtual redistributor window",
                    draft.name(),
                    draft.vcpus()
                ),
                context.source,
                span,
                "too many vCPUs",
                format!("give one partition at most {MAX_VCPUS_PER_PARTITION} vCPUs"),
            );
        }
    }
}

pub(crate) fn check_vcpus_exceed_cores(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        let Some(vcpus) = &draft.partition().vcpus else {
            continue;
        };
        let cores = draft.partition().cpus.get_ref().len();
        if *vcpus.get_ref() > cores {
            report(
                diagnostics,
                Code::VcpusExceedCores,
                format!(
                    "partition `{}` has {} vCPUs but only {cores} pinned cores",
                    draft.name(),
                    vcpus.get_ref()
                ),
                context.source,
                vcpus.span(),
                format!("expected at most {cores}"),
                "every vCPU runs on its own pinned core (no time sharing): pin more cores in `cpus` or lower `vcpus`",
            );
        }
    }
}

pub(crate) fn check_core_without_vcpu(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        // `vcpus = 0` is the error `cpus-empty`, not idle cores.
        let Some(vcpus) = draft
            .partition()
            .vcpus
            .as_ref()
            .filter(|vcpus| *vcpus.get_ref() != 0)
        else {
            continue;
        };
        let cpus = draft.partition().cpus.get_ref();
        if let Some(idle) = cpus.get(*vcpus.get_ref()..).filter(|idle| !idle.is_empty()) {
            let idle: Vec<String> = idle.iter().map(|cpu| cpu.get_ref().to_string()).collect();
            diagnostics.push(
                Diagnostic::warning(
                    Code::CoreWithoutVcpu,
                    format!(
                        "partition `{}` pins core(s) {} but runs no vCPU on them: they idle",
                        draft.name(),
                        idle.join(", ")
                    ),
                )
                .with_label(
                    context.source,
                    vcpus.span(),
                    format!("{} vCPUs", vcpus.get_ref()),
                )
                .with_help("drop the idle cores from `cpus`, or raise `vcpus`"),
            );
        }
    }
}

pub(crate) fn check_core_not_present(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    let count = context.board.cores.len();
    for draft in context.drafts {
        for cpu in draft
            .partition()
            .cpus
            .get_ref()
            .iter()
            .filter(|cpu| *cpu.get_ref() >= count)
        {
            report(
                diagnostics,
                Code::CoreNotPresent,
                format!(
                    "core {} does not exist on board `{}`",
                    cpu.get_ref(),
                    context.board.name
                ),
                context.source,
                cpu.span(),
                format!("expected 0..={}", count.saturating_sub(1)),
                format!("the device tree lists {count} cores, numbered in /cpus order"),
            );
        }
    }
}

pub(crate) fn check_core_pinned_twice(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    let mut owner: BTreeMap<usize, (&str, &Spanned<usize>)> = BTreeMap::new();
    for draft in context.drafts {
        for cpu in draft.partition().cpus.get_ref() {
            match owner.get(cpu.get_ref()) {
                Some((first_partition, first)) => diagnostics.push(
                    Diagnostic::error(
                        Code::CorePinnedTwice,
                        format!(
                            "core {} is pinned twice (partition `{first_partition}` and partition `{}`)",
                            cpu.get_ref(),
                            draft.name()
                        ),
                    )
                    .with_label(context.source, cpu.span(), "pinned again here")
                    .with_label(context.source, first.span(), "first pinned here")
                    .with_help("each physical core runs exactly one vCPU; pick a free core"),
                ),
                None => {
                    owner.insert(*cpu.get_ref(), (draft.name(), cpu));
                }
            }
        }
    }
}
