//! MLR-17: no wildcard arm in a match over our own enums.
//!
//! Approximate: syn cannot tell an enum scrutinee from any other, so every catch-all arm (`_`
//! or a bare lower-case binding, without a guard) is reported, unless the match is visibly
//! over integers, characters, strings or booleans: every other arm is a literal, a range or
//! a `SCREAMING_CASE` constant (or a tuple or slice of those), or the scrutinee is itself a
//! literal or an `as` cast. Such matches cannot list every value, so a catch-all is required
//! there. A `_` over a foreign enum (`core::cmp::Ordering`) is reported too, and is then
//! either rewritten or justified; Clippy's `wildcard_enum_match_arm` knows the types and
//! replaces these findings for every crate Clippy ran on.

use syn::visit::{self, Visit};
use syn::{Expr, Pat};

use super::Cx;
use crate::rules::Rule;
use crate::syntax::{is_screaming, node_positions};

/// Runs the pass.
pub fn check(cx: &mut Cx<'_>, ast: &syn::File) {
    WildcardVisitor { cx }.visit_file(ast);
}

struct WildcardVisitor<'c, 'a> {
    cx: &'c mut Cx<'a>,
}

fn is_catch_all(pattern: &Pat) -> bool {
    match pattern {
        Pat::Wild(_) => true,
        Pat::Ident(ident) => {
            ident.subpat.is_none() && !ident.ident.to_string().starts_with(char::is_uppercase)
        }
        Pat::Paren(inner) => is_catch_all(&inner.pat),
        Pat::Or(alternatives) => alternatives.cases.iter().any(is_catch_all),
        _ => false,
    }
}

/// A pattern over values that are not enums: literals, ranges, constants.
fn is_value_pattern(pattern: &Pat) -> bool {
    match pattern {
        Pat::Lit(_) | Pat::Range(_) | Pat::Wild(_) | Pat::Rest(_) => true,
        Pat::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|s| is_screaming(&s.ident.to_string())),
        Pat::Ident(ident) => ident
            .subpat
            .as_ref()
            .is_some_and(|(_, sub)| is_value_pattern(sub)),
        Pat::Or(alternatives) => alternatives.cases.iter().all(is_value_pattern),
        Pat::Tuple(tuple) => tuple.elems.iter().all(is_value_pattern),
        Pat::Slice(slice) => slice.elems.iter().all(is_value_pattern),
        Pat::Paren(inner) => is_value_pattern(&inner.pat),
        Pat::Reference(reference) => is_value_pattern(&reference.pat),
        _ => false,
    }
}

fn is_value_scrutinee(expr: &Expr) -> bool {
    match expr {
        Expr::Lit(_) | Expr::Cast(_) => true,
        Expr::Paren(inner) => is_value_scrutinee(&inner.expr),
        _ => false,
    }
}

impl<'ast> Visit<'ast> for WildcardVisitor<'_, '_> {
    fn visit_expr_match(&mut self, expression: &'ast syn::ExprMatch) {
        let catch_alls: Vec<&syn::Arm> = expression
            .arms
            .iter()
            .filter(|arm| arm.guard.is_none() && is_catch_all(&arm.pat))
            .collect();
        let others_are_values = expression
            .arms
            .iter()
            .filter(|arm| !(arm.guard.is_none() && is_catch_all(&arm.pat)))
            .all(|arm| is_value_pattern(&arm.pat));
        let has_others = expression.arms.len() > catch_alls.len();
        let over_values = is_value_scrutinee(&expression.expr) || (has_others && others_are_values);
        if !over_values && has_others {
            for arm in catch_alls {
                let (start, end) = node_positions(&arm.pat);
                self.cx.report_at(
                    Rule::WildcardArm,
                    start,
                    end,
                    "catch-all arm: a variant added later would fall into it silently",
                );
            }
        }
        visit::visit_expr_match(self, expression);
    }
}
