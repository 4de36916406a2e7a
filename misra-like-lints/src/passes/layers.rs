//! Where the hardware-facing constructs may live: MLR-20 (inline assembly in the arch
//! layer), MLR-21 (volatile accesses in the MMIO layer), MLR-22 (`transmute`, `forget`,
//! `assume_init`, `zeroed` only at reviewed sites).
//!
//! The layers and the reviewed sites are settings (`misra-like-lints.toml`), because they
//! are design decisions, not deviations. Exact on the names written; a renamed import
//! (`use core::arch::asm as a;`) or a call through a function pointer is missed.

use syn::visit::{self, Visit};

use super::Cx;
use crate::config::path_has_prefix;
use crate::rules::Rule;
use crate::syntax::{
    ASM_MACROS, last_segment, last_segment_span, segments, visit_macro_expressions,
};

const VOLATILE_FUNCTIONS: &[&str] = &[
    "read_volatile",
    "write_volatile",
    "volatile_load",
    "volatile_store",
    "volatile_copy_memory",
    "volatile_copy_nonoverlapping_memory",
    "volatile_set_memory",
];
/// Intrinsics reviewed individually, with the path functions among them.
const PATH_INTRINSICS: &[&str] = &[
    "transmute",
    "transmute_copy",
    "forget",
    "zeroed",
    "uninitialized",
];
const METHOD_INTRINSICS: &[&str] = &[
    "assume_init",
    "assume_init_ref",
    "assume_init_mut",
    "assume_init_read",
    "assume_init_drop",
];

/// Runs the pass.
pub fn check(cx: &mut Cx<'_>, ast: &syn::File) {
    let in_arch = cx.in_layer(&cx.settings.layers.arch);
    let in_mmio = cx.in_layer(&cx.settings.layers.mmio);
    LayerVisitor {
        cx,
        in_arch,
        in_mmio,
    }
    .visit_file(ast);
}

struct LayerVisitor<'c, 'a> {
    cx: &'c mut Cx<'a>,
    in_arch: bool,
    in_mmio: bool,
}

impl LayerVisitor<'_, '_> {
    fn reviewed(&self, intrinsic: &str) -> bool {
        let canonical = if intrinsic.starts_with("assume_init") {
            "assume_init"
        } else {
            intrinsic
        };
        self.cx.settings.reviewed.iter().any(|site| {
            path_has_prefix(self.cx.path(), &site.path)
                && site
                    .intrinsics
                    .iter()
                    .any(|allowed| allowed == canonical || allowed == intrinsic)
        })
    }

    fn intrinsic(&mut self, name: &str, span: proc_macro2::Span) {
        if !self.reviewed(name) {
            self.cx.report(
                Rule::ReviewedIntrinsic,
                span,
                format!("`{name}` outside the reviewed sites"),
            );
        }
    }

    fn volatile(&mut self, name: &str, span: proc_macro2::Span) {
        if !self.in_mmio {
            self.cx.report(
                Rule::Volatile,
                span,
                format!("`{name}` outside the MMIO layer"),
            );
        }
    }
}

impl<'ast> Visit<'ast> for LayerVisitor<'_, '_> {
    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let name = last_segment(&mac.path);
        if ASM_MACROS.contains(&name.as_str()) {
            if !self.in_arch {
                let span = last_segment_span(&mac.path);
                self.cx.report(
                    Rule::InlineAsm,
                    span,
                    format!("`{name}!` outside the arch layer"),
                );
            }
        } else {
            visit_macro_expressions(self, mac);
        }
        visit::visit_macro(self, mac);
    }

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if let syn::Expr::Path(path) = &*call.func {
            let names = segments(&path.path);
            let name = names.last().cloned().unwrap_or_default();
            let span = last_segment_span(&path.path);
            let owner = names.iter().rev().nth(1).map(String::as_str);
            if VOLATILE_FUNCTIONS.contains(&name.as_str()) {
                self.volatile(&name, span);
            }
            // `MaybeUninit::zeroed()` is safe; `mem::zeroed()` is the unsafe one.
            let is_intrinsic = PATH_INTRINSICS.contains(&name.as_str())
                && !(name == "zeroed" && owner == Some("MaybeUninit"));
            if is_intrinsic || METHOD_INTRINSICS.contains(&name.as_str()) {
                self.intrinsic(&name, span);
            }
        }
        visit::visit_expr_call(self, call);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        let name = call.method.to_string();
        if VOLATILE_FUNCTIONS.contains(&name.as_str()) {
            self.volatile(&name, call.method.span());
        }
        if METHOD_INTRINSICS.contains(&name.as_str()) {
            self.intrinsic(&name, call.method.span());
        }
        visit::visit_expr_method_call(self, call);
    }
}
