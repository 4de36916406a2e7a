//! MLR-18: every `Result` and `#[must_use]` value is used.
//!
//! rustc's `unused_must_use` (denied workspace-wide) catches a dropped value in statement
//! position; what it lets through is `let _ = value;`, which silences it. This pass reports
//! every `let _ = ..` without a type annotation (as Clippy's `let_underscore_untyped` does):
//! writing the type (`let _: Result<(), Error> = ..`) makes the discarding visible and
//! deliberate. Exact on the syntax.

use syn::Pat;
use syn::visit::{self, Visit};

use super::Cx;
use crate::rules::Rule;
use crate::syntax::node_positions;

/// Runs the pass.
pub fn check(cx: &mut Cx<'_>, ast: &syn::File) {
    LetUnderscoreVisitor { cx }.visit_file(ast);
}

struct LetUnderscoreVisitor<'c, 'a> {
    cx: &'c mut Cx<'a>,
}

impl<'ast> Visit<'ast> for LetUnderscoreVisitor<'_, '_> {
    fn visit_local(&mut self, local: &'ast syn::Local) {
        if matches!(local.pat, Pat::Wild(_)) && local.init.is_some() {
            let (start, end) = node_positions(&local.pat);
            self.cx.report_at(
                Rule::UnusedResult,
                start,
                end,
                "`let _ = ..` discards a value without naming its type",
            );
        }
        visit::visit_local(self, local);
    }
}
