//! Small questions about syn trees that several passes ask.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Attribute, Expr, Meta, Path, Token};

use crate::finding::Position;

/// Start and end position of a span.
pub fn positions(span: Span) -> (Position, Position) {
    (
        Position::from_line_column(span.start()),
        Position::from_line_column(span.end()),
    )
}

/// Start and end position of a syntax node.
pub fn node_positions<T: Spanned>(node: &T) -> (Position, Position) {
    positions(node.span())
}

/// The last segment of a path as a string.
pub fn last_segment(path: &Path) -> String {
    path.segments
        .last()
        .map(|segment| segment.ident.to_string())
        .unwrap_or_default()
}

/// The inline-assembly macros: MLR-14 counts them as unsafe operations and the layer rule
/// keeps them in the arch crates.
pub const ASM_MACROS: &[&str] = &["asm", "global_asm", "naked_asm", "llvm_asm"];

/// Where to point at a path: its last segment (`bail` in `anyhow::bail!`), or the call site
/// for an empty path.
pub fn last_segment_span(path: &Path) -> Span {
    path.segments
        .last()
        .map_or_else(Span::call_site, |segment| segment.ident.span())
}

/// The segments of a path as strings.
pub fn segments(path: &Path) -> Vec<String> {
    path.segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect()
}

/// `UpperCamelCase` names: types, traits, enum variants.
pub fn is_upper_camel(name: &str) -> bool {
    name.chars().next().is_some_and(char::is_uppercase) && name.chars().any(char::is_lowercase)
}

/// `SCREAMING_SNAKE_CASE` (or single-letter upper) names: constants and statics.
pub fn is_screaming(name: &str) -> bool {
    name.chars().next().is_some_and(char::is_uppercase) && !name.chars().any(char::is_lowercase)
}

/// Whether the attributes mark test-only code: `#[test]`, `#[cfg(test)]`, or a `cfg` whose
/// predicate requires `test` (`all(test, ..)`).
pub fn is_test_only(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| {
        let path = attr.path();
        if path.is_ident("test") {
            return true;
        }
        if !path.is_ident("cfg") {
            return false;
        }
        let Meta::List(list) = &attr.meta else {
            return false;
        };
        cfg_requires_test(&list.tokens)
    })
}

fn cfg_requires_test(tokens: &TokenStream) -> bool {
    let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
    match trees.as_slice() {
        [TokenTree::Ident(ident)] => ident == "test",
        [TokenTree::Ident(ident), TokenTree::Group(group)] if ident == "all" => group
            .stream()
            .into_iter()
            .collect::<Vec<_>>()
            .split(|tree| matches!(tree, TokenTree::Punct(p) if p.as_char() == ','))
            .any(|part| cfg_requires_test(&part.iter().cloned().collect())),
        _ => false,
    }
}

/// The concatenated text of the `///` / `#[doc = ".."]` attributes.
pub fn doc_text(attrs: &[Attribute]) -> String {
    let mut text = String::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let Meta::NameValue(name_value) = &attr.meta {
            if let Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(literal),
                ..
            }) = &name_value.value
            {
                text.push_str(&literal.value());
                text.push('\n');
            } else {
                // `#[doc = include_str!(..)]`: documented, content unknown.
                text.push_str("<included>\n");
            }
        }
    }
    text
}

/// Whether the attributes carry any documentation.
pub fn has_doc(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| attr.path().is_ident("doc"))
}

/// The arguments of a function-like macro call when they parse as comma-separated
/// expressions (`assert!`, `write!`, `format_args!`, user macros of that shape). Macros whose
/// input is not expressions (`asm!` operands, `matches!` patterns of some shapes) give
/// `None`: their insides are not analysed, an approximation the rules document.
pub fn macro_expressions(mac: &syn::Macro) -> Option<Vec<Expr>> {
    if mac.path.is_ident("macro_rules") {
        return None;
    }
    let parsed = mac
        .parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated)
        .ok()?;
    Some(parsed.into_iter().collect())
}

/// Walks the arguments of a function-like macro call with `visitor` when
/// [`macro_expressions`] can read them: syn's own walk stops at a macro's tokens, and every
/// pass wants `assert!(x.unwrap())` or `write!(f, "{}", a + b)` looked into.
pub fn visit_macro_expressions<V: for<'ast> Visit<'ast>>(visitor: &mut V, mac: &syn::Macro) {
    if let Some(exprs) = macro_expressions(mac) {
        for expr in &exprs {
            visitor.visit_expr(expr);
        }
    }
}

/// Whether a token stream contains the identifier `name` at any depth.
pub fn tokens_contain_ident(tokens: &TokenStream, name: &str) -> Option<Span> {
    for tree in tokens.clone() {
        match tree {
            TokenTree::Ident(ident) if ident == name => return Some(ident.span()),
            TokenTree::Group(group) => {
                if let Some(span) = tokens_contain_ident(&group.stream(), name) {
                    return Some(span);
                }
            }
            TokenTree::Ident(_) | TokenTree::Punct(_) | TokenTree::Literal(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(source: &str) -> Vec<Attribute> {
        let item: syn::ItemFn =
            syn::parse_str(&format!("{source} fn f() {{}}")).unwrap_or_else(|e| panic!("{e}"));
        item.attrs
    }

    #[test]
    fn test_only_code_is_recognised() {
        assert!(is_test_only(&attrs("#[test]")));
        assert!(is_test_only(&attrs("#[cfg(test)]")));
        assert!(is_test_only(&attrs("#[cfg(all(test, feature = \"x\"))]")));
        assert!(!is_test_only(&attrs("#[cfg(not(test))]")));
        assert!(!is_test_only(&attrs("#[inline]")));
    }

    #[test]
    fn naming_conventions_are_told_apart() {
        assert!(is_upper_camel("TrapFrame"));
        assert!(!is_upper_camel("FRAME_SIZE"));
        assert!(is_screaming("FRAME_SIZE"));
        assert!(is_screaming("N"));
        assert!(!is_screaming("frame"));
    }
}
