//! MLR-08: no floating point in EL2 code.
//!
//! Exact for what is written: the types `f16`/`f32`/`f64`/`f128` (in any type position,
//! including `as f32`), float literals (`1.0`, `1e3`, `2f32`) and paths into the float
//! modules (`f32::MAX`). Floating point reached through a dependency is not visible here; the
//! soft-float target keeps it out of the FP/SIMD registers, which is what the rule protects.

use syn::visit::{self, Visit};

use super::Cx;
use crate::rules::Rule;
use crate::syntax::visit_macro_expressions;

const FLOAT_TYPES: &[&str] = &["f16", "f32", "f64", "f128"];

/// Runs the pass.
pub fn check(cx: &mut Cx<'_>, ast: &syn::File) {
    FloatVisitor { cx }.visit_file(ast);
}

struct FloatVisitor<'c, 'a> {
    cx: &'c mut Cx<'a>,
}

impl<'ast> Visit<'ast> for FloatVisitor<'_, '_> {
    fn visit_type_path(&mut self, path: &'ast syn::TypePath) {
        if let Some(segment) = path.path.segments.last() {
            let name = segment.ident.to_string();
            if FLOAT_TYPES.contains(&name.as_str()) {
                self.cx.report(
                    Rule::FloatingPoint,
                    segment.ident.span(),
                    format!("floating-point type `{name}`"),
                );
            }
        }
        visit::visit_type_path(self, path);
    }

    fn visit_expr_path(&mut self, path: &'ast syn::ExprPath) {
        if path.path.segments.len() >= 2 {
            if let Some(first) = path.path.segments.first() {
                let name = first.ident.to_string();
                if FLOAT_TYPES.contains(&name.as_str()) {
                    self.cx.report(
                        Rule::FloatingPoint,
                        first.ident.span(),
                        format!("floating-point item `{name}::..`"),
                    );
                }
            }
        }
        visit::visit_expr_path(self, path);
    }

    fn visit_lit_int(&mut self, literal: &'ast syn::LitInt) {
        // `2f32` lexes as an integer literal with a float suffix.
        if FLOAT_TYPES.contains(&literal.suffix()) {
            self.cx.report(
                Rule::FloatingPoint,
                literal.span(),
                format!("floating-point literal `{literal}`"),
            );
        }
        visit::visit_lit_int(self, literal);
    }

    fn visit_lit_float(&mut self, literal: &'ast syn::LitFloat) {
        self.cx.report(
            Rule::FloatingPoint,
            literal.span(),
            format!("floating-point literal `{literal}`"),
        );
        visit::visit_lit_float(self, literal);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        visit_macro_expressions(self, mac);
        visit::visit_macro(self, mac);
    }
}
