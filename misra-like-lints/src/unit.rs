//! One parsed source file and the location facts every pass shares: which lines are test
//! code, which spans are evaluated at compile time, which lines are attributes, and the lint
//! attributes (`#[expect]`, `#[allow]`) with the code they cover.

use proc_macro2::Span;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::{Attribute, Expr, Meta, Token};

use crate::config::Profile;
use crate::finding::Position;
use crate::source::SourceText;
use crate::syntax::{is_test_only, node_positions, positions};
use crate::workspace::SourceFile;

/// `allow`, `expect`, `warn`, `deny` or `forbid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LintLevel {
    /// `#[allow]`
    Allow,
    /// `#[expect]`
    Expect,
    /// `#[warn]`
    Warn,
    /// `#[deny]`
    Deny,
    /// `#[forbid]`
    Forbid,
}

/// A lint-level attribute and the code it governs.
#[derive(Clone, Debug)]
pub struct LintAttribute {
    /// The level it sets.
    pub level: LintLevel,
    /// The lint names as written (`clippy::unwrap_used`, `unsafe_code`).
    pub lints: Vec<String>,
    /// The `reason = ".."` text.
    pub reason: Option<String>,
    /// Where the attribute is.
    pub position: Position,
    /// The first and last position of the item/statement/expression it is attached to.
    pub covers: (Position, Position),
}

/// A source file, parsed, with its shared location facts.
pub struct FileUnit {
    /// Where the file is and what profile it gets.
    pub file: SourceFile,
    /// Text and comments.
    pub source: SourceText,
    /// The syntax tree, or the parse error.
    pub ast: Result<syn::File, syn::Error>,
    /// Line ranges (inclusive) of test-only code.
    pub test_ranges: Vec<(usize, usize)>,
    /// Spans evaluated at compile time.
    pub const_ranges: Vec<(Position, Position)>,
    /// Lint attributes.
    pub lint_attributes: Vec<LintAttribute>,
}

impl FileUnit {
    /// Parses `text` as the file `file`.
    pub fn new(file: SourceFile, text: &str) -> FileUnit {
        let mut source = SourceText::new(text);
        let ast = syn::parse_file(text);
        let mut collector = Collector::default();
        if let Ok(tree) = &ast {
            collector.visit_file(tree);
        }
        source.attribute_lines = collector.attribute_lines(&source);
        FileUnit {
            file,
            source,
            ast,
            test_ranges: collector.test_ranges,
            const_ranges: collector.const_ranges,
            lint_attributes: collector.lint_attributes,
        }
    }

    /// The profile of the code at `line`: test-only code is host code.
    pub fn profile_at(&self, line: usize) -> Profile {
        if self.in_test(line) {
            Profile::Host
        } else {
            self.file.profile
        }
    }

    /// Whether `line` is inside test-only code.
    pub fn in_test(&self, line: usize) -> bool {
        self.test_ranges
            .iter()
            .any(|(first, last)| (*first..=*last).contains(&line))
    }

    /// Whether `position` is inside code evaluated at compile time.
    pub fn in_const(&self, position: Position) -> bool {
        self.const_ranges
            .iter()
            .any(|(start, end)| *start <= position && position <= *end)
    }

    /// The path of the innermost named item around `line`, starting with the file's module
    /// path: `containment::stop` for a line of `fn stop` in `src/containment.rs`,
    /// `pl011::Pl011::enable` for a method (an impl is named by its type), `entry` for a line
    /// of `macro_rules! entry` in the crate root. Outside every item it is the module path.
    pub fn item_path_at(&self, line: usize) -> Vec<String> {
        let mut path = self.file.module.clone();
        if let Ok(ast) = &self.ast {
            enclosing_items(&ast.items, line, &mut path);
        }
        path
    }
}

