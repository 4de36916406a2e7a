//! The places a tag can bind to, and the `unsafe` sites, read from a file's syntax tree.
//!
//! Every item at every depth (functions, types, impls and their members, modules, macro
//! invocations, extern blocks) and every `unsafe` block becomes an [`Anchor`] with its
//! span: where its attributes start, where the item proper starts, where it ends. Binding
//! (see `bind`) compares comment positions with these spans.

use proc_macro2::{TokenStream, TokenTree};
use syn::spanned::Spanned;
use syn::visit::{self, Visit};

use crate::source::lexer::Position;

/// What an anchor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnchorKind {
    /// The file's own module (synthetic: spans the whole file).
    File,
    /// An inline `mod x { … }` or a `mod x;` declaration.
    Module,
    /// A free function.
    Function,
    /// A method or associated function in an impl or trait.
    Method,
    /// A struct.
    Struct,
    /// An enum.
    Enum,
    /// A union.
    Union,
    /// A trait.
    Trait,
    /// An impl block.
    Impl,
    /// A constant or associated constant.
    Const,
    /// A static.
    Static,
    /// A type alias or associated type.
    Type,
    /// A macro invocation or `macro_rules!` definition.
    Macro,
    /// An `extern` block.
    ExternBlock,
    /// An `unsafe { … }` block.
    UnsafeBlock,
}

impl AnchorKind {
    /// A human name.
    pub const fn title(self) -> &'static str {
        match self {
            AnchorKind::File => "module (file)",
            AnchorKind::Module => "module",
            AnchorKind::Function => "fn",
            AnchorKind::Method => "method",
            AnchorKind::Struct => "struct",
            AnchorKind::Enum => "enum",
            AnchorKind::Union => "union",
            AnchorKind::Trait => "trait",
            AnchorKind::Impl => "impl",
            AnchorKind::Const => "const",
            AnchorKind::Static => "static",
            AnchorKind::Type => "type",
            AnchorKind::Macro => "macro",
            AnchorKind::ExternBlock => "extern block",
            AnchorKind::UnsafeBlock => "unsafe block",
        }
    }
}

/// Something a tag can bind to.
#[derive(Clone, Debug)]
pub struct Anchor {
    /// What it is.
    pub kind: AnchorKind,
    /// Its name, qualified by its impl or trait (`Stage2Builder::map`); blocks are named
    /// after their function.
    pub name: String,
    /// Where its first attribute (or doc comment) starts, or the item if it has none.
    pub full_start: Position,
    /// Where its outer attributes end (equal to `full_start` without attributes); the item
    /// proper starts at the next code after this.
    pub attributes_end: Position,
    /// Just after its last character.
    pub end: Position,
    /// Inline modules enclosing it inside this file (a module anchor includes its own name).
    pub module: Vec<String>,
    /// Whether it is a function with a `#[test]` (or `#[…::test]`) attribute.
    pub is_test: bool,
    /// Whether it also has `#[ignore]`.
    pub ignored: bool,
    /// For a macro invocation: the identifiers in its tokens with their positions, so a tag
    /// inside the invocation can name the item the macro generates.
    pub macro_identifiers: Vec<(Position, String)>,
}

/// Which `unsafe` construct.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnsafeKind {
    /// `unsafe { … }`.
    Block,
    /// `unsafe fn`.
    Function,
    /// `unsafe impl`.
    Impl,
    /// `unsafe trait`.
    Trait,
    /// `unsafe extern` block.
    ExternBlock,
}

/// An `unsafe` keyword in the source, before its justification is looked up.
#[derive(Clone, Debug)]
pub struct UnsafeKeyword {
    /// What it introduces.
    pub kind: UnsafeKind,
    /// Where the keyword is.
    pub position: Position,
    /// The enclosing function, impl or item, for the inventory.
    pub context: String,
    /// For functions and traits: whether the doc comment has a `# Safety` section.
    pub has_safety_doc: bool,
    /// For an `unsafe fn` in a trait impl: the trait, whose documented contract it keeps
    /// (such methods need no `# Safety` section of their own, as with Clippy's
    /// `missing_safety_doc`).
    pub trait_contract: Option<String>,
}

