//! MLR-02, MLR-03, MLR-04: the panicking constructs a reader can see.
//!
//! - MLR-02: `panic!`, `todo!`, `unimplemented!`, `unreachable!` and the `assert!` family
//!   (exact: macro names; a renamed import of them is missed). `const` contexts are exempt:
//!   a failing `const _: () = assert!(..)` stops the build, not the hypervisor.
//! - MLR-03: `.unwrap()`, `.expect(..)`, `.unwrap_err()`, `.expect_err(..)` and the
//!   `Option::unwrap(x)` path form (approximate: by method name, whatever the receiver type).
//! - MLR-04: `a[i]` and `a[i..j]` (approximate: every index expression; Clippy's
//!   `indexing_slicing` knows the types and replaces these findings when it ran).
//!
//! Panics inside called library code are MLR-27's business (the release-ELF check).

use syn::visit::{self, Visit};

use super::Cx;
use crate::rules::Rule;
use crate::syntax::{last_segment, last_segment_span, segments, visit_macro_expressions};

const PANIC_MACROS: &[&str] = &[
    "panic",
    "todo",
    "unimplemented",
    "unreachable",
    "assert",
    "assert_eq",
    "assert_ne",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
];

/// Runs the pass.
pub fn check(cx: &mut Cx<'_>, ast: &syn::File) {
    PanicVisitor { cx }.visit_file(ast);
}

struct PanicVisitor<'c, 'a> {
    cx: &'c mut Cx<'a>,
}

impl<'ast> Visit<'ast> for PanicVisitor<'_, '_> {
    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let name = last_segment(&mac.path);
        if PANIC_MACROS.contains(&name.as_str()) {
            let span = last_segment_span(&mac.path);
            self.cx.report(
                Rule::PanicMacro,
                span,
                format!("`{name}!` panics at run time"),
            );
        }
        visit_macro_expressions(self, mac);
        visit::visit_macro(self, mac);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        let name = call.method.to_string();
        let panicking = match name.as_str() {
            "unwrap" | "unwrap_err" => call.args.is_empty(),
            "expect" | "expect_err" => call.args.len() == 1,
            _ => false,
        };
        if panicking {
            self.cx.report(
                Rule::UnwrapExpect,
                call.method.span(),
                format!("`.{name}()` panics on the error case"),
            );
        }
        visit::visit_expr_method_call(self, call);
    }

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if let syn::Expr::Path(path) = &*call.func {
            let names = segments(&path.path);
            if let [.., owner, method] = names.as_slice() {
                let owner_is_option_or_result = owner == "Option" || owner == "Result";
                if owner_is_option_or_result && matches!(method.as_str(), "unwrap" | "expect") {
                    let span = last_segment_span(&path.path);
                    self.cx.report(
                        Rule::UnwrapExpect,
                        span,
                        format!("`{owner}::{method}` panics on the error case"),
                    );
                }
            }
        }
        visit::visit_expr_call(self, call);
    }

    fn visit_expr_index(&mut self, index: &'ast syn::ExprIndex) {
        let what = if matches!(&*index.index, syn::Expr::Range(_)) {
            "slicing"
        } else {
            "indexing"
        };
        self.cx.report(
            Rule::Indexing,
            index.bracket_token.span.join(),
            format!("{what} panics when out of bounds"),
        );
        visit::visit_expr_index(self, index);
    }
}
