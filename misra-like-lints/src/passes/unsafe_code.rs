//! Unsafe hygiene: MLR-11 (`// SAFETY:`), MLR-12 (one operation per block), MLR-13
//! (`# Safety` docs), MLR-15 (`static mut`), MLR-23 (`macro_rules!` hiding `unsafe`).
//!
//! - MLR-11 looks for a comment containing `SAFETY:` with a non-empty argument in the
//!   comment block directly above the `unsafe` keyword's line, before it on that line, or
//!   above the first line of the enclosing statement (`let x =\n unsafe { .. }`). Exact for
//!   comment placement.
//! - MLR-12 counts, approximately: calls of functions the crate declares `unsafe` (by name)
//!   and of well-known unsafe library functions, dereferences of values visibly of raw
//!   pointer type (parameters, typed `let`s, pointer casts, `.as_ptr()`), uses of `static
//!   mut` items and inline assembly. Unsafe calls through traits or unknown receivers are
//!   not counted; Clippy's `multiple_unsafe_ops_per_block` is exact.
//! - MLR-13 and MLR-15 and MLR-23 are exact on the syntax written.

use std::collections::HashSet;

use syn::visit::{self, Visit};
use syn::{Expr, Pat, Type, UnOp};

use super::Cx;
use super::loops::{argument_after_marker, argument_for};
use crate::finding::Position;
use crate::rules::Rule;
use crate::syntax::{
    ASM_MACROS, doc_text, last_segment, node_positions, segments, tokens_contain_ident,
    visit_macro_expressions,
};

/// Unsafe library functions and methods counted by name wherever they are called.
const UNSAFE_LIBRARY: &[&str] = &[
    "read_volatile",
    "write_volatile",
    "read_unaligned",
    "write_unaligned",
    "transmute",
    "transmute_copy",
    "zeroed",
    "uninitialized",
    "from_raw_parts",
    "from_raw_parts_mut",
    "from_utf8_unchecked",
    "get_unchecked",
    "get_unchecked_mut",
    "assume_init",
    "assume_init_ref",
    "assume_init_mut",
    "assume_init_read",
    "unwrap_unchecked",
    "unreachable_unchecked",
    "copy_nonoverlapping",
    "write_bytes",
    "new_unchecked",
    "from_u32_unchecked",
    "set_len",
    "drop_in_place",
    "swap_nonoverlapping",
    "offset",
    "offset_from",
    "byte_offset",
    "as_uninit_mut",
];
/// Unsafe `core::ptr` functions whose names are too common to count unless called as `ptr::x`.
const UNSAFE_PTR_FUNCTIONS: &[&str] = &["read", "write", "copy", "replace", "swap"];

/// Runs the pass.
pub fn check(cx: &mut Cx<'_>, ast: &syn::File) {
    let mut visitor = UnsafeVisitor {
        cx,
        statement_lines: Vec::new(),
        raw_pointers: Vec::new(),
        inherent_impl: Vec::new(),
    };
    visitor.visit_file(ast);
}

struct UnsafeVisitor<'c, 'a> {
    cx: &'c mut Cx<'a>,
    /// First line of each enclosing statement.
    statement_lines: Vec<usize>,
    /// Names visibly bound to raw pointers, per enclosing function.
    raw_pointers: Vec<HashSet<String>>,
    /// For each enclosing impl block, whether it is inherent (no trait).
    inherent_impl: Vec<bool>,
}

fn has_safety_section(docs: &str) -> bool {
    docs.lines().any(|line| {
        let trimmed = line.trim();
        trimmed.starts_with('#') && trimmed.trim_start_matches('#').trim() == "Safety"
    })
}

impl UnsafeVisitor<'_, '_> {
    /// MLR-11 for an `unsafe` keyword at `start`.
    fn check_safety_comment(&mut self, what: &str, start: Position, end: Position) {
        let mut argument = argument_for(self.cx, start, "SAFETY:", false);
        if argument.is_none() {
            if let Some(statement_line) = self.statement_lines.last().copied() {
                if statement_line != start.line {
                    let above = self.cx.unit.source.comments_above(statement_line);
                    argument = argument_after_marker(&above, "SAFETY:");
                }
            }
        }
        match argument {
            Some(argument) if !argument.is_empty() => {}
            Some(_) => self.cx.report_at(
                Rule::SafetyComment,
                start,
                end,
                format!("{what} has an empty `// SAFETY:` argument"),
            ),
            None => self.cx.report_at(
                Rule::SafetyComment,
                start,
                end,
                format!("{what} without a `// SAFETY:` argument"),
            ),
        }
    }

    fn check_safety_doc(&mut self, attrs: &[syn::Attribute], what: &str, ident: &syn::Ident) {
        if !has_safety_section(&doc_text(attrs)) {
            self.cx.report(
                Rule::SafetyDoc,
                ident.span(),
                format!("{what} `{ident}` has no `# Safety` section"),
            );
        }
    }