/// What one file holds.
#[derive(Debug, Default)]
pub struct FileItems {
    /// Anchors in file order (by `full_start`); index 0 is the file itself.
    pub anchors: Vec<Anchor>,
    /// `unsafe` keywords in file order.
    pub unsafe_keywords: Vec<UnsafeKeyword>,
    /// `mod x;` declarations with the inline modules they sit in and their `#[path]`.
    pub module_declarations: Vec<ModuleDeclaration>,
}

/// A `mod name;` without a body: its code is in another file.
#[derive(Clone, Debug)]
pub struct ModuleDeclaration {
    /// The module's name.
    pub name: String,
    /// Inline modules around the declaration inside this file.
    pub inline_parents: Vec<String>,
    /// The `#[path = "…"]` attribute, if any.
    pub path: Option<String>,
}

/// Collects anchors and unsafe keywords.
struct Collector {
    /// The result.
    items: FileItems,
    /// Inline module names around the visit position.
    module: Vec<String>,
    /// The impl or trait the visit is in (for method names).
    owner: Vec<String>,
    /// The function the visit is in (for block names).
    function: Vec<String>,
    /// For each impl around the visit position: the trait it implements, if any.
    implemented_trait: Vec<Option<String>>,
}

/// Reads the anchors and unsafe keywords of a parsed file.
pub fn collect(file: &syn::File, line_count: usize) -> FileItems {
    let mut collector = Collector {
        items: FileItems::default(),
        module: Vec::new(),
        owner: Vec::new(),
        function: Vec::new(),
        implemented_trait: Vec::new(),
    };
    collector.items.anchors.push(Anchor {
        kind: AnchorKind::File,
        name: String::new(),
        full_start: Position::new(1, 0),
        attributes_end: Position::new(1, 0),
        end: Position::new(line_count + 1, 0),
        module: Vec::new(),
        is_test: false,
        ignored: false,
        macro_identifiers: Vec::new(),
    });
    collector.visit_file(file);
    collector.items.anchors.sort_by_key(|anchor| (anchor.full_start, std::cmp::Reverse(anchor.end)));
    collector.items
}

impl Collector {
    /// Records an anchor for a node with `attrs`.
    fn anchor(&mut self, kind: AnchorKind, name: String, node: &dyn Spanned, attrs: &[syn::Attribute]) {
        let span = node.span();
        let full_start = Position::from_line_column(span.start());
        let attributes_end = attrs
            .iter()
            .filter(|attr| matches!(attr.style, syn::AttrStyle::Outer))
            .map(|attr| Position::from_line_column(attr.span().end()))
            .max()
            .unwrap_or(full_start);
        let is_test =
            attrs.iter().any(|attr| attr.path().segments.last().is_some_and(|segment| segment.ident == "test"));
        let ignored = attrs.iter().any(|attr| attr.path().is_ident("ignore"));
        let mut module = self.module.clone();
        if kind == AnchorKind::Module {
            module.push(name.clone());
        }
        self.items.anchors.push(Anchor {
            kind,
            name,
            full_start: full_start.min(attributes_end),
            attributes_end,
            end: Position::from_line_column(span.end()),
            module,
            is_test,
            ignored,
            macro_identifiers: Vec::new(),
        });
    }

    /// `name` qualified by the impl or trait around it.
    fn qualified(&self, name: &str) -> String {
        match self.owner.last() {
            Some(owner) => format!("{owner}::{name}"),
            None => name.to_owned(),
        }
    }

    /// The context string for an unsafe site.
    fn context(&self) -> String {
        self.function.last().or(self.owner.last()).cloned().unwrap_or_else(|| "(module level)".to_owned())
    }

    /// Records an unsafe keyword.
    fn unsafe_keyword(&mut self, kind: UnsafeKind, token: &syn::token::Unsafe, context: String, has_safety_doc: bool) {
        let trait_contract =
            if kind == UnsafeKind::Function { self.implemented_trait.last().cloned().flatten() } else { None };
        self.items.unsafe_keywords.push(UnsafeKeyword {
            kind,
            position: Position::from_line_column(token.span.start()),
            context,
            has_safety_doc,
            trait_contract,
        });
    }
}