/// Appends to `path` the names of the nested items of `items` whose lines contain `line`.
fn enclosing_items<'a>(
    items: impl IntoIterator<Item = &'a syn::Item>,
    line: usize,
    path: &mut Vec<String>,
) {
    let contains = |node: &dyn Spanned| {
        let (start, end) = positions(node.span());
        (start.line..=end.line).contains(&line)
    };
    let Some(item) = items.into_iter().find(|item| contains(*item)) else {
        return;
    };
    match item {
        syn::Item::Fn(function) => {
            path.push(function.sig.ident.to_string());
            enclosing_items(block_items(&function.block), line, path);
        }
        syn::Item::Mod(module) => {
            path.push(module.ident.to_string());
            if let Some((_, inner)) = &module.content {
                enclosing_items(inner.iter(), line, path);
            }
        }
        syn::Item::Impl(implementation) => {
            if let syn::Type::Path(self_type) = implementation.self_ty.as_ref() {
                path.push(crate::syntax::last_segment(&self_type.path));
            }
            let method = implementation.items.iter().find_map(|member| match member {
                syn::ImplItem::Fn(method) if contains(method) => Some(method),
                _ => None,
            });
            if let Some(method) = method {
                path.push(method.sig.ident.to_string());
                enclosing_items(block_items(&method.block), line, path);
            }
        }
        syn::Item::Trait(declaration) => {
            path.push(declaration.ident.to_string());
            let method = declaration.items.iter().find_map(|member| match member {
                syn::TraitItem::Fn(method) if contains(method) => Some(method),
                _ => None,
            });
            if let Some(method) = method {
                path.push(method.sig.ident.to_string());
                if let Some(body) = &method.default {
                    enclosing_items(block_items(body), line, path);
                }
            }
        }
        syn::Item::Macro(definition) => {
            if let Some(name) = &definition.ident {
                path.push(name.to_string());
            }
        }
        syn::Item::Struct(declaration) => path.push(declaration.ident.to_string()),
        syn::Item::Enum(declaration) => path.push(declaration.ident.to_string()),
        syn::Item::Union(declaration) => path.push(declaration.ident.to_string()),
        syn::Item::Const(declaration) => path.push(declaration.ident.to_string()),
        syn::Item::Static(declaration) => path.push(declaration.ident.to_string()),
        syn::Item::Type(declaration) => path.push(declaration.ident.to_string()),
        _ => {}
    }
}

/// The items declared directly in a function body.
fn block_items(block: &syn::Block) -> impl Iterator<Item = &syn::Item> {
    block.stmts.iter().filter_map(|statement| match statement {
        syn::Stmt::Item(item) => Some(item),
        _ => None,
    })
}

#[derive(Default)]
struct Collector {
    test_ranges: Vec<(usize, usize)>,
    const_ranges: Vec<(Position, Position)>,
    lint_attributes: Vec<LintAttribute>,
    attributes: Vec<(Position, Position)>,
    file_end: Position,
}

impl Collector {
    fn attached(&mut self, attrs: &[Attribute], covers: (Position, Position)) {
        if is_test_only(attrs) {
            self.test_ranges.push((covers.0.line, covers.1.line));
        }
        for attr in attrs {
            self.lint_attributes.extend(lint_attributes(attr, covers));
        }
    }

    fn constant<T: Spanned>(&mut self, node: &T) {
        self.const_ranges.push(node_positions(node));
    }

    /// Lines whose code is entirely attributes.
    fn attribute_lines(&self, source: &SourceText) -> std::collections::BTreeSet<usize> {
        let mut lines = std::collections::BTreeSet::new();
        for (start, end) in &self.attributes {
            for line in start.line..=end.line {
                let rest_is_blank = line != end.line
                    || source.line_text(line).is_some_and(|text| {
                        let tail: String =
                            text.chars().skip(end.column.saturating_sub(1)).collect();
                        let tail = tail.trim();
                        tail.is_empty() || tail.starts_with("//") || tail.starts_with("#[")
                    });
                let head_is_blank = line != start.line
                    || source.line_text(line).is_some_and(|text| {
                        text.chars()
                            .take(start.column.saturating_sub(1))
                            .all(char::is_whitespace)
                    });
                if rest_is_blank && head_is_blank {
                    lines.insert(line);
                }
            }
        }
        lines
    }
}

/// Parses a lint-level attribute (also inside `cfg_attr`).
fn lint_attributes(attr: &Attribute, covers: (Position, Position)) -> Vec<LintAttribute> {
    let position = node_positions(attr).0;
    let mut found = Vec::new();
    collect_lint_meta(&attr.meta, position, covers, &mut found);
    found
}

