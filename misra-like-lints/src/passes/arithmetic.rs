//! MLR-05: integer arithmetic states its overflow behaviour.
//!
//! Approximate: syn has no types, so every `+ - * / % << >>` (and their `op=` forms, and
//! unary `-`) outside compile-time contexts is reported unless both operands are literals or
//! `SCREAMING_CASE` constants (folded by the compiler, where overflow is a build error).
//! Clippy's `arithmetic_side_effects` knows the types and replaces these findings for every
//! crate Clippy ran on.

use syn::visit::{self, Visit};
use syn::{BinOp, Expr, UnOp};

use super::Cx;
use crate::rules::Rule;
use crate::syntax::{is_screaming, visit_macro_expressions};

/// Runs the pass.
pub fn check(cx: &mut Cx<'_>, ast: &syn::File) {
    ArithmeticVisitor { cx }.visit_file(ast);
}

struct ArithmeticVisitor<'c, 'a> {
    cx: &'c mut Cx<'a>,
}

fn operator(op: &BinOp) -> Option<&'static str> {
    Some(match op {
        BinOp::Add(_) => "+",
        BinOp::Sub(_) => "-",
        BinOp::Mul(_) => "*",
        BinOp::Div(_) => "/",
        BinOp::Rem(_) => "%",
        BinOp::Shl(_) => "<<",
        BinOp::Shr(_) => ">>",
        BinOp::AddAssign(_) => "+=",
        BinOp::SubAssign(_) => "-=",
        BinOp::MulAssign(_) => "*=",
        BinOp::DivAssign(_) => "/=",
        BinOp::RemAssign(_) => "%=",
        BinOp::ShlAssign(_) => "<<=",
        BinOp::ShrAssign(_) => ">>=",
        _ => return None,
    })
}

/// Literals, constants and arithmetic on them: folded at compile time.
fn is_constant(expr: &Expr) -> bool {
    match expr {
        Expr::Lit(_) => true,
        Expr::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|s| is_screaming(&s.ident.to_string())),
        Expr::Paren(inner) => is_constant(&inner.expr),
        Expr::Group(inner) => is_constant(&inner.expr),
        Expr::Cast(cast) => is_constant(&cast.expr),
        Expr::Unary(unary) => is_constant(&unary.expr),
        Expr::Binary(binary) => is_constant(&binary.left) && is_constant(&binary.right),
        _ => false,
    }
}

impl<'ast> Visit<'ast> for ArithmeticVisitor<'_, '_> {
    fn visit_expr_binary(&mut self, binary: &'ast syn::ExprBinary) {
        if let Some(symbol) = operator(&binary.op) {
            if !(is_constant(&binary.left) && is_constant(&binary.right)) {
                self.cx.report(
                    Rule::Arithmetic,
                    syn::spanned::Spanned::span(&binary.op),
                    format!(
                        "`{symbol}` can overflow (or divide by zero) without saying what happens"
                    ),
                );
            }
        }
        visit::visit_expr_binary(self, binary);
    }

    fn visit_expr_unary(&mut self, unary: &'ast syn::ExprUnary) {
        if matches!(unary.op, UnOp::Neg(_)) && !is_constant(&unary.expr) {
            self.cx.report(
                Rule::Arithmetic,
                syn::spanned::Spanned::span(&unary.op),
                "unary `-` can overflow on the minimum value",
            );
        }
        visit::visit_expr_unary(self, unary);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        visit_macro_expressions(self, mac);
        visit::visit_macro(self, mac);
    }
}
