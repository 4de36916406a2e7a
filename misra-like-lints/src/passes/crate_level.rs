//! Crate-level attributes: MLR-14 and MLR-28.
//!
//! MLR-14: a crate that needs no `unsafe` says `#![forbid(unsafe_code)]`. A crate "needs"
//! unsafe when any of its files contains the `unsafe` keyword (in code or in a macro body) or
//! an attribute that the `unsafe_code` lint covers (`no_mangle`, `export_name`,
//! `link_section`) or `global_asm!`, which the lint also rejects. If none does, each crate root
//! under `src/` (`lib.rs`, `main.rs`, `bin/*.rs`) must carry the attribute, so the absence
//! stays true. Exact.
//!
//! MLR-28: the crate roots listed under `[[crate_attributes]]` in the settings carry the
//! attributes listed there. MLR-14 only looks at crates that happen to contain no `unsafe`,
//! so once a crate that must stay safe (`bulkhead-core`) gains `unsafe` code, removing its
//! `#![forbid(unsafe_code)]` would pass unnoticed; the settings make the architecture's
//! promise explicit and this pass holds every listed root to it. A listed root that is
//! missing while its crate has other files is a finding too, so moving the root cannot
//! silently switch the check off. Exact for the written attributes.

use syn::punctuated::Punctuated;
use syn::{Meta, Token};

use crate::config::Settings;
use crate::facts::CrateFacts;
use crate::finding::{Finding, Position};
use crate::rules::Rule;
use crate::unit::FileUnit;

/// Checks one crate.
pub fn check(units: &[&FileUnit], facts: &CrateFacts) -> Vec<Finding> {
    if facts.uses_unsafe {
        return Vec::new();
    }
    let mut findings = Vec::new();
    for unit in units {
        let is_src_root = unit.file.is_crate_root
            && (unit.file.relative.ends_with("src/lib.rs")
                || unit.file.relative.ends_with("src/main.rs")
                || unit.file.relative.contains("src/bin/"));
        if !is_src_root {
            continue;
        }
        let Ok(ast) = &unit.ast else { continue };
        if !forbids_unsafe(&ast.attrs) {
            findings.push(Finding::new(
                Rule::ForbidUnsafe,
                &unit.file.relative,
                Position::new(1, 1),
                Position::new(1, 1),
                "the crate uses no `unsafe` but does not `#![forbid(unsafe_code)]`".to_owned(),
            ));
        }
    }
    findings
}

fn forbids_unsafe(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("forbid")
            && crate::syntax::tokens_contain_ident(
                &match &attr.meta {
                    syn::Meta::List(list) => list.tokens.clone(),
                    syn::Meta::Path(_) | syn::Meta::NameValue(_) => proc_macro2::TokenStream::new(),
                },
                "unsafe_code",
            )
            .is_some()
    })
}

/// MLR-28 over all files: every listed crate root declares its required attributes.
pub fn check_required(units: &[crate::unit::FileUnit], settings: &Settings) -> Vec<Finding> {
    let mut findings = Vec::new();
    for entry in &settings.crate_attributes {
        let Some(unit) = units.iter().find(|unit| unit.file.relative == entry.path) else {
            let crate_dir = format!("{}/", entry.crate_dir());
            if units
                .iter()
                .any(|unit| unit.file.relative.starts_with(&crate_dir))
            {
                findings.push(Finding::new(
                    Rule::CrateAttributes,
                    &entry.path,
                    Position::new(0, 0),
                    Position::new(0, 0),
                    format!(
                        "the crate root `{}` listed under [[crate_attributes]] does not exist, so its required attributes ({}) are not checked",
                        entry.path,
                        entry.required.join(", ")
                    ),
                ));
            }
            continue;
        };
        let Ok(ast) = &unit.ast else { continue };
        let declared = declared_attributes(&ast.attrs);
        for required in &entry.required {
            if !is_declared(&declared, required) {
                findings.push(Finding::new(
                    Rule::CrateAttributes,
                    &entry.path,
                    Position::new(1, 1),
                    Position::new(1, 1),
                    format!(
                        "the crate root does not declare `#![{}]`, which the architecture relies on: {}",
                        required.trim(),
                        entry.reason.trim()
                    ),
                ));
            }
        }
    }
    findings
}

/// The inner attributes of a crate root, normalised without whitespace: `no_std`,
/// `forbid(unsafe_code)` (one entry per lint of a lint-level attribute). Attributes under
/// `cfg_attr(not(test), ..)` count: test builds are host code.
pub fn declared_attributes(attrs: &[syn::Attribute]) -> Vec<String> {
    let mut declared = Vec::new();
    for attr in attrs {
        if matches!(attr.style, syn::AttrStyle::Inner(_)) {
            collect_declared(&attr.meta, &mut declared);
        }
    }
    declared
}