fn collect_lint_meta(
    meta: &Meta,
    position: Position,
    covers: (Position, Position),
    found: &mut Vec<LintAttribute>,
) {
    let Meta::List(list) = meta else { return };
    let level = match list.path.get_ident().map(ToString::to_string).as_deref() {
        Some("allow") => LintLevel::Allow,
        Some("expect") => LintLevel::Expect,
        Some("warn") => LintLevel::Warn,
        Some("deny") => LintLevel::Deny,
        Some("forbid") => LintLevel::Forbid,
        Some("cfg_attr") => {
            if let Ok(nested) =
                list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
            {
                for inner in nested.iter().skip(1) {
                    collect_lint_meta(inner, position, covers, found);
                }
            }
            return;
        }
        _ => return,
    };
    let Ok(nested) = list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) else {
        return;
    };
    let mut lints = Vec::new();
    let mut reason = None;
    for item in nested {
        match item {
            Meta::Path(path) => lints.push(
                path.segments
                    .iter()
                    .map(|s| s.ident.to_string())
                    .collect::<Vec<_>>()
                    .join("::"),
            ),
            Meta::NameValue(name_value) if name_value.path.is_ident("reason") => {
                if let Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(text),
                    ..
                }) = &name_value.value
                {
                    reason = Some(text.value());
                }
            }
            Meta::NameValue(_) | Meta::List(_) => {}
        }
    }
    found.push(LintAttribute {
        level,
        lints,
        reason,
        position,
        covers,
    });
}

