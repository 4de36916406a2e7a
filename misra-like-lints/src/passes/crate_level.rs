//! MLR-14: a crate that needs no `unsafe` says `#![forbid(unsafe_code)]`.
//!
//! A crate "needs" unsafe when any of its files contains the `unsafe` keyword (in code or in
//! a macro body) or an attribute that the `unsafe_code` lint covers (`no_mangle`,
//! `export_name`, `link_section`) or `global_asm!`, which the lint also rejects. If none does, each crate root under `src/` (`lib.rs`,
//! `main.rs`, `bin/*.rs`) must carry the attribute, so the absence stays true. Exact.

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
