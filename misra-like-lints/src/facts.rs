//! Facts about a whole crate that per-file passes need: which functions are `unsafe`, which
//! statics are `static mut`, the values of integer constants, and whether the crate uses
//! `unsafe` at all.
//!
//! Names are collected without module paths (an approximation: two items with the same name
//! in different modules are merged), which only ever makes the unsafe-operation count of
//! MLR-12 larger, never smaller.

use std::collections::{HashMap, HashSet};

use syn::visit::{self, Visit};
use syn::{BinOp, Expr, Lit};

use crate::unit::FileUnit;

/// Crate-wide facts.
#[derive(Clone, Debug, Default)]
pub struct CrateFacts {
    /// Names of functions and methods declared `unsafe` (and functions of `extern` blocks).
    pub unsafe_functions: HashSet<String>,
    /// Names of `static mut` items.
    pub mutable_statics: HashSet<String>,
    /// Integer constants whose value is computable from literals and other constants.
    pub constants: HashMap<String, u128>,
    /// The crate contains the `unsafe` keyword or an attribute that needs it.
    pub uses_unsafe: bool,
}

impl CrateFacts {
    /// Collects the facts of the files of one crate.
    pub fn collect<'a>(units: impl IntoIterator<Item = &'a FileUnit>) -> CrateFacts {
        let mut collector = FactCollector::default();
        for unit in units {
            if let Ok(ast) = &unit.ast {
                collector.visit_file(ast);
            }
            // Cheap pre-filter on the text, then the lexer decides (comments do not count).
            // `global_asm!` counts: rustc's `unsafe_code` lint rejects it under `forbid`.
            let mentioned = ["unsafe", "no_mangle", "export_name", "link_section", "global_asm"];
            if !collector.facts.uses_unsafe
                && mentioned.iter().any(|name| unit.source.text.contains(name))
            {
                if let Ok(tokens) = unit.source.text.parse::<proc_macro2::TokenStream>() {
                    if mentioned
                        .iter()
                        .any(|name| crate::syntax::tokens_contain_ident(&tokens, name).is_some())
                    {
                        collector.facts.uses_unsafe = true;
                    }
                }
            }
        }
        let mut facts = collector.facts;
        // Constants may refer to each other in any order: evaluate until nothing changes.
        // BOUND: each round either adds a constant or ends; there are finitely many.
        loop {
            let before = facts.constants.len();
            for (name, expr) in &collector.constant_exprs {
                if facts.constants.contains_key(name) {
                    continue;
                }
                if let Some(value) = evaluate(expr, &facts.constants) {
                    facts.constants.insert(name.clone(), value);
                }
            }
            if facts.constants.len() == before {
                break;
            }
        }
        facts
    }
}

#[derive(Default)]
struct FactCollector {
    facts: CrateFacts,
    constant_exprs: Vec<(String, Expr)>,
}

impl<'ast> Visit<'ast> for FactCollector {
    fn visit_item_fn(&mut self, function: &'ast syn::ItemFn) {
        if function.sig.unsafety.is_some() {
            self.facts
                .unsafe_functions
                .insert(function.sig.ident.to_string());
        }
        visit::visit_item_fn(self, function);
    }

    fn visit_impl_item_fn(&mut self, function: &'ast syn::ImplItemFn) {
        if function.sig.unsafety.is_some() {
            self.facts
                .unsafe_functions
                .insert(function.sig.ident.to_string());
        }
        visit::visit_impl_item_fn(self, function);
    }

    fn visit_trait_item_fn(&mut self, function: &'ast syn::TraitItemFn) {
        if function.sig.unsafety.is_some() {
            self.facts
                .unsafe_functions
                .insert(function.sig.ident.to_string());
        }
        visit::visit_trait_item_fn(self, function);
    }

    fn visit_foreign_item_fn(&mut self, function: &'ast syn::ForeignItemFn) {
        // Calling a foreign function is unsafe (syn keeps edition-2024 `safe fn` items as
        // verbatim tokens, so they never reach this point).
        self.facts
            .unsafe_functions
            .insert(function.sig.ident.to_string());
        visit::visit_foreign_item_fn(self, function);
    }

    fn visit_item_static(&mut self, item: &'ast syn::ItemStatic) {
        if matches!(item.mutability, syn::StaticMutability::Mut(_)) {
            self.facts.mutable_statics.insert(item.ident.to_string());
        }
        visit::visit_item_static(self, item);
    }

    fn visit_item_const(&mut self, item: &'ast syn::ItemConst) {
        self.constant_exprs
            .push((item.ident.to_string(), (*item.expr).clone()));
        visit::visit_item_const(self, item);
    }

    fn visit_impl_item_const(&mut self, item: &'ast syn::ImplItemConst) {
        self.constant_exprs
            .push((item.ident.to_string(), item.expr.clone()));
        visit::visit_impl_item_const(self, item);
    }
}

/// Evaluates an integer constant expression built from literals, known constants, casts,
/// parentheses and `+ - * / % << >> | & ^`. `None` when anything else appears or it
/// overflows.
pub fn evaluate(expr: &Expr, constants: &HashMap<String, u128>) -> Option<u128> {
    match expr {
        Expr::Lit(literal) => match &literal.lit {
            Lit::Int(int) => int.base10_parse::<u128>().ok(),
            _ => None,
        },
        Expr::Path(path) => {
            let name = path.path.segments.last()?.ident.to_string();
            constants.get(&name).copied()
        }
        Expr::Paren(inner) => evaluate(&inner.expr, constants),
        Expr::Group(inner) => evaluate(&inner.expr, constants),
        Expr::Cast(cast) => evaluate(&cast.expr, constants),
        Expr::Binary(binary) => {
            let left = evaluate(&binary.left, constants)?;
            let right = evaluate(&binary.right, constants)?;
            match binary.op {
                BinOp::Add(_) => left.checked_add(right),
                BinOp::Sub(_) => left.checked_sub(right),
                BinOp::Mul(_) => left.checked_mul(right),
                BinOp::Div(_) => left.checked_div(right),
                BinOp::Rem(_) => left.checked_rem(right),
                BinOp::Shl(_) => u32::try_from(right)
                    .ok()
                    .and_then(|shift| left.checked_shl(shift)),
                BinOp::Shr(_) => u32::try_from(right)
                    .ok()
                    .and_then(|shift| left.checked_shr(shift)),
                BinOp::BitOr(_) => Some(left | right),
                BinOp::BitAnd(_) => Some(left & right),
                BinOp::BitXor(_) => Some(left ^ right),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(source: &str, constants: &HashMap<String, u128>) -> Option<u128> {
        let expr: Expr = syn::parse_str(source).ok()?;
        evaluate(&expr, constants)
    }

    #[test]
    fn constant_expressions_evaluate() {
        let mut constants = HashMap::new();
        constants.insert("PAGE".to_owned(), 4096);
        assert_eq!(value("4 * 1024", &constants), Some(4096));
        assert_eq!(value("PAGE << 2", &constants), Some(16384));
        assert_eq!(value("(PAGE - 1) as usize", &constants), Some(4095));
        assert_eq!(value("UNKNOWN + 1", &constants), None);
        assert_eq!(value("0 - 1", &constants), None);
    }
}