fn span_of<T: Spanned>(node: &T) -> (Position, Position) {
    node_positions(node)
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_file(&mut self, file: &'ast syn::File) {
        let end = file
            .items
            .last()
            .map_or(Position::new(usize::MAX, usize::MAX), |item| {
                span_of(item).1
            });
        self.file_end = Position::new(end.line.max(1).saturating_add(1_000_000), 0);
        let whole = (Position::new(1, 1), self.file_end);
        self.attached(&file.attrs, whole);
        visit::visit_file(self, file);
    }

    fn visit_attribute(&mut self, attr: &'ast Attribute) {
        self.attributes.push(positions(attr.span()));
    }

    fn visit_item(&mut self, item: &'ast syn::Item) {
        if let Some(attrs) = item_attrs(item) {
            self.attached(attrs, span_of(item));
        }
        match item {
            syn::Item::Const(constant) => self.constant(&constant.expr),
            syn::Item::Static(stat) => self.constant(&stat.expr),
            _ => {}
        }
        visit::visit_item(self, item);
    }

    fn visit_impl_item(&mut self, item: &'ast syn::ImplItem) {
        let attrs = match item {
            syn::ImplItem::Const(constant) => {
                self.constant(&constant.expr);
                &constant.attrs
            }
            syn::ImplItem::Fn(function) => &function.attrs,
            syn::ImplItem::Type(alias) => &alias.attrs,
            syn::ImplItem::Macro(mac) => &mac.attrs,
            _ => return visit::visit_impl_item(self, item),
        };
        self.attached(attrs, span_of(item));
        visit::visit_impl_item(self, item);
    }

    fn visit_trait_item(&mut self, item: &'ast syn::TraitItem) {
        let attrs = match item {
            syn::TraitItem::Const(constant) => {
                if let Some((_, expr)) = &constant.default {
                    self.constant(expr);
                }
                &constant.attrs
            }
            syn::TraitItem::Fn(function) => &function.attrs,
            syn::TraitItem::Type(alias) => &alias.attrs,
            syn::TraitItem::Macro(mac) => &mac.attrs,
            _ => return visit::visit_trait_item(self, item),
        };
        self.attached(attrs, span_of(item));
        visit::visit_trait_item(self, item);
    }

    fn visit_foreign_item(&mut self, item: &'ast syn::ForeignItem) {
        if let syn::ForeignItem::Fn(function) = item {
            self.attached(&function.attrs, span_of(item));
        }
        visit::visit_foreign_item(self, item);
    }

    fn visit_field(&mut self, field: &'ast syn::Field) {
        self.attached(&field.attrs, span_of(field));
        visit::visit_field(self, field);
    }

    fn visit_variant(&mut self, variant: &'ast syn::Variant) {
        self.attached(&variant.attrs, span_of(variant));
        if let Some((_, discriminant)) = &variant.discriminant {
            self.constant(discriminant);
        }
        visit::visit_variant(self, variant);
    }

    fn visit_arm(&mut self, arm: &'ast syn::Arm) {
        self.attached(&arm.attrs, span_of(arm));
        visit::visit_arm(self, arm);
    }

    fn visit_local(&mut self, local: &'ast syn::Local) {
        self.attached(&local.attrs, span_of(local));
        visit::visit_local(self, local);
    }

    fn visit_stmt_macro(&mut self, stmt: &'ast syn::StmtMacro) {
        self.attached(&stmt.attrs, span_of(stmt));
        visit::visit_stmt_macro(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'ast Expr) {
        if let Some(attrs) = expr_attrs(expr) {
            if !attrs.is_empty() {
                self.attached(attrs, span_of(expr));
            }
        }
        match expr {
            Expr::Const(block) => self.constant(block),
            Expr::Repeat(repeat) => self.constant(&repeat.len),
            _ => {}
        }
        visit::visit_expr(self, expr);
    }

    fn visit_type_array(&mut self, array: &'ast syn::TypeArray) {
        self.constant(&array.len);
        visit::visit_type_array(self, array);
    }

    fn visit_generic_argument(&mut self, argument: &'ast syn::GenericArgument) {
        if let syn::GenericArgument::Const(expr) = argument {
            self.constant(expr);
        }
        visit::visit_generic_argument(self, argument);
    }
}

/// The outer attributes of an item.
pub fn item_attrs(item: &syn::Item) -> Option<&Vec<Attribute>> {
    Some(match item {
        syn::Item::Const(x) => &x.attrs,
        syn::Item::Enum(x) => &x.attrs,
        syn::Item::ExternCrate(x) => &x.attrs,
        syn::Item::Fn(x) => &x.attrs,
        syn::Item::ForeignMod(x) => &x.attrs,
        syn::Item::Impl(x) => &x.attrs,
        syn::Item::Macro(x) => &x.attrs,
        // syn keeps an inline module's inner attributes here too.
        syn::Item::Mod(x) => &x.attrs,
        syn::Item::Static(x) => &x.attrs,
        syn::Item::Struct(x) => &x.attrs,
        syn::Item::Trait(x) => &x.attrs,
        syn::Item::TraitAlias(x) => &x.attrs,
        syn::Item::Type(x) => &x.attrs,
        syn::Item::Union(x) => &x.attrs,
        syn::Item::Use(x) => &x.attrs,
        _ => return None,
    })
}

/// The attributes of an expression (statement attributes land here).
pub fn expr_attrs(expr: &Expr) -> Option<&Vec<Attribute>> {
    Some(match expr {
        Expr::Array(x) => &x.attrs,
        Expr::Assign(x) => &x.attrs,
        Expr::Async(x) => &x.attrs,
        Expr::Await(x) => &x.attrs,
        Expr::Binary(x) => &x.attrs,
        Expr::Block(x) => &x.attrs,
        Expr::Break(x) => &x.attrs,
        Expr::Call(x) => &x.attrs,
        Expr::Cast(x) => &x.attrs,
        Expr::Closure(x) => &x.attrs,
        Expr::Const(x) => &x.attrs,
        Expr::Continue(x) => &x.attrs,
        Expr::Field(x) => &x.attrs,
        Expr::ForLoop(x) => &x.attrs,
        Expr::Group(x) => &x.attrs,
        Expr::If(x) => &x.attrs,
        Expr::Index(x) => &x.attrs,
        Expr::Let(x) => &x.attrs,
        Expr::Lit(x) => &x.attrs,
        Expr::Loop(x) => &x.attrs,
        Expr::Macro(x) => &x.attrs,
        Expr::Match(x) => &x.attrs,
        Expr::MethodCall(x) => &x.attrs,
        Expr::Paren(x) => &x.attrs,
        Expr::Path(x) => &x.attrs,
        Expr::Range(x) => &x.attrs,
        Expr::Reference(x) => &x.attrs,
        Expr::Repeat(x) => &x.attrs,
        Expr::Return(x) => &x.attrs,
        Expr::Struct(x) => &x.attrs,
        Expr::Try(x) => &x.attrs,
        Expr::Tuple(x) => &x.attrs,
        Expr::Unary(x) => &x.attrs,
        Expr::Unsafe(x) => &x.attrs,
        Expr::While(x) => &x.attrs,
        _ => return None,
    })
}

/// Positions of a span (re-exported for passes that hold a raw span).
pub fn span_positions(span: Span) -> (Position, Position) {
    positions(span)
}
