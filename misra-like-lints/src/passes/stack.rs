//! MLR-19: no large arrays on the stack.
//!
//! Inside function bodies: `let` bindings with an array type, array repeat expressions
//! `[x; N]`, and array-typed parameters and return values (passed by value), whose size
//! exceeds `[stack] array_limit_bytes`. The size is the element size times the length; the
//! length is evaluated from literals and the crate's integer constants, the element size is
//! known for primitive types, references and pointers, tuples and nested arrays, and taken as
//! one byte otherwise (a lower bound). Approximate: an unknown length is not reported, and a
//! struct containing an array is seen only by Clippy's `large_stack_arrays` /
//! `large_stack_frames`. `static` and `const` arrays are not on the stack and pass.

use syn::visit::{self, Visit};
use syn::{Expr, Type};

use super::Cx;
use crate::facts::evaluate;
use crate::rules::Rule;
use crate::syntax::last_segment;

/// Runs the pass.
pub fn check(cx: &mut Cx<'_>, ast: &syn::File) {
    let limit = cx.settings.stack.array_limit_bytes;
    StackVisitor {
        cx,
        limit,
        in_function: 0,
    }
    .visit_file(ast);
}

struct StackVisitor<'c, 'a> {
    cx: &'c mut Cx<'a>,
    limit: u64,
    in_function: usize,
}

fn primitive_size(name: &str) -> Option<u128> {
    Some(match name {
        "u8" | "i8" | "bool" => 1,
        "u16" | "i16" => 2,
        "u32" | "i32" | "f32" | "char" => 4,
        "u64" | "i64" | "f64" | "usize" | "isize" => 8,
        "u128" | "i128" => 16,
        _ => return None,
    })
}

impl StackVisitor<'_, '_> {
    fn length(&self, expr: &Expr) -> Option<u128> {
        evaluate(expr, &self.cx.facts.constants)
    }

    /// Size in bytes of a type; `None` when it is not an array of known length.
    fn type_size(&self, ty: &Type) -> Option<u128> {
        match ty {
            Type::Array(array) => {
                let element = self.type_size(&array.elem).unwrap_or(1);
                element.checked_mul(self.length(&array.len)?)
            }
            Type::Path(path) if path.qself.is_none() => primitive_size(&last_segment(&path.path)),
            Type::Reference(_) | Type::Ptr(_) => Some(8),
            Type::Tuple(tuple) => tuple.elems.iter().try_fold(0u128, |total, elem| {
                total.checked_add(self.type_size(elem).unwrap_or(1))
            }),
            Type::Paren(inner) => self.type_size(&inner.elem),
            Type::Group(inner) => self.type_size(&inner.elem),
            _ => None,
        }
    }

    fn literal_size(expr: &Expr) -> u128 {
        match expr {
            Expr::Lit(literal) => match &literal.lit {
                syn::Lit::Int(int) => primitive_size(int.suffix()).unwrap_or(1),
                syn::Lit::Float(float) => primitive_size(float.suffix()).unwrap_or(8),
                syn::Lit::Bool(_) | syn::Lit::Byte(_) => 1,
                syn::Lit::Char(_) => 4,
                _ => 1,
            },
            _ => 1,
        }
    }

    fn report(&mut self, span: proc_macro2::Span, size: u128, what: &str) {
        if size > u128::from(self.limit) {
            self.cx.report(
                Rule::StackArray,
                span,
                format!(
                    "{what} of {size} bytes on the stack (limit {} bytes)",
                    self.limit
                ),
            );
        }
    }

    fn signature(&mut self, signature: &syn::Signature) {
        for input in &signature.inputs {
            if let syn::FnArg::Typed(typed) = input {
                if matches!(&*typed.ty, Type::Array(_)) {
                    if let Some(size) = self.type_size(&typed.ty) {
                        self.report(
                            syn::spanned::Spanned::span(&typed.ty),
                            size,
                            "array parameter",
                        );
                    }
                }
            }
        }
        if let syn::ReturnType::Type(_, ty) = &signature.output {
            if matches!(&**ty, Type::Array(_)) {
                if let Some(size) = self.type_size(ty) {
                    self.report(
                        syn::spanned::Spanned::span(&**ty),
                        size,
                        "array return value",
                    );
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for StackVisitor<'_, '_> {
    fn visit_item_fn(&mut self, function: &'ast syn::ItemFn) {
        self.signature(&function.sig);
        self.in_function = self.in_function.saturating_add(1);
        visit::visit_block(self, &function.block);
        self.in_function = self.in_function.saturating_sub(1);
    }

    fn visit_impl_item_fn(&mut self, function: &'ast syn::ImplItemFn) {
        self.signature(&function.sig);
        self.in_function = self.in_function.saturating_add(1);
        visit::visit_block(self, &function.block);
        self.in_function = self.in_function.saturating_sub(1);
    }

    fn visit_item_const(&mut self, _item: &'ast syn::ItemConst) {}

    fn visit_item_static(&mut self, _item: &'ast syn::ItemStatic) {}

    fn visit_local(&mut self, local: &'ast syn::Local) {
        let typed_array = match &local.pat {
            syn::Pat::Type(typed) if self.in_function > 0 => self
                .type_size(&typed.ty)
                .map(|size| (syn::spanned::Spanned::span(&typed.ty), size)),
            _ => None,
        };
        let Some((span, size)) = typed_array else {
            return visit::visit_local(self, local);
        };
        self.report(span, size, "array");
        // The initialiser's repeat expression is that same array: look only inside it.
        if let Some(init) = &local.init {
            match &*init.expr {
                Expr::Repeat(repeat) => self.visit_expr(&repeat.expr),
                other => self.visit_expr(other),
            }
        }
    }

    fn visit_expr_repeat(&mut self, repeat: &'ast syn::ExprRepeat) {
        if self.in_function > 0 {
            if let Some(length) = self.length(&repeat.len) {
                let size = Self::literal_size(&repeat.expr).saturating_mul(length);
                self.report(repeat.bracket_token.span.join(), size, "array");
            }
        }
        visit::visit_expr_repeat(self, repeat);
    }
}
