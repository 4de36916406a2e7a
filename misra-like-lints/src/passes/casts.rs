//! MLR-06 (numeric `as`) and MLR-07 (pointer/integer casts outside the MMIO layer).
//!
//! Approximate, because syn has no types. An operand is "visibly a pointer" when it is a
//! reference or pointer expression (`&x`, a pointer cast, `.as_ptr()`, `addr_of!`) or a
//! parameter or `let` of the enclosing function declared with (or initialised as) a
//! reference or pointer type. A cast to an integer, `char` or `_` is numeric unless its
//! operand is visibly a pointer, in which case it is a pointer-to-integer cast; an enum
//! variant path (`Kind::Data as u8`) is a discriminant read and passes, since no `From`
//! exists for it. A cast to a raw pointer whose operand is not visibly a pointer is taken
//! as an integer-to-pointer cast (an unknown operand is reported, not assumed safe). The
//! provenance functions (`with_exposed_provenance`, `expose_provenance`, ..) count as
//! pointer/integer casts too. Float targets are MLR-08's.

use std::collections::HashMap;

use syn::visit::{self, Visit};
use syn::{Expr, Type};

use super::Cx;
use crate::rules::Rule;
use crate::syntax::{is_upper_camel, last_segment, last_segment_span, visit_macro_expressions};

const INTEGER_TYPES: &[&str] = &[
    "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize", "char",
];
const PROVENANCE_FUNCTIONS: &[&str] = &[
    "with_exposed_provenance",
    "with_exposed_provenance_mut",
    "without_provenance",
    "without_provenance_mut",
    "expose_provenance",
    "from_exposed_addr",
    "from_exposed_addr_mut",
];

/// Runs the pass.
pub fn check(cx: &mut Cx<'_>, ast: &syn::File) {
    let in_mmio_layer = cx.in_layer(&cx.settings.layers.mmio);
    CastVisitor {
        cx,
        in_mmio_layer,
        kinds: Vec::new(),
    }
    .visit_file(ast);
}

struct CastVisitor<'c, 'a> {
    cx: &'c mut Cx<'a>,
    in_mmio_layer: bool,
    /// Per enclosing function: what its parameters and typed/obvious `let`s hold.
    kinds: Vec<HashMap<String, ValueKind>>,
}

/// What a local visibly holds, from its declared type or its initialiser.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ValueKind {
    Pointer,
    Integer,
}

fn kind_of_type(ty: &Type) -> Option<ValueKind> {
    match ty {
        Type::Reference(_) | Type::Ptr(_) => Some(ValueKind::Pointer),
        Type::Path(path) if path.qself.is_none() && path.path.segments.len() == 1 => INTEGER_TYPES
            .contains(&last_segment(&path.path).as_str())
            .then_some(ValueKind::Integer),
        _ => None,
    }
}

/// Collects what the parameters and `let`s of one function body hold.
fn collect_kinds(
    inputs: &syn::punctuated::Punctuated<syn::FnArg, syn::Token![,]>,
    body: &syn::Block,
) -> HashMap<String, ValueKind> {
    struct Lets<'k>(&'k mut HashMap<String, ValueKind>);
    impl<'ast> Visit<'ast> for Lets<'_> {
        fn visit_local(&mut self, local: &'ast syn::Local) {
            let (pattern, declared) = match &local.pat {
                syn::Pat::Type(typed) => (&*typed.pat, kind_of_type(&typed.ty)),
                other => (other, None),
            };
            let inferred = local.init.as_ref().and_then(|init| match &*init.expr {
                Expr::Cast(cast) => kind_of_type(&cast.ty),
                other if is_pointer_like(other) => Some(ValueKind::Pointer),
                _ => None,
            });
            if let (syn::Pat::Ident(ident), Some(kind)) = (pattern, declared.or(inferred)) {
                self.0.insert(ident.ident.to_string(), kind);
            }
            visit::visit_local(self, local);
        }
    }
    let mut kinds = HashMap::new();
    for input in inputs {
        if let syn::FnArg::Typed(typed) = input {
            if let (syn::Pat::Ident(ident), Some(kind)) = (&*typed.pat, kind_of_type(&typed.ty)) {
                kinds.insert(ident.ident.to_string(), kind);
            }
        }
    }
    Lets(&mut kinds).visit_block(body);
    kinds
}

/// What a cast's target type is.
enum Target {
    Integer(String),
    Inferred,
    Pointer,
    Other,
}

fn target(ty: &Type) -> Target {
    match ty {
        Type::Ptr(_) => Target::Pointer,
        Type::Infer(_) => Target::Inferred,
        Type::Path(path) if path.qself.is_none() && path.path.segments.len() == 1 => {
            let name = last_segment(&path.path);
            if INTEGER_TYPES.contains(&name.as_str()) {
                Target::Integer(name)
            } else {
                Target::Other
            }
        }
        Type::Paren(inner) => target(&inner.elem),
        Type::Group(inner) => target(&inner.elem),
        _ => Target::Other,
    }
}

