//! Cache colours: validated and reported, not enforced. The hypervisor does not implement
//! cache colouring yet (partition RAM is contiguous), so every use also warns.
//!
//! Design: [impl->dsn~config-checks~1]

use std::collections::BTreeMap;

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::validate::{Context, report};

pub(crate) fn check_cache_colours_unknown(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    if context.board.cache_colours.is_some() {
        return;
    }
    for draft in context.drafts {
        let Some(colours) = &draft.partition().memory.get_ref().colours else {
            continue;
        };
        report(
            diagnostics,
            Code::CacheColoursUnknown,
            format!(
                "partition `{}` asks for cache colours but board `{}` does not say how many it has",
                draft.name(),
                context.board.name
            ),
            context.source,
            colours.span(),
            "unknown colour count",
            "describe the last-level cache in the device tree (cache-sets, cache-line-size) or set cache_colours in board.toml",
        );
    }
}

pub(crate) fn check_cache_colour_invalid(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    let Some(board_colours) = &context.board.cache_colours else {
        return;
    };
    for draft in context.drafts {
        let mut seen = Vec::new();
        for colour in &draft.colours {
            let value = *colour.get_ref();
            let problem = if value >= board_colours.count {
                Some(format!("expected 0..={}", board_colours.count - 1))
            } else if seen.contains(&value) {
                Some("listed twice".to_owned())
            } else {
                None
            };
            seen.push(value);
            if let Some(label) = problem {
                report(
                    diagnostics,
                    Code::CacheColourInvalid,
                    format!(
                        "partition `{}`: cache colour {value} is not valid",
                        draft.name()
                    ),
                    context.source,
                    colour.span(),
                    label,
                    format!(
                        "board `{}` has {} colours ({})",
                        context.board.name, board_colours.count, board_colours.source
                    ),
                );
            }
        }
    }
}

pub(crate) fn check_cache_colour_shared(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    let mut owner: BTreeMap<u32, (&str, std::ops::Range<usize>)> = BTreeMap::new();
    for draft in context.drafts {
        let mut mine = Vec::new();
        for colour in &draft.colours {
            let value = *colour.get_ref();
            if mine.contains(&value) {
                continue;
            }
            mine.push(value);
            match owner.get(&value) {
                Some((first, first_span)) => diagnostics.push(
                    Diagnostic::error(
                        Code::CacheColourShared,
                        format!(
                            "cache colour {value} is given to partition `{first}` and to partition `{}`",
                            draft.name()
                        ),
                    )
                    .with_label(context.source, colour.span(), "given again here")
                    .with_label(context.source, first_span.clone(), "first given here")
                    .with_help("colours partition the last-level cache; each belongs to one partition"),
                ),
                None => {
                    owner.insert(value, (draft.name(), colour.span()));
                }
            }
        }
    }
}

pub(crate) fn check_cache_colouring_not_enforced(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    // Without a colour count the colours are already an error.
    if context.board.cache_colours.is_none() {
        return;
    }
    for draft in context.drafts {
        let Some(colours) = &draft.partition().memory.get_ref().colours else {
            continue;
        };
        if colours.get_ref().is_empty() {
            continue;
        }
        diagnostics.push(
            Diagnostic::warning(
                Code::CacheColouringNotEnforced,
                format!(
                    "partition `{}`: cache colours are checked and reported but NOT enforced: the hypervisor does not implement cache colouring yet",
                    draft.name()
                ),
            )
            .with_label(context.source, colours.span(), "recorded only")
            .with_help("the partition's RAM is one contiguous range and shares the last-level cache with every other partition"),
        );
    }
}
