//! Names and simple values: partitions exist, names are usable and unique, restart limits
//! are sensible.
//!
//! Design: [impl->dsn~config-checks~1]

use std::collections::BTreeMap;
use std::ops::Range;

use serde_spanned::Spanned;

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::manifest::FaultPolicyValue;
use crate::validate::{Context, MAX_BOOTARGS_LENGTH, MAX_NAME_LENGTH, RESERVED_NAMES, report};

/// Whether `name` is `[a-z][a-z0-9_-]*` of at most [`MAX_NAME_LENGTH`] characters.
pub(crate) fn is_valid_name(name: &str) -> bool {
    let mut characters = name.chars();
    characters
        .next()
        .is_some_and(|first| first.is_ascii_lowercase())
        && characters.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.len() <= MAX_NAME_LENGTH
}

fn name_help() -> String {
    format!(
        "names start with a lowercase letter, then lowercase letters, digits, `-` or `_`, at most {MAX_NAME_LENGTH} characters (they prefix console lines and name output files and device tree nodes)"
    )
}

pub(crate) fn check_no_partitions(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    if context.drafts.is_empty() {
        report(
            diagnostics,
            Code::NoPartitions,
            "the manifest declares no partition".to_owned(),
            context.source,
            context.manifest.system.span(),
            "no [[partition]] follows",
            "add a [[partition]] table with name, image, memory and cpus",
        );
    }
}

pub(crate) fn check_partition_name_invalid(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    for draft in context
        .drafts
        .iter()
        .filter(|draft| !is_valid_name(draft.name()))
    {
        report(
            diagnostics,
            Code::PartitionNameInvalid,
            format!("partition name `{}` is not allowed", draft.name()),
            context.source,
            draft.partition().name.span(),
            "invalid name",
            name_help(),
        );
    }
}

/// Names the hypervisor or its output directory already uses ([`RESERVED_NAMES`]): a
/// partition `hv` would print console lines indistinguishable from the hypervisor's own, and
/// one called `hv-log` would write `hv-log.bin` over the defmt log `cargo xtask run` captures.
pub(crate) fn check_partition_name_reserved(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    for draft in context.drafts {
        if let Some((_, why)) = RESERVED_NAMES
            .iter()
            .find(|(reserved, _)| *reserved == draft.name())
        {
            report(
                diagnostics,
                Code::PartitionNameReserved,
                format!("partition name `{}` is reserved: {why}", draft.name()),
                context.source,
                draft.partition().name.span(),
                "reserved name",
                format!(
                    "choose another name; reserved: {}",
                    RESERVED_NAMES
                        .iter()
                        .map(|(name, _)| format!("`{name}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
}

/// `bootargs` end up as a NUL-terminated device tree string the guest parses: a NUL inside
/// cannot be written, and more than [`MAX_BOOTARGS_LENGTH`] bytes is more than Linux reads
/// (arm64 `COMMAND_LINE_SIZE`) and could push the device tree past its slot.
pub(crate) fn check_bootargs_invalid(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        let Some(bootargs) = &draft.partition().bootargs else {
            continue;
        };
        let text = bootargs.get_ref();
        let problem = if text.contains('\0') {
            "contain a NUL character".to_owned()
        } else if text.len() > MAX_BOOTARGS_LENGTH {
            format!("are {} bytes long", text.len())
        } else {
            continue;
        };
        report(
            diagnostics,
            Code::BootargsInvalid,
            format!("partition `{}` bootargs {problem}", draft.name()),
            context.source,
            bootargs.span(),
            "invalid bootargs",
            format!(
                "bootargs are one device tree string: no NUL, at most {MAX_BOOTARGS_LENGTH} bytes"
            ),
        );
    }
}

pub(crate) fn check_name_invalid(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    let regions = context.drafts.iter().flat_map(|draft| {
        draft
            .regions
            .iter()
            .map(|region| ("region", &region.table.get_ref().name))
    });
    let channels = context
        .channels
        .iter()
        .map(|channel| ("channel", &channel.table.get_ref().name));
    for (what, name) in regions.chain(channels) {
        if !is_valid_name(name.get_ref()) {
            report(
                diagnostics,
                Code::NameInvalid,
                format!("{what} name `{}` is not allowed", name.get_ref()),
                context.source,
                name.span(),
                "invalid name",
                name_help(),
            );
        }
    }
}

/// Reports every name of `names` seen before, pointing at both uses.
fn duplicates<'n>(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
    code: Code,
    what: &str,
    names: impl Iterator<Item = &'n Spanned<String>>,
) {
    let mut first_seen: BTreeMap<&str, Range<usize>> = BTreeMap::new();
    for name in names {
        match first_seen.get(name.get_ref().as_str()) {
            Some(first) => diagnostics.push(
                Diagnostic::error(
                    code,
                    format!("{what} name `{}` is used twice", name.get_ref()),
                )
                .with_label(context.source, name.span(), "second use")
                .with_label(context.source, first.clone(), "first use")
                .with_help(format!(
                    "{what} names identify it in outputs and reports; make them unique"
                )),
            ),
            None => {
                first_seen.insert(name.get_ref(), name.span());
            }
        }
    }
}

pub(crate) fn check_duplicate_partition_name(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    duplicates(
        context,
        diagnostics,
        Code::DuplicatePartitionName,
        "partition",
        context.drafts.iter().map(|draft| &draft.partition().name),
    );
}

pub(crate) fn check_duplicate_channel_name(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    duplicates(
        context,
        diagnostics,
        Code::DuplicateChannelName,
        "channel",
        context
            .channels
            .iter()
            .map(|channel| &channel.table.get_ref().name),
    );
}

pub(crate) fn check_duplicate_region_name(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    for draft in context.drafts {
        duplicates(
            context,
            diagnostics,
            Code::DuplicateRegionName,
            "region",
            draft
                .regions
                .iter()
                .map(|region| &region.table.get_ref().name),
        );
    }
}

pub(crate) fn check_restart_limit_invalid(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    for draft in context.drafts {
        let Some(policy) = &draft.partition().fault_policy else {
            continue;
        };
        if let FaultPolicyValue::Restart(count) = *policy.get_ref() {
            if count < 1 || u32::try_from(count).is_err() {
                report(
                    diagnostics,
                    Code::RestartLimitInvalid,
                    format!(
                        "partition `{}` restart limit {count} is not allowed",
                        draft.name()
                    ),
                    context.source,
                    policy.span(),
                    "expected 1..=4294967295",
                    "a limit of at least one restart; write fault_policy = \"halt\" for none",
                );
            }
        }
    }
}