fn collect_declared(meta: &Meta, declared: &mut Vec<String>) {
    let name = path_text(meta.path());
    let Meta::List(list) = meta else {
        declared.push(meta_text(meta));
        return;
    };
    let Ok(nested) = list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) else {
        declared.push(without_whitespace(&list.tokens.to_string()));
        return;
    };
    match name.as_str() {
        "allow" | "expect" | "warn" | "deny" | "forbid" => {
            for lint in nested.iter().filter_map(|inner| match inner {
                Meta::Path(path) => Some(path),
                Meta::List(_) | Meta::NameValue(_) => None,
            }) {
                declared.push(format!("{name}({})", path_text(lint)));
            }
        }
        "cfg_attr" => {
            let mut arguments = nested.iter();
            let outside_tests = arguments
                .next()
                .is_some_and(|condition| meta_text(condition) == "not(test)");
            if outside_tests {
                for inner in arguments {
                    collect_declared(inner, declared);
                }
            }
        }
        _ => declared.push(meta_text(meta)),
    }
}

fn path_text(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// An attribute's text without whitespace: `no_std`, `not(test)`, `crate_type="lib"`.
fn meta_text(meta: &Meta) -> String {
    match meta {
        Meta::Path(path) => path_text(path),
        Meta::List(list) => format!(
            "{}({})",
            path_text(&list.path),
            without_whitespace(&list.tokens.to_string())
        ),
        Meta::NameValue(pair) => {
            let value = match &pair.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(text),
                    ..
                }) => format!("{:?}", text.value()),
                _ => String::new(),
            };
            format!("{}={value}", path_text(&pair.path))
        }
    }
}

/// Whether `required` is among `declared`, or a stricter lint level of it is.
fn is_declared(declared: &[String], required: &str) -> bool {
    let required = without_whitespace(required);
    let stricter: &[&str] = match required.split_once('(') {
        Some(("warn", _)) => &["deny", "forbid"],
        Some(("deny", _)) => &["forbid"],
        _ => &[],
    };
    declared.iter().any(|attribute| {
        *attribute == required
            || stricter.iter().any(|level| {
                required
                    .split_once('(')
                    .is_some_and(|(_, lint)| *attribute == format!("{level}({lint}"))
            })
    })
}

fn without_whitespace(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CrateAttributes, Profile};
    use crate::unit_from_source;

    fn settings(path: &str, required: &[&str]) -> Settings {
        let mut settings = Settings::builtin();
        settings.crate_attributes = vec![CrateAttributes {
            path: path.to_owned(),
            required: required.iter().map(|text| (*text).to_owned()).collect(),
            reason: "fixture".to_owned(),
        }];
        settings
    }

    fn messages(units: &[crate::unit::FileUnit], settings: &Settings) -> Vec<String> {
        check_required(units, settings)
            .into_iter()
            .map(|finding| finding.message)
            .collect()
    }

    #[test]
    fn removing_forbid_unsafe_code_from_a_listed_crate_is_a_finding() {
        let settings = settings(
            "hypervisor/core/src/lib.rs",
            &["no_std", "forbid(unsafe_code)"],
        );
        let with = unit_from_source(
            "hypervisor/core/src/lib.rs",
            Profile::Strict,
            "//! Core.\n#![no_std]\n#![forbid(unsafe_code)]\n",
        );
        assert!(messages(&[with], &settings).is_empty());
        let without = unit_from_source(
            "hypervisor/core/src/lib.rs",
            Profile::Strict,
            "//! Core.\n#![no_std]\n#![deny(unsafe_code)]\n",
        );
        let found = messages(&[without], &settings);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found.iter().all(|message| message.contains("`#![forbid(unsafe_code)]`")));
    }

    #[test]
    fn stricter_levels_lists_and_cfg_attr_outside_tests_count() {
        let settings = settings(
            "partitions/guest-rt/src/lib.rs",
            &["no_std", "deny(unsafe_code)", "forbid(unsafe_op_in_unsafe_fn)"],
        );
        let unit = unit_from_source(
            "partitions/guest-rt/src/lib.rs",
            Profile::Guest,
            "//! Guest.\n#![cfg_attr(not(test), no_std)]\n#![forbid(unsafe_code, unsafe_op_in_unsafe_fn)]\n",
        );
        assert!(messages(&[unit], &settings).is_empty());
        let only_in_other_builds = unit_from_source(
            "partitions/guest-rt/src/lib.rs",
            Profile::Guest,
            "//! Guest.\n#![cfg_attr(feature = \"bare\", no_std)]\n#![warn(unsafe_code)]\n#![forbid(unsafe_op_in_unsafe_fn)]\n",
        );
        let found = messages(&[only_in_other_builds], &settings);
        assert_eq!(found.len(), 2, "no_std and deny(unsafe_code) are missing: {found:?}");
    }

    #[test]
    fn a_missing_root_of_a_present_crate_is_a_finding() {
        let settings = settings("hypervisor/core/src/lib.rs", &["forbid(unsafe_code)"]);
        let other_file =
            unit_from_source("hypervisor/core/src/stage2.rs", Profile::Strict, "//! Stage 2.\n");
        let found = messages(&[other_file], &settings);
        assert_eq!(found.len(), 1, "{found:?}");
        let unrelated = unit_from_source("xtask/src/main.rs", Profile::Host, "//! Tool.\n");
        assert!(messages(&[unrelated], &settings).is_empty());
    }
}