    fn enter_function(
        &mut self,
        inputs: &syn::punctuated::Punctuated<syn::FnArg, syn::Token![,]>,
        body: &syn::Block,
    ) {
        let mut names = HashSet::new();
        for input in inputs {
            if let syn::FnArg::Typed(typed) = input {
                if matches!(&*typed.ty, Type::Ptr(_)) {
                    if let Pat::Ident(ident) = &*typed.pat {
                        names.insert(ident.ident.to_string());
                    }
                }
            }
        }
        let mut collector = PointerLets { names: &mut names };
        collector.visit_block(body);
        self.raw_pointers.push(names);
    }
}

/// Collects `let` bindings visibly of raw pointer type.
struct PointerLets<'n> {
    names: &'n mut HashSet<String>,
}

impl<'ast> Visit<'ast> for PointerLets<'_> {
    fn visit_local(&mut self, local: &'ast syn::Local) {
        let (pattern, typed_pointer) = match &local.pat {
            Pat::Type(typed) => (&*typed.pat, matches!(&*typed.ty, Type::Ptr(_))),
            other => (other, false),
        };
        let initialised_pointer = local
            .init
            .as_ref()
            .is_some_and(|init| is_pointer_expression(&init.expr));
        if typed_pointer || initialised_pointer {
            if let Pat::Ident(ident) = pattern {
                self.names.insert(ident.ident.to_string());
            }
        }
        visit::visit_local(self, local);
    }
}

fn is_pointer_expression(expr: &Expr) -> bool {
    match expr {
        Expr::Cast(cast) => matches!(&*cast.ty, Type::Ptr(_)),
        Expr::MethodCall(call) => matches!(
            call.method.to_string().as_str(),
            "as_ptr" | "as_mut_ptr" | "cast" | "add" | "byte_add" | "wrapping_add"
        ),
        Expr::Call(call) => {
            matches!(&*call.func, Expr::Path(path) if matches!(last_segment(&path.path).as_str(), "null" | "null_mut" | "with_exposed_provenance" | "with_exposed_provenance_mut" | "from_ref" | "from_mut" | "without_provenance_mut" | "without_provenance"))
        }
        Expr::Macro(mac) => matches!(
            last_segment(&mac.mac.path).as_str(),
            "addr_of" | "addr_of_mut"
        ),
        Expr::Paren(inner) => is_pointer_expression(&inner.expr),
        _ => false,
    }
}

/// Counts the unsafe operations of one block.
struct OperationCounter<'f> {
    unsafe_functions: &'f HashSet<String>,
    mutable_statics: &'f HashSet<String>,
    raw_pointers: &'f HashSet<String>,
    operations: Vec<String>,
}

impl<'ast> Visit<'ast> for OperationCounter<'_> {
    fn visit_expr_unsafe(&mut self, _nested: &'ast syn::ExprUnsafe) {
        // A nested block is checked on its own.
    }

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if let Expr::Path(path) = &*call.func {
            let names = segments(&path.path);
            let name = names.last().cloned().unwrap_or_default();
            let via_ptr = names.len() >= 2 && names.iter().rev().nth(1).is_some_and(|s| s == "ptr");
            if self.unsafe_functions.contains(&name)
                || UNSAFE_LIBRARY.contains(&name.as_str())
                || (via_ptr && UNSAFE_PTR_FUNCTIONS.contains(&name.as_str()))
            {
                self.operations.push(format!("call of `{name}`"));
            }
        }
        visit::visit_expr_call(self, call);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        let name = call.method.to_string();
        if self.unsafe_functions.contains(&name) || UNSAFE_LIBRARY.contains(&name.as_str()) {
            self.operations.push(format!("call of `.{name}()`"));
        }
        visit::visit_expr_method_call(self, call);
    }

    fn visit_expr_unary(&mut self, unary: &'ast syn::ExprUnary) {
        if matches!(unary.op, UnOp::Deref(_)) {
            let raw = match &*unary.expr {
                Expr::Path(path) => path
                    .path
                    .get_ident()
                    .is_some_and(|ident| self.raw_pointers.contains(&ident.to_string())),
                other => is_pointer_expression(other),
            };
            if raw {
                self.operations.push("raw pointer dereference".to_owned());
            }
        }
        visit::visit_expr_unary(self, unary);
    }

    fn visit_expr_path(&mut self, path: &'ast syn::ExprPath) {
        if let Some(ident) = path.path.get_ident() {
            if self.mutable_statics.contains(&ident.to_string()) {
                self.operations.push(format!("use of `static mut {ident}`"));
            }
        }
        visit::visit_expr_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let name = last_segment(&mac.path);
        if ASM_MACROS.contains(&name.as_str()) {
            self.operations.push(format!("`{name}!`"));
        } else {
            visit_macro_expressions(self, mac);
        }
        visit::visit_macro(self, mac);
    }
}

