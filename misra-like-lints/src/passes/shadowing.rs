//! MLR-16: no binding shadows another binding of the same function.
//!
//! Every binding a pattern introduces (`let`, `if let`/`while let`, `match` arms, `for`,
//! closure parameters) is checked against the names already bound in the enclosing scopes of
//! the same function, parameters included; rebinding in the same block (`let x = x + 1;`) is
//! shadowing too. Nested `fn` items start afresh (they cannot see the outer locals).
//! Approximate in two ways: bindings made inside macro invocations are not seen, and an
//! identifier pattern starting with an upper-case letter is taken to be a constant or unit
//! variant, not a binding.

use syn::visit::Visit;
use syn::{Expr, Pat};

use super::Cx;
use crate::finding::Position;
use crate::rules::Rule;
use crate::syntax::node_positions;

/// Runs the pass.
pub fn check(cx: &mut Cx<'_>, ast: &syn::File) {
    ShadowVisitor {
        cx,
        scopes: Vec::new(),
    }
    .visit_file(ast);
}

struct ShadowVisitor<'c, 'a> {
    cx: &'c mut Cx<'a>,
    /// Scopes of the current function, outermost (parameters) first.
    scopes: Vec<Vec<(String, Position)>>,
}

/// The identifiers a pattern binds.
fn bindings(pattern: &Pat, out: &mut Vec<syn::Ident>) {
    match pattern {
        Pat::Ident(ident) => {
            let name = ident.ident.to_string();
            let looks_like_binding = !name.starts_with(char::is_uppercase)
                || ident.by_ref.is_some()
                || ident.mutability.is_some();
            if looks_like_binding {
                out.push(ident.ident.clone());
            }
            if let Some((_, sub)) = &ident.subpat {
                bindings(sub, out);
            }
        }
        Pat::Struct(structure) => {
            for field in &structure.fields {
                bindings(&field.pat, out);
            }
        }
        Pat::TupleStruct(tuple) => tuple.elems.iter().for_each(|elem| bindings(elem, out)),
        Pat::Tuple(tuple) => tuple.elems.iter().for_each(|elem| bindings(elem, out)),
        Pat::Slice(slice) => slice.elems.iter().for_each(|elem| bindings(elem, out)),
        Pat::Reference(reference) => bindings(&reference.pat, out),
        Pat::Type(typed) => bindings(&typed.pat, out),
        Pat::Paren(inner) => bindings(&inner.pat, out),
        // Every alternative binds the same names.
        Pat::Or(alternatives) => {
            if let Some(first) = alternatives.cases.first() {
                bindings(first, out);
            }
        }
        _ => {}
    }
}

impl ShadowVisitor<'_, '_> {
    fn bind(&mut self, pattern: &Pat) {
        let mut names = Vec::new();
        bindings(pattern, &mut names);
        for ident in names {
            let name = ident.to_string();
            let previous = self
                .scopes
                .iter()
                .flat_map(|scope| scope.iter())
                .find(|(bound, _)| *bound == name)
                .map(|(_, position)| *position);
            let (position, end) = node_positions(&ident);
            if let Some(previous) = previous {
                self.cx.report_at(
                    Rule::Shadowing,
                    position,
                    end,
                    format!("`{name}` shadows the binding on line {}", previous.line),
                );
            }
            if let Some(scope) = self.scopes.last_mut() {
                scope.push((name, position));
            }
        }
    }

    fn with_scope(&mut self, body: impl FnOnce(&mut Self)) {
        self.scopes.push(Vec::new());
        body(self);
        self.scopes.pop();
    }

    fn function(
        &mut self,
        inputs: &syn::punctuated::Punctuated<syn::FnArg, syn::Token![,]>,
        block: &syn::Block,
    ) {
        let saved = std::mem::take(&mut self.scopes);
        self.scopes.push(Vec::new());
        for input in inputs {
            if let syn::FnArg::Typed(typed) = input {
                self.bind(&typed.pat);
            }
        }
        self.visit_block(block);
        self.scopes = saved;
    }

    /// A condition of `if`/`while`: its `let` bindings scope over the body.
    fn condition(&mut self, condition: &Expr) {
        match condition {
            Expr::Let(binding) => {
                self.visit_expr(&binding.expr);
                self.bind(&binding.pat);
            }
            Expr::Binary(binary) if matches!(binary.op, syn::BinOp::And(_)) => {
                self.condition(&binary.left);
                self.condition(&binary.right);
            }
            other => self.visit_expr(other),
        }
    }
}

impl<'ast> Visit<'ast> for ShadowVisitor<'_, '_> {
    fn visit_item_fn(&mut self, function: &'ast syn::ItemFn) {
        self.function(&function.sig.inputs, &function.block);
    }

    fn visit_impl_item_fn(&mut self, function: &'ast syn::ImplItemFn) {
        self.function(&function.sig.inputs, &function.block);
    }

    fn visit_trait_item_fn(&mut self, function: &'ast syn::TraitItemFn) {
        if let Some(block) = &function.default {
            self.function(&function.sig.inputs, block);
        }
    }

    fn visit_block(&mut self, block: &'ast syn::Block) {
        self.with_scope(|this| {
            for statement in &block.stmts {
                this.visit_stmt(statement);
            }
        });
    }

    fn visit_local(&mut self, local: &'ast syn::Local) {
        if let Some(init) = &local.init {
            self.visit_expr(&init.expr);
            if let Some((_, otherwise)) = &init.diverge {
                self.visit_expr(otherwise);
            }
        }
        self.bind(&local.pat);
    }

    fn visit_expr_closure(&mut self, closure: &'ast syn::ExprClosure) {
        self.with_scope(|this| {
            for input in &closure.inputs {
                this.bind(input);
            }
            this.visit_expr(&closure.body);
        });
    }

    fn visit_expr_if(&mut self, expression: &'ast syn::ExprIf) {
        self.with_scope(|this| {
            this.condition(&expression.cond);
            this.visit_block(&expression.then_branch);
        });
        if let Some((_, otherwise)) = &expression.else_branch {
            self.visit_expr(otherwise);
        }
    }

    fn visit_expr_while(&mut self, expression: &'ast syn::ExprWhile) {
        self.with_scope(|this| {
            this.condition(&expression.cond);
            this.visit_block(&expression.body);
        });
    }

    fn visit_expr_for_loop(&mut self, expression: &'ast syn::ExprForLoop) {
        self.visit_expr(&expression.expr);
        self.with_scope(|this| {
            this.bind(&expression.pat);
            this.visit_block(&expression.body);
        });
    }

    fn visit_arm(&mut self, arm: &'ast syn::Arm) {
        self.with_scope(|this| {
            this.bind(&arm.pat);
            if let Some((_, guard)) = &arm.guard {
                this.condition(guard);
            }
            this.visit_expr(&arm.body);
        });
    }

    fn visit_expr_let(&mut self, binding: &'ast syn::ExprLet) {
        self.visit_expr(&binding.expr);
        self.bind(&binding.pat);
    }
}