/// The operand is visibly a reference or a pointer.
fn is_pointer_like(expr: &Expr) -> bool {
    match expr {
        Expr::Reference(_) => true,
        Expr::Cast(cast) => matches!(&*cast.ty, Type::Ptr(_)),
        Expr::MethodCall(call) => {
            matches!(
                call.method.to_string().as_str(),
                "as_ptr" | "as_mut_ptr" | "cast" | "cast_mut" | "cast_const"
            )
        }
        Expr::Macro(mac) => matches!(
            last_segment(&mac.mac.path).as_str(),
            "addr_of" | "addr_of_mut"
        ),
        Expr::Call(call) => matches!(
            &*call.func,
            Expr::Path(path) if matches!(last_segment(&path.path).as_str(), "from_ref" | "from_mut" | "null" | "null_mut")
        ),
        Expr::Paren(inner) => is_pointer_like(&inner.expr),
        Expr::Group(inner) => is_pointer_like(&inner.expr),
        _ => false,
    }
}

/// `Enum::Variant`: a discriminant read.
fn is_variant_path(expr: &Expr) -> bool {
    let Expr::Path(path) = expr else { return false };
    path.path.segments.len() >= 2 && is_upper_camel(&last_segment(&path.path))
}

impl CastVisitor<'_, '_> {
    /// What a cast operand visibly is: a pointer or reference, an integer, or unknown.
    fn operand_kind(&self, expr: &Expr) -> Option<ValueKind> {
        if is_pointer_like(expr) {
            return Some(ValueKind::Pointer);
        }
        match expr {
            Expr::Path(path) => {
                let name = path.path.get_ident()?.to_string();
                self.kinds
                    .last()
                    .and_then(|kinds| kinds.get(&name))
                    .copied()
            }
            Expr::Paren(inner) => self.operand_kind(&inner.expr),
            Expr::Lit(_) => Some(ValueKind::Integer),
            _ => None,
        }
    }

    fn pointer_cast(&mut self, span: proc_macro2::Span, message: String) {
        if !self.in_mmio_layer {
            self.cx.report(Rule::PointerCast, span, message);
        }
    }
}

impl<'ast> Visit<'ast> for CastVisitor<'_, '_> {
    fn visit_item_fn(&mut self, function: &'ast syn::ItemFn) {
        self.kinds
            .push(collect_kinds(&function.sig.inputs, &function.block));
        visit::visit_item_fn(self, function);
        self.kinds.pop();
    }

    fn visit_impl_item_fn(&mut self, function: &'ast syn::ImplItemFn) {
        self.kinds
            .push(collect_kinds(&function.sig.inputs, &function.block));
        visit::visit_impl_item_fn(self, function);
        self.kinds.pop();
    }

    fn visit_expr_cast(&mut self, cast: &'ast syn::ExprCast) {
        let span = cast.as_token.span;
        match target(&cast.ty) {
            Target::Pointer => {
                if self.operand_kind(&cast.expr) != Some(ValueKind::Pointer) {
                    self.pointer_cast(
                        span,
                        "integer-to-pointer cast outside the MMIO layer".to_owned(),
                    );
                }
            }
            Target::Integer(name) => {
                if self.operand_kind(&cast.expr) == Some(ValueKind::Pointer) {
                    self.pointer_cast(
                        span,
                        format!("pointer-to-integer cast (`as {name}`) outside the MMIO layer"),
                    );
                } else if !is_variant_path(&cast.expr) {
                    let detail = if matches!(&*cast.expr, Expr::Lit(_)) {
                        format!("`as {name}` on a literal: write the literal with its type suffix")
                    } else {
                        format!("numeric `as {name}` can truncate, wrap or change sign silently")
                    };
                    self.cx.report(Rule::NumericCast, span, detail);
                }
            }
            Target::Inferred => {
                self.cx.report(
                    Rule::NumericCast,
                    span,
                    "`as _` hides the target type of a conversion",
                );
            }
            Target::Other => {}
        }
        visit::visit_expr_cast(self, cast);
    }

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if let Expr::Path(path) = &*call.func {
            let name = last_segment(&path.path);
            if PROVENANCE_FUNCTIONS.contains(&name.as_str()) {
                let span = last_segment_span(&path.path);
                self.pointer_cast(
                    span,
                    format!("`{name}` converts between pointer and integer outside the MMIO layer"),
                );
            }
        }
        visit::visit_expr_call(self, call);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        let name = call.method.to_string();
        if name == "expose_provenance" {
            self.pointer_cast(
                call.method.span(),
                "`expose_provenance` outside the MMIO layer".to_owned(),
            );
        }
        visit::visit_expr_method_call(self, call);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        visit_macro_expressions(self, mac);
        visit::visit_macro(self, mac);
    }
}