impl<'ast> Visit<'ast> for UnsafeVisitor<'_, '_> {
    fn visit_stmt(&mut self, statement: &'ast syn::Stmt) {
        self.statement_lines.push(node_positions(statement).0.line);
        visit::visit_stmt(self, statement);
        self.statement_lines.pop();
    }

    fn visit_item_fn(&mut self, function: &'ast syn::ItemFn) {
        if function.sig.unsafety.is_some() {
            self.check_safety_doc(&function.attrs, "unsafe fn", &function.sig.ident);
        }
        self.enter_function(&function.sig.inputs, &function.block);
        let saved = std::mem::take(&mut self.statement_lines);
        visit::visit_item_fn(self, function);
        self.statement_lines = saved;
        self.raw_pointers.pop();
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        if let Some(token) = &item.unsafety {
            let (start, end) = node_positions(token);
            self.check_safety_comment("`unsafe impl`", start, end);
        }
        self.inherent_impl.push(item.trait_.is_none());
        visit::visit_item_impl(self, item);
        self.inherent_impl.pop();
    }

    fn visit_impl_item_fn(&mut self, function: &'ast syn::ImplItemFn) {
        // Trait impls inherit the trait's `# Safety` section.
        if function.sig.unsafety.is_some() && self.inherent_impl.last().copied().unwrap_or(true) {
            self.check_safety_doc(&function.attrs, "unsafe fn", &function.sig.ident);
        }
        self.enter_function(&function.sig.inputs, &function.block);
        let saved = std::mem::take(&mut self.statement_lines);
        visit::visit_impl_item_fn(self, function);
        self.statement_lines = saved;
        self.raw_pointers.pop();
    }

    fn visit_trait_item_fn(&mut self, function: &'ast syn::TraitItemFn) {
        if function.sig.unsafety.is_some() {
            self.check_safety_doc(&function.attrs, "unsafe fn", &function.sig.ident);
        }
        visit::visit_trait_item_fn(self, function);
    }

    fn visit_item_trait(&mut self, item: &'ast syn::ItemTrait) {
        if item.unsafety.is_some() {
            self.check_safety_doc(&item.attrs, "unsafe trait", &item.ident);
        }
        visit::visit_item_trait(self, item);
    }

    fn visit_item_static(&mut self, item: &'ast syn::ItemStatic) {
        if let syn::StaticMutability::Mut(token) = &item.mutability {
            self.cx.report(
                Rule::StaticMut,
                token.span,
                format!("`static mut {}`", item.ident),
            );
        }
        visit::visit_item_static(self, item);
    }

    fn visit_foreign_item_static(&mut self, item: &'ast syn::ForeignItemStatic) {
        if let syn::StaticMutability::Mut(token) = &item.mutability {
            self.cx.report(
                Rule::StaticMut,
                token.span,
                format!("`static mut {}` (foreign)", item.ident),
            );
        }
        visit::visit_foreign_item_static(self, item);
    }

    fn visit_item_macro(&mut self, item: &'ast syn::ItemMacro) {
        if item.mac.path.is_ident("macro_rules") {
            if let Some(span) = tokens_contain_ident(&item.mac.tokens, "unsafe") {
                let name = item
                    .ident
                    .as_ref()
                    .map_or_else(|| "?".to_owned(), ToString::to_string);
                self.cx.report(
                    Rule::UnsafeMacro,
                    span,
                    format!("`macro_rules! {name}` expands to `unsafe` code"),
                );
            }
        }
        visit::visit_item_macro(self, item);
    }

    fn visit_expr_unsafe(&mut self, block: &'ast syn::ExprUnsafe) {
        let (start, end) = node_positions(&block.unsafe_token);
        self.check_safety_comment("`unsafe` block", start, end);
        let empty = HashSet::new();
        let mut counter = OperationCounter {
            unsafe_functions: &self.cx.facts.unsafe_functions,
            mutable_statics: &self.cx.facts.mutable_statics,
            raw_pointers: self.raw_pointers.last().unwrap_or(&empty),
            operations: Vec::new(),
        };
        for statement in &block.block.stmts {
            counter.visit_stmt(statement);
        }
        let operations = counter.operations;
        if operations.len() > 1 {
            self.cx.report_at(
                Rule::UnsafeOpsPerBlock,
                start,
                end,
                format!(
                    "`unsafe` block with {} unsafe operations: {}",
                    operations.len(),
                    operations.join(", ")
                ),
            );
        }
        visit::visit_expr_unsafe(self, block);
    }
}