/// Whether doc attributes contain a `# Safety` heading.
fn has_safety_section(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().filter(|attr| attr.path().is_ident("doc")).any(|attr| {
        let syn::Meta::NameValue(meta) = &attr.meta else { return false };
        let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(text), .. }) = &meta.value else { return false };
        text.value().trim_start().starts_with("# Safety")
    })
}

/// A short name for a type (the last path segment, or the type's tokens).
fn type_name(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(path) => {
            path.path.segments.last().map_or_else(String::new, |segment| segment.ident.to_string())
        }
        other => quote::ToTokens::to_token_stream(other).to_string(),
    }
}

/// The identifiers inside a token stream with their positions, depth first.
fn identifiers(tokens: &TokenStream, into: &mut Vec<(Position, String)>) {
    for token in tokens.clone() {
        match token {
            TokenTree::Ident(ident) => into.push((Position::from_line_column(ident.span().start()), ident.to_string())),
            TokenTree::Group(group) => identifiers(&group.stream(), into),
            TokenTree::Punct(_) | TokenTree::Literal(_) => {}
        }
    }
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        let name = item.sig.ident.to_string();
        self.anchor(AnchorKind::Function, name.clone(), item, &item.attrs);
        if let Some(token) = &item.sig.unsafety {
            self.unsafe_keyword(UnsafeKind::Function, token, name.clone(), has_safety_section(&item.attrs));
        }
        self.function.push(name);
        visit::visit_item_fn(self, item);
        self.function.pop();
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        let name = self.qualified(&item.sig.ident.to_string());
        self.anchor(AnchorKind::Method, name.clone(), item, &item.attrs);
        if let Some(token) = &item.sig.unsafety {
            self.unsafe_keyword(UnsafeKind::Function, token, name.clone(), has_safety_section(&item.attrs));
        }
        self.function.push(name);
        visit::visit_impl_item_fn(self, item);
        self.function.pop();
    }

    fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
        let name = self.qualified(&item.sig.ident.to_string());
        self.anchor(AnchorKind::Method, name.clone(), item, &item.attrs);
        if let Some(token) = &item.sig.unsafety {
            self.unsafe_keyword(UnsafeKind::Function, token, name.clone(), has_safety_section(&item.attrs));
        }
        self.function.push(name);
        visit::visit_trait_item_fn(self, item);
        self.function.pop();
    }

    fn visit_foreign_item_fn(&mut self, item: &'ast syn::ForeignItemFn) {
        self.anchor(AnchorKind::Function, item.sig.ident.to_string(), item, &item.attrs);
        visit::visit_foreign_item_fn(self, item);
    }

    fn visit_item_struct(&mut self, item: &'ast syn::ItemStruct) {
        self.anchor(AnchorKind::Struct, item.ident.to_string(), item, &item.attrs);
        visit::visit_item_struct(self, item);
    }

    fn visit_item_enum(&mut self, item: &'ast syn::ItemEnum) {
        self.anchor(AnchorKind::Enum, item.ident.to_string(), item, &item.attrs);
        visit::visit_item_enum(self, item);
    }

    fn visit_item_union(&mut self, item: &'ast syn::ItemUnion) {
        self.anchor(AnchorKind::Union, item.ident.to_string(), item, &item.attrs);
        visit::visit_item_union(self, item);
    }

    fn visit_item_trait(&mut self, item: &'ast syn::ItemTrait) {
        let name = item.ident.to_string();
        self.anchor(AnchorKind::Trait, name.clone(), item, &item.attrs);
        if let Some(token) = &item.unsafety {
            self.unsafe_keyword(UnsafeKind::Trait, token, name.clone(), has_safety_section(&item.attrs));
        }
        self.owner.push(name);
        self.implemented_trait.push(None);
        visit::visit_item_trait(self, item);
        self.implemented_trait.pop();
        self.owner.pop();
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        let self_type = type_name(&item.self_ty);
        let implemented = item
            .trait_
            .as_ref()
            .map(|(_, path, _)| path.segments.last().map_or_else(String::new, |segment| segment.ident.to_string()));
        let name = match &implemented {
            Some(implemented) => format!("impl {implemented} for {self_type}"),
            None => format!("impl {self_type}"),
        };
        self.anchor(AnchorKind::Impl, name.clone(), item, &item.attrs);
        if let Some(token) = &item.unsafety {
            self.unsafe_keyword(UnsafeKind::Impl, token, name, false);
        }
        self.owner.push(self_type);
        self.implemented_trait.push(implemented);
        visit::visit_item_impl(self, item);
        self.implemented_trait.pop();
        self.owner.pop();
    }

    fn visit_impl_item_const(&mut self, item: &'ast syn::ImplItemConst) {
        self.anchor(AnchorKind::Const, self.qualified(&item.ident.to_string()), item, &item.attrs);
        visit::visit_impl_item_const(self, item);
    }

    fn visit_impl_item_type(&mut self, item: &'ast syn::ImplItemType) {
        self.anchor(AnchorKind::Type, self.qualified(&item.ident.to_string()), item, &item.attrs);
        visit::visit_impl_item_type(self, item);
    }

    fn visit_trait_item_const(&mut self, item: &'ast syn::TraitItemConst) {
        self.anchor(AnchorKind::Const, self.qualified(&item.ident.to_string()), item, &item.attrs);
        visit::visit_trait_item_const(self, item);
    }

    fn visit_trait_item_type(&mut self, item: &'ast syn::TraitItemType) {
        self.anchor(AnchorKind::Type, self.qualified(&item.ident.to_string()), item, &item.attrs);
        visit::visit_trait_item_type(self, item);
    }

    fn visit_item_const(&mut self, item: &'ast syn::ItemConst) {
        self.anchor(AnchorKind::Const, item.ident.to_string(), item, &item.attrs);
        visit::visit_item_const(self, item);
    }

    fn visit_item_static(&mut self, item: &'ast syn::ItemStatic) {
        self.anchor(AnchorKind::Static, item.ident.to_string(), item, &item.attrs);
        visit::visit_item_static(self, item);
    }

    fn visit_item_type(&mut self, item: &'ast syn::ItemType) {
        self.anchor(AnchorKind::Type, item.ident.to_string(), item, &item.attrs);
        visit::visit_item_type(self, item);
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        let name = item.ident.to_string();
        self.anchor(AnchorKind::Module, name.clone(), item, &item.attrs);
        if item.content.is_none() {
            let path = item.attrs.iter().find(|attr| attr.path().is_ident("path")).and_then(|attr| {
                let syn::Meta::NameValue(meta) = &attr.meta else { return None };
                let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(text), .. }) = &meta.value else { return None };
                Some(text.value())
            });
            self.items.module_declarations.push(ModuleDeclaration {
                name: name.clone(),
                inline_parents: self.module.clone(),
                path,
            });
        }
        self.module.push(name);
        visit::visit_item_mod(self, item);
        self.module.pop();
    }

    fn visit_item_macro(&mut self, item: &'ast syn::ItemMacro) {
        let name = match &item.ident {
            Some(ident) => format!("macro_rules! {ident}"),
            None => format!(
                "{}!",
                item.mac.path.segments.last().map_or_else(String::new, |segment| segment.ident.to_string())
            ),
        };
        self.anchor(AnchorKind::Macro, name, item, &item.attrs);
        if let Some(anchor) = self.items.anchors.last_mut() {
            identifiers(&item.mac.tokens, &mut anchor.macro_identifiers);
        }
        visit::visit_item_macro(self, item);
    }

    fn visit_item_foreign_mod(&mut self, item: &'ast syn::ItemForeignMod) {
        let name = format!(
            "extern {}",
            item.abi.name.as_ref().map_or_else(|| "\"C\"".to_owned(), |name| format!("\"{}\"", name.value()))
        );
        self.anchor(AnchorKind::ExternBlock, name.clone(), item, &item.attrs);
        if let Some(token) = &item.unsafety {
            self.unsafe_keyword(UnsafeKind::ExternBlock, token, name, false);
        }
        visit::visit_item_foreign_mod(self, item);
    }

    fn visit_expr_unsafe(&mut self, expression: &'ast syn::ExprUnsafe) {
        let context = self.context();
        self.anchor(AnchorKind::UnsafeBlock, format!("unsafe block in {context}"), expression, &expression.attrs);
        self.unsafe_keyword(UnsafeKind::Block, &expression.unsafe_token, context, false);
        visit::visit_expr_unsafe(self, expression);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(source: &str) -> FileItems {
        collect(&syn::parse_file(source).unwrap(), source.lines().count())
    }

    #[test]
    fn items_at_every_depth_become_anchors_with_attribute_spans() {
        let source = "/// Docs.\n#[derive(Debug)]\nstruct A;\nimpl A {\n    #[test]\n    #[ignore]\n    fn b() { let _ = unsafe { 1 }; }\n}\nmod m { fn c() {} }\n";
        let found = items(source);
        let summary: Vec<(AnchorKind, &str, usize)> =
            found.anchors.iter().map(|anchor| (anchor.kind, anchor.name.as_str(), anchor.full_start.line)).collect();
        assert_eq!(
            summary,
            [
                (AnchorKind::File, "", 1),
                (AnchorKind::Struct, "A", 1),
                (AnchorKind::Impl, "impl A", 4),
                (AnchorKind::Method, "A::b", 5),
                (AnchorKind::UnsafeBlock, "unsafe block in A::b", 7),
                (AnchorKind::Module, "m", 9),
                (AnchorKind::Function, "c", 9),
            ]
        );
        let structure = &found.anchors[1];
        assert_eq!(structure.attributes_end, Position::new(2, 16));
        let method = &found.anchors[3];
        assert!(method.is_test && method.ignored);
        assert_eq!(found.anchors[6].module, ["m"]);
    }

    #[test]
    fn unsafe_keywords_are_found_with_their_safety_docs() {
        let source = "/// # Safety\n/// Caller checks.\nunsafe fn f() {}\nunsafe impl Send for X {}\nunsafe extern \"C\" { fn g(); }\nfn h() { unsafe { f() } }\nunsafe trait T {}\nimpl Logger for L { unsafe fn flush() {} }\n";
        let found = items(source);
        let kinds: Vec<(UnsafeKind, &str, bool)> =
            found.unsafe_keywords.iter().map(|site| (site.kind, site.context.as_str(), site.has_safety_doc)).collect();
        assert_eq!(
            kinds,
            [
                (UnsafeKind::Function, "f", true),
                (UnsafeKind::Impl, "impl Send for X", false),
                (UnsafeKind::ExternBlock, "extern \"C\"", false),
                (UnsafeKind::Block, "h", false),
                (UnsafeKind::Trait, "T", false),
                (UnsafeKind::Function, "L::flush", false),
            ]
        );
        assert_eq!(found.unsafe_keywords[5].trait_contract.as_deref(), Some("Logger"));
        assert_eq!(found.unsafe_keywords[0].trait_contract, None);
    }

    #[test]
    fn module_declarations_keep_path_and_inline_parents() {
        let found = items("mod a;\nmod outer {\n    #[path = \"x/y.rs\"]\n    mod b;\n}\n");
        let declarations: Vec<(&str, Vec<String>, Option<String>)> = found
            .module_declarations
            .iter()
            .map(|declaration| {
                (declaration.name.as_str(), declaration.inline_parents.clone(), declaration.path.clone())
            })
            .collect();
        assert_eq!(declarations, [("a", vec![], None), ("b", vec!["outer".to_owned()], Some("x/y.rs".to_owned()))]);
    }

    #[test]
    fn macro_invocations_keep_their_identifiers() {
        let found = items("tests! {\n    first => \"a\",\n    second => \"b\",\n}\n");
        let invocation = &found.anchors[1];
        assert_eq!(invocation.name, "tests!");
        let names: Vec<&str> = invocation.macro_identifiers.iter().map(|(_, name)| name.as_str()).collect();
        assert_eq!(names, ["first", "second"]);
        assert_eq!(invocation.macro_identifiers[1].0, Position::new(3, 4));
    }
}
